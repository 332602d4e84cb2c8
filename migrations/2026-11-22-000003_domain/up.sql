-- The domain: networks and their members, development assignments with their status history and
-- tertial progress reports, and the feedback entries on the plan's goals.
--
-- Every resource may carry an external reference (externalSystem + externalId, unique together)
-- so that other systems can push by their own ids. Free text is indexed for Swedish full-text
-- search through a generated tsvector column.

CREATE TABLE networks (
    id               uuid PRIMARY KEY,
    name             text COLLATE swedish NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    kind             text NOT NULL CHECK (kind IN ('political', 'management', 'staff', 'subject_area', 'presidium')),
    area_id          uuid REFERENCES areas (id),
    description      text NOT NULL DEFAULT '' CHECK (length(description) <= 4000),
    municipality_ids text[] NOT NULL DEFAULT '{}',
    coordinator      text CHECK (length(coordinator) <= 200),
    status           text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'archived')),
    external_system  text CHECK (length(external_system) BETWEEN 1 AND 100),
    external_id      text CHECK (length(external_id) BETWEEN 1 AND 200),
    search           tsvector GENERATED ALWAYS AS (
                         to_tsvector('swedish', name || ' ' || description || ' ' || coalesce(coordinator, ''))) STORED,
    version          bigint NOT NULL DEFAULT 1,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (external_system, external_id),
    CHECK ((external_system IS NULL) = (external_id IS NULL))
);
CREATE INDEX networks_search ON networks USING gin (search);
CREATE INDEX networks_municipalities ON networks USING gin (municipality_ids);
CREATE INDEX networks_area ON networks (area_id);
CREATE TRIGGER networks_touch BEFORE UPDATE ON networks FOR EACH ROW EXECUTE FUNCTION samverkan_touch();

-- Personal data (GDPR): deleted for good on request, never copied into the audit log.
CREATE TABLE network_members (
    id              uuid PRIMARY KEY,
    network_id      uuid NOT NULL REFERENCES networks (id) ON DELETE CASCADE,
    name            text COLLATE swedish NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    email           text CHECK (length(email) <= 254),
    phone           text CHECK (length(phone) <= 50),
    title           text CHECK (length(title) <= 200),
    municipality_id text REFERENCES municipalities (id),
    external_system text CHECK (length(external_system) BETWEEN 1 AND 100),
    external_id     text CHECK (length(external_id) BETWEEN 1 AND 200),
    version         bigint NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (external_system, external_id),
    CHECK ((external_system IS NULL) = (external_id IS NULL))
);
CREATE INDEX network_members_network ON network_members (network_id);
CREATE INDEX network_members_email ON network_members (lower(email));
CREATE TRIGGER network_members_touch BEFORE UPDATE ON network_members FOR EACH ROW EXECUTE FUNCTION samverkan_touch();

CREATE TABLE assignments (
    id               uuid PRIMARY KEY,
    title            text COLLATE swedish NOT NULL CHECK (length(btrim(title)) BETWEEN 1 AND 300),
    description      text NOT NULL DEFAULT '' CHECK (length(description) <= 10000),
    municipality_ids text[] NOT NULL CHECK (cardinality(municipality_ids) >= 1),
    area_id          uuid NOT NULL REFERENCES areas (id),
    challenge        text CHECK (challenge IN ('core', 'focus', 'internal')),
    funding_type     text NOT NULL CHECK (funding_type IN ('internal', 'external')),
    funder           text CHECK (length(funder) <= 200),
    budget_sek       bigint NOT NULL DEFAULT 0 CHECK (budget_sek >= 0),
    partners         text[] NOT NULL DEFAULT '{}',
    start_date       date,
    end_date         date,
    responsible      text CHECK (length(responsible) <= 200),
    status           text NOT NULL DEFAULT 'proposed'
                     CHECK (status IN ('proposed', 'incoming', 'ongoing', 'outgoing', 'completed', 'cancelled')),
    external_system  text CHECK (length(external_system) BETWEEN 1 AND 100),
    external_id      text CHECK (length(external_id) BETWEEN 1 AND 200),
    search           tsvector GENERATED ALWAYS AS (
                         to_tsvector('swedish', title || ' ' || description || ' ' || coalesce(funder, '')
                                     || ' ' || coalesce(responsible, ''))) STORED,
    version          bigint NOT NULL DEFAULT 1,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (external_system, external_id),
    CHECK ((external_system IS NULL) = (external_id IS NULL)),
    CHECK (end_date IS NULL OR start_date IS NULL OR end_date >= start_date)
);
CREATE INDEX assignments_search ON assignments USING gin (search);
CREATE INDEX assignments_municipalities ON assignments USING gin (municipality_ids);
CREATE INDEX assignments_area ON assignments (area_id);
CREATE INDEX assignments_status ON assignments (status);
CREATE TRIGGER assignments_touch BEFORE UPDATE ON assignments FOR EACH ROW EXECUTE FUNCTION samverkan_touch();

