-- Reference data tables: the seven member municipalities, the collaboration areas and the yearly plans
-- with their three challenges. Names sort the Swedish way (Å before Ä before Ö), so every name
-- column carries an ICU sv-SE collation instead of relying on the database's default locale.

CREATE COLLATION IF NOT EXISTS swedish (provider = icu, locale = 'sv-SE');

-- Bumps version and updated_at on every UPDATE that changes a row, so ETags and timestamps can
-- never be forgotten by a query. An UPDATE that changes nothing keeps the version: repeating a
-- push is a no-op. (Generated columns are not computed yet in a BEFORE trigger: left out.)
CREATE FUNCTION samverkan_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (to_jsonb(NEW) - 'search') IS DISTINCT FROM (to_jsonb(OLD) - 'search') THEN
        NEW.version := OLD.version + 1;
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END
$$;

-- Swedish organisation number: NNNNNN-NNNN whose ten digits pass the Luhn check.
CREATE FUNCTION is_valid_organisation_number(value text) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT value ~ '^[0-9]{6}-[0-9]{4}$' AND (
        SELECT sum(CASE WHEN t.i % 2 = 1
                        THEN (t.d * 2) / 10 + (t.d * 2) % 10
                        ELSE t.d END) % 10 = 0
        FROM unnest(string_to_array(replace(value, '-', ''), NULL)::int[]) WITH ORDINALITY AS t(d, i)
    )
$$;

CREATE TABLE municipalities (
    id                  text PRIMARY KEY CHECK (id ~ '^[0-9]{4}$'),
    name                text COLLATE swedish NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100),
    official_name       text COLLATE swedish NOT NULL CHECK (length(official_name) BETWEEN 1 AND 200),
    county_code         text NOT NULL CHECK (county_code ~ '^[0-9]{2}$'),
    organisation_number text UNIQUE CHECK (is_valid_organisation_number(organisation_number)),
    version             bigint NOT NULL DEFAULT 1,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER municipalities_touch BEFORE UPDATE ON municipalities
    FOR EACH ROW EXECUTE FUNCTION samverkan_touch();

CREATE TABLE areas (
    id          uuid PRIMARY KEY,
    name        text COLLATE swedish NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
    description text NOT NULL DEFAULT '' CHECK (length(description) <= 4000),
    version     bigint NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER areas_touch BEFORE UPDATE ON areas
    FOR EACH ROW EXECUTE FUNCTION samverkan_touch();

CREATE TABLE plans (
    year       integer PRIMARY KEY CHECK (year BETWEEN 2000 AND 2100),
    title      text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    vision     text NOT NULL DEFAULT '' CHECK (length(vision) <= 1000),
    version    bigint NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER plans_touch BEFORE UPDATE ON plans
    FOR EACH ROW EXECUTE FUNCTION samverkan_touch();

-- Each plan has exactly the three challenges; a goal belongs to its plan's version.
CREATE TABLE plan_goals (
    year      integer NOT NULL REFERENCES plans (year) ON DELETE CASCADE,
    challenge text NOT NULL CHECK (challenge IN ('core', 'focus', 'internal')),
    name      text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    theme     text CHECK (length(theme) BETWEEN 1 AND 200),
    statement text NOT NULL CHECK (length(statement) BETWEEN 1 AND 2000),
    PRIMARY KEY (year, challenge)
);

CREATE INDEX plans_title_fts ON plans USING gin (to_tsvector('swedish', title || ' ' || vision));
CREATE INDEX plan_goals_statement_fts ON plan_goals USING gin (to_tsvector('swedish', name || ' ' || coalesce(theme, '') || ' ' || statement));

-- The reference rows themselves are seeded by the service at start-up (src/seed.rs), so their
-- validation lives beside the data and an administrator's later edits are never overwritten.
