-- Meetings: the conferences, trainings (utbildningsinsatser), network and presidium meetings and
-- webinars through which the association works, the registrations for them, and the links that
-- open their calendar feeds without a token.
--
-- An event's times are instants (UTC). An all-day event runs from midnight to midnight in
-- Sweden (Europe/Stockholm): `starts_at` is the first day's midnight there, `ends_at` the
-- midnight after the last day, so that every event sorts and filters by the same two columns.
CREATE TABLE events (
    id                    uuid PRIMARY KEY,
    title                 text COLLATE swedish NOT NULL CHECK (length(btrim(title)) BETWEEN 1 AND 300),
    description           text NOT NULL DEFAULT '' CHECK (length(description) <= 10000),
    kind                  text NOT NULL
                          CHECK (kind IN ('conference', 'training', 'network_meeting', 'presidium_meeting', 'webinar')),
    all_day               boolean NOT NULL DEFAULT false,
    starts_at             timestamptz NOT NULL,
    ends_at               timestamptz NOT NULL,
    -- The days in Sweden the event runs on, first and last (for an all-day event, its days).
    start_date            date NOT NULL GENERATED ALWAYS AS (timezone('Europe/Stockholm', starts_at)::date) STORED,
    end_date              date NOT NULL GENERATED ALWAYS AS (
                              (timezone('Europe/Stockholm', ends_at) - interval '1 microsecond')::date) STORED,
    location              text CHECK (length(location) <= 300),
    online_url            text CHECK (length(online_url) <= 2000),
    organiser             text CHECK (length(organiser) <= 200),
    network_id            uuid REFERENCES networks (id),
    area_id               uuid REFERENCES areas (id),
    municipality_ids      text[] NOT NULL CHECK (cardinality(municipality_ids) >= 1),
    capacity              integer CHECK (capacity BETWEEN 1 AND 100000),
    registration_deadline timestamptz,
    cancelled             boolean NOT NULL DEFAULT false,
    external_system       text CHECK (length(external_system) BETWEEN 1 AND 100),
    external_id           text CHECK (length(external_id) BETWEEN 1 AND 200),
    search                tsvector GENERATED ALWAYS AS (
                              samverkan_search_vector(title, description,
                                  coalesce(location, '') || ' ' || coalesce(organiser, ''))) STORED,
    search_text           text GENERATED ALWAYS AS (
                              samverkan_search_text(title || ' ' || description || ' ' || coalesce(location, '')
                                                    || ' ' || coalesce(organiser, ''))) STORED,
    search_title          text GENERATED ALWAYS AS (samverkan_search_text(title)) STORED,
    version               bigint NOT NULL DEFAULT 1,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    UNIQUE (external_system, external_id),
    CHECK ((external_system IS NULL) = (external_id IS NULL)),
    CHECK (ends_at > starts_at),
    CHECK (NOT all_day OR (timezone('Europe/Stockholm', starts_at)::time = '00:00'
                           AND timezone('Europe/Stockholm', ends_at)::time = '00:00'))
);
-- As `samverkan_touch`, but generated columns are not computed yet in a BEFORE trigger's NEW,
-- so the days are left out of the comparison with the search columns.
CREATE FUNCTION events_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (to_jsonb(NEW) - 'search' - 'search_text' - 'search_title' - 'start_date' - 'end_date')
       IS DISTINCT FROM (to_jsonb(OLD) - 'search' - 'search_text' - 'search_title' - 'start_date' - 'end_date') THEN
        NEW.version := OLD.version + 1;
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER events_touch BEFORE UPDATE ON events FOR EACH ROW EXECUTE FUNCTION events_touch();

-- The list's default order (the next first), its filters with the same order, the sort keys.
CREATE INDEX events_start ON events (starts_at, id);
CREATE INDEX events_start_desc ON events (starts_at DESC, id DESC);
CREATE INDEX events_end ON events (ends_at, id);
CREATE INDEX events_network_start ON events (network_id, starts_at, id);
CREATE INDEX events_area_start ON events (area_id, starts_at, id);
CREATE INDEX events_municipalities ON events USING gin (municipality_ids);
CREATE INDEX events_title ON events (title, id);
CREATE INDEX events_created ON events (created_at, id);
CREATE INDEX events_updated ON events (updated_at, id);
CREATE INDEX events_search ON events USING gin (search);
CREATE INDEX events_search_text ON events USING gin (search_text gin_trgm_ops);
CREATE INDEX events_search_name ON events USING gin (to_tsvector('swedish'::regconfig, search_title));
CREATE TRIGGER events_search_words_insert AFTER INSERT ON events REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION samverkan_add_search_words();
CREATE TRIGGER events_search_words_update AFTER UPDATE ON events REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION samverkan_add_search_words();
SELECT samverkan_feed_install('events', 'event');