-- Every status an assignment has had and since when, so that past periods' reports stay
-- reproducible ("status at the end of the tertial").
CREATE TABLE assignment_status_history (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    assignment_id uuid NOT NULL REFERENCES assignments (id) ON DELETE CASCADE,
    status        text NOT NULL,
    changed_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX assignment_status_history_assignment ON assignment_status_history (assignment_id, changed_at);

CREATE FUNCTION assignments_record_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status THEN
        INSERT INTO assignment_status_history (assignment_id, status, changed_at)
        VALUES (NEW.id, NEW.status, now());
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER assignments_status_history AFTER INSERT OR UPDATE OF status ON assignments
    FOR EACH ROW EXECUTE FUNCTION assignments_record_status();

CREATE TABLE progress_reports (
    id              uuid PRIMARY KEY,
    assignment_id   uuid NOT NULL REFERENCES assignments (id) ON DELETE CASCADE,
    year            integer NOT NULL CHECK (year BETWEEN 2000 AND 2100),
    tertial         smallint NOT NULL CHECK (tertial BETWEEN 1 AND 3),
    summary         text NOT NULL CHECK (length(btrim(summary)) BETWEEN 1 AND 10000),
    spent_sek       bigint NOT NULL CHECK (spent_sek >= 0),
    forecast_sek    bigint NOT NULL CHECK (forecast_sek >= 0),
    deviation       text NOT NULL CHECK (deviation IN ('none', 'minor', 'major')),
    deviation_note  text CHECK (length(deviation_note) <= 4000),
    external_system text CHECK (length(external_system) BETWEEN 1 AND 100),
    external_id     text CHECK (length(external_id) BETWEEN 1 AND 200),
    search          tsvector GENERATED ALWAYS AS (
                        to_tsvector('swedish', summary || ' ' || coalesce(deviation_note, ''))) STORED,
    version         bigint NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT progress_reports_one_per_tertial UNIQUE (assignment_id, year, tertial),
    UNIQUE (external_system, external_id),
    CHECK ((external_system IS NULL) = (external_id IS NULL)),
    CHECK (deviation = 'none' OR length(btrim(coalesce(deviation_note, ''))) > 0)
);
CREATE INDEX progress_reports_period ON progress_reports (year, tertial);
CREATE TRIGGER progress_reports_touch BEFORE UPDATE ON progress_reports FOR EACH ROW EXECUTE FUNCTION samverkan_touch();

CREATE TABLE feedback (
    id              uuid PRIMARY KEY,
    year            integer NOT NULL,
    goal            text NOT NULL,
    network_id      uuid NOT NULL REFERENCES networks (id),
    municipality_id text REFERENCES municipalities (id),
    rating          smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
    comment         text NOT NULL DEFAULT '' CHECK (length(comment) <= 10000),
    -- [{"kind": "development" | "coordination" | "advocacy", "text": "..."}]
    suggestions     jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(suggestions) = 'array'),
    external_system text CHECK (length(external_system) BETWEEN 1 AND 100),
    external_id     text CHECK (length(external_id) BETWEEN 1 AND 200),
    search          tsvector GENERATED ALWAYS AS (to_tsvector('swedish', comment)) STORED,
    version         bigint NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (year, goal) REFERENCES plan_goals (year, challenge),
    UNIQUE (external_system, external_id),
    CHECK ((external_system IS NULL) = (external_id IS NULL))
);
CREATE INDEX feedback_year_goal ON feedback (year, goal);
CREATE INDEX feedback_network ON feedback (network_id);
CREATE INDEX feedback_search ON feedback USING gin (search);
CREATE TRIGGER feedback_touch BEFORE UPDATE ON feedback FOR EACH ROW EXECUTE FUNCTION samverkan_touch();

-- A change to a plan's goals is a change of the plan: its version (and ETag) moves.
CREATE FUNCTION plan_goals_touch_plan() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE plans SET updated_at = clock_timestamp()
    WHERE year = CASE WHEN TG_OP = 'DELETE' THEN OLD.year ELSE NEW.year END;
    RETURN NULL;
END
$$;
CREATE TRIGGER plan_goals_touch_plan AFTER UPDATE OR DELETE ON plan_goals
    FOR EACH ROW EXECUTE FUNCTION plan_goals_touch_plan();
