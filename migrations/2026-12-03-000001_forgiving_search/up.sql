-- Search that forgives: the words of a record as people type them. Each searchable table gets
-- a weighted Swedish `search` vector (name or title A, description B, the rest C) of its text
-- with punctuation turned into spaces (so `Digitaliseringsguiden.se` and `ESF+` are words, not
-- one host token), `search_text`: the same text in lower case, indexed by trigrams for the
-- parts of compound words (`skolchef` in `skolchefsnätverket`) and for typos, and
-- `search_title`: the name or title alone, which ranks a near miss in the name above one in
-- the text.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- pg_trgm declares its word-similarity operators as cheap as `=`, so on a large table the planner
-- prefers to run them on every row (seconds) over the trigram index (milliseconds). Their true
-- cost is that of a function comparing trigram sets. Where the migrating role may not change
-- the extension's functions, searches stay right, only slower on large tables.
DO $$
BEGIN
    ALTER FUNCTION word_similarity_op(text, text) COST 1000;
    ALTER FUNCTION word_similarity_commutator_op(text, text) COST 1000;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'pg_trgm word similarity keeps its declared cost (not the owner of pg_trgm)';
END
$$;

-- Text as search sees it: punctuation to spaces, lower case by Swedish rules.
CREATE FUNCTION samverkan_search_text(t text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN lower(regexp_replace(coalesce(t, ''), '[^[:alnum:]åäöÅÄÖéÉüÜ]+', ' ', 'g') COLLATE swedish);

CREATE FUNCTION samverkan_search_vector(a text, b text, c text) RETURNS tsvector LANGUAGE sql
IMMUTABLE PARALLEL SAFE
RETURN setweight(to_tsvector('swedish'::regconfig, samverkan_search_text(a)), 'A')
    || setweight(to_tsvector('swedish'::regconfig, samverkan_search_text(b)), 'B')
    || setweight(to_tsvector('swedish'::regconfig, samverkan_search_text(c)), 'C');

CREATE FUNCTION samverkan_words(t text[]) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN array_to_string(t, ' ');

-- The texts of a feedback entry's suggestions (`[{"kind": …, "text": …}]`).
CREATE FUNCTION samverkan_suggestion_texts(s jsonb) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (SELECT coalesce(string_agg(e ->> 'text', ' '), '') FROM jsonb_array_elements(s) e);

-- No generated search column is computed yet in a BEFORE trigger, nor part of the API's record.
CREATE OR REPLACE FUNCTION samverkan_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (to_jsonb(NEW) - 'search' - 'search_text' - 'search_title') IS DISTINCT FROM (to_jsonb(OLD) - 'search' - 'search_text' - 'search_title') THEN
        NEW.version := OLD.version + 1;
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION samverkan_api_json(row_data jsonb, resource text) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_object_agg(samverkan_camel(key), value)
    FROM jsonb_each(row_data - ARRAY['search', 'search_text', 'search_title', 'secret_hash'] -
                    CASE WHEN resource = 'member' THEN ARRAY['email', 'phone'] ELSE ARRAY[]::text[] END)
$$;

ALTER TABLE areas
    ADD COLUMN search tsvector GENERATED ALWAYS AS (samverkan_search_vector(name, description, '')) STORED,
    ADD COLUMN search_text text GENERATED ALWAYS AS (samverkan_search_text(name || ' ' || description)) STORED,
    ADD COLUMN search_title text GENERATED ALWAYS AS (samverkan_search_text(name)) STORED;

ALTER TABLE networks DROP COLUMN search;
ALTER TABLE networks
    ADD COLUMN search tsvector GENERATED ALWAYS AS (
        samverkan_search_vector(name, description, coordinator)) STORED,
    ADD COLUMN search_text text GENERATED ALWAYS AS (
        samverkan_search_text(name || ' ' || description || ' ' || coalesce(coordinator, ''))) STORED,
    ADD COLUMN search_title text GENERATED ALWAYS AS (samverkan_search_text(name)) STORED;

ALTER TABLE assignments DROP COLUMN search;
ALTER TABLE assignments
    ADD COLUMN search tsvector GENERATED ALWAYS AS (
        samverkan_search_vector(title, description, coalesce(funder, '') || ' ' || coalesce(responsible, '')
                                || ' ' || samverkan_words(partners))) STORED,
    ADD COLUMN search_text text GENERATED ALWAYS AS (
        samverkan_search_text(title || ' ' || description || ' ' || coalesce(funder, '') || ' '
                              || coalesce(responsible, '') || ' ' || samverkan_words(partners))) STORED,
    ADD COLUMN search_title text GENERATED ALWAYS AS (samverkan_search_text(title)) STORED;

ALTER TABLE progress_reports DROP COLUMN search;
ALTER TABLE progress_reports
    ADD COLUMN search tsvector GENERATED ALWAYS AS (
        samverkan_search_vector('', summary, deviation_note)) STORED,
    ADD COLUMN search_text text GENERATED ALWAYS AS (
        samverkan_search_text(summary || ' ' || coalesce(deviation_note, ''))) STORED,
    ADD COLUMN search_title text GENERATED ALWAYS AS ('') STORED;

ALTER TABLE feedback DROP COLUMN search;
ALTER TABLE feedback
    ADD COLUMN search tsvector GENERATED ALWAYS AS (
        samverkan_search_vector('', comment, samverkan_suggestion_texts(suggestions))) STORED,
    ADD COLUMN search_text text GENERATED ALWAYS AS (
        samverkan_search_text(comment || ' ' || samverkan_suggestion_texts(suggestions))) STORED,
    ADD COLUMN search_title text GENERATED ALWAYS AS ('') STORED;

-- Members are found by name and title (their contact details are not searched).
ALTER TABLE network_members
    ADD COLUMN search tsvector GENERATED ALWAYS AS (samverkan_search_vector(name, title, '')) STORED,
    ADD COLUMN search_text text GENERATED ALWAYS AS (
        samverkan_search_text(name || ' ' || coalesce(title, ''))) STORED,
    ADD COLUMN search_title text GENERATED ALWAYS AS (samverkan_search_text(name)) STORED;

CREATE INDEX network_members_search ON network_members USING gin (search);
CREATE INDEX network_members_search_text ON network_members USING gin (search_text gin_trgm_ops);
CREATE INDEX areas_search ON areas USING gin (search);
CREATE INDEX areas_search_text ON areas USING gin (search_text gin_trgm_ops);
CREATE INDEX networks_search ON networks USING gin (search);
CREATE INDEX networks_search_text ON networks USING gin (search_text gin_trgm_ops);
CREATE INDEX assignments_search ON assignments USING gin (search);
CREATE INDEX assignments_search_text ON assignments USING gin (search_text gin_trgm_ops);
CREATE INDEX progress_reports_search ON progress_reports USING gin (search);
CREATE INDEX progress_reports_search_text ON progress_reports USING gin (search_text gin_trgm_ops);
CREATE INDEX feedback_search ON feedback USING gin (search);
CREATE INDEX feedback_search_text ON feedback USING gin (search_text gin_trgm_ops);