-- Who registered for an event: personal data (name, e-mail), shown only to the entitled, never
-- in the change feed, erased for good on request. `status` is decided when the registration is
-- written, with its event locked: `confirmed` while places are left, else `waitlisted`; the
-- waiting list moves up in the order of registration.
CREATE TABLE registrations (
    id              uuid PRIMARY KEY,
    event_id        uuid NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    name            text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    email           text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    municipality_id text REFERENCES municipalities (id),
    organisation    text CHECK (length(organisation) <= 200),
    status          text NOT NULL CHECK (status IN ('confirmed', 'waitlisted')),
    version         bigint NOT NULL DEFAULT 1,
    -- The moment of writing, not of the transaction's start: registrations are written one at a
    -- time per event (its lock), and the waiting list's order is the order they got the lock.
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE UNIQUE INDEX registrations_event_email ON registrations (event_id, lower(email));
CREATE INDEX registrations_queue ON registrations (event_id, status, created_at, id);
CREATE INDEX registrations_email ON registrations (lower(email));
CREATE TRIGGER registrations_touch BEFORE UPDATE ON registrations
    FOR EACH ROW EXECUTE FUNCTION samverkan_touch();
SELECT samverkan_feed_install('registrations', 'registration', 'id', ARRAY['name', 'email']);

-- The waiting lists move up by themselves, whichever statement frees places: a cancelled or
-- erased registration, an event given more places (through the API or an import), first
-- registered first. The writer holds the event's lock (a registration's writes take it first).
CREATE FUNCTION samverkan_move_up(event_ids uuid[]) RETURNS void LANGUAGE sql AS $$
    UPDATE registrations r SET status = 'confirmed'
    FROM (SELECT w.id, e.capacity,
                 row_number() OVER (PARTITION BY w.event_id ORDER BY w.created_at, w.id) AS place,
                 (SELECT count(*) FROM registrations c
                  WHERE c.event_id = w.event_id AND c.status = 'confirmed') AS taken
          FROM registrations w JOIN events e ON e.id = w.event_id
          WHERE w.status = 'waitlisted' AND w.event_id = ANY (event_ids)) p
    WHERE r.id = p.id AND (p.capacity IS NULL OR p.place <= p.capacity - p.taken);
$$;

CREATE FUNCTION events_places_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM samverkan_move_up(ARRAY(SELECT n.id FROM new_rows n JOIN old_rows o ON o.id = n.id
                                    WHERE n.capacity IS DISTINCT FROM o.capacity));
    RETURN NULL;
END
$$;
CREATE TRIGGER events_places_added AFTER UPDATE ON events
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION events_places_added();

CREATE FUNCTION registrations_places_freed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM samverkan_move_up(ARRAY(SELECT DISTINCT event_id FROM old_rows WHERE status = 'confirmed'));
    RETURN NULL;
END
$$;
CREATE TRIGGER registrations_places_freed AFTER DELETE ON registrations
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION registrations_places_freed();

-- Links that open a calendar feed (all events, or one network's, area's or municipality's)
-- without a token, for calendar programs, which send none. As with report links, the URL
-- carries the id and an HMAC of it; the table holds nothing that opens a feed.
CREATE TABLE calendar_links (
    id              uuid PRIMARY KEY,
    network_id      uuid REFERENCES networks (id) ON DELETE CASCADE,
    area_id         uuid REFERENCES areas (id) ON DELETE CASCADE,
    municipality_id text REFERENCES municipalities (id),
    description     text CHECK (char_length(description) BETWEEN 1 AND 200),
    expires_at      timestamptz,
    owner_id        uuid NOT NULL,
    shared_by       text NOT NULL CHECK (char_length(shared_by) BETWEEN 1 AND 300),
    revoked_at      timestamptz,
    revoked_by      text,
    open_count      bigint NOT NULL DEFAULT 0,
    last_opened_at  timestamptz,
    version         bigint NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (num_nonnulls(network_id, area_id, municipality_id) <= 1),
    CHECK (expires_at IS NULL OR expires_at > created_at),
    CHECK ((revoked_at IS NULL) = (revoked_by IS NULL))
);
CREATE INDEX calendar_links_owner ON calendar_links (owner_id, created_at DESC, id);
CREATE INDEX calendar_links_created ON calendar_links (created_at DESC, id);
CREATE TRIGGER calendar_links_touch BEFORE UPDATE ON calendar_links
    FOR EACH ROW EXECUTE FUNCTION samverkan_touch();

-- The generic conversion (which the feed test compares each table's own with) hides a
-- registration's personal data as the feed does.
CREATE OR REPLACE FUNCTION samverkan_api_json(row_data jsonb, resource text) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_object_agg(samverkan_camel(key), value)
    FROM jsonb_each(row_data - ARRAY['search', 'search_text', 'search_title', 'secret_hash'] -
                    CASE resource WHEN 'member' THEN ARRAY['email', 'phone']
                                  WHEN 'registration' THEN ARRAY['name', 'email']
                                  ELSE ARRAY[]::text[] END)
$$;
