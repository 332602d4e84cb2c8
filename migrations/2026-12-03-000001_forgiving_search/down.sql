ALTER TABLE network_members DROP COLUMN search, DROP COLUMN search_text, DROP COLUMN search_title;
ALTER TABLE areas DROP COLUMN search, DROP COLUMN search_text, DROP COLUMN search_title;
ALTER TABLE networks DROP COLUMN search, DROP COLUMN search_text, DROP COLUMN search_title;
ALTER TABLE networks ADD COLUMN search tsvector GENERATED ALWAYS AS (
    to_tsvector('swedish', name || ' ' || description || ' ' || coalesce(coordinator, ''))) STORED;
CREATE INDEX networks_search ON networks USING gin (search);
ALTER TABLE assignments DROP COLUMN search, DROP COLUMN search_text, DROP COLUMN search_title;
ALTER TABLE assignments ADD COLUMN search tsvector GENERATED ALWAYS AS (
    to_tsvector('swedish', title || ' ' || description || ' ' || coalesce(funder, '')
                || ' ' || coalesce(responsible, ''))) STORED;
CREATE INDEX assignments_search ON assignments USING gin (search);
ALTER TABLE progress_reports DROP COLUMN search, DROP COLUMN search_text, DROP COLUMN search_title;
ALTER TABLE progress_reports ADD COLUMN search tsvector GENERATED ALWAYS AS (
    to_tsvector('swedish', summary || ' ' || coalesce(deviation_note, ''))) STORED;
ALTER TABLE feedback DROP COLUMN search, DROP COLUMN search_text, DROP COLUMN search_title;
ALTER TABLE feedback ADD COLUMN search tsvector GENERATED ALWAYS AS (to_tsvector('swedish', comment)) STORED;
CREATE INDEX feedback_search ON feedback USING gin (search);

CREATE OR REPLACE FUNCTION samverkan_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (to_jsonb(NEW) - 'search') IS DISTINCT FROM (to_jsonb(OLD) - 'search') THEN
        NEW.version := OLD.version + 1;
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END
$$;
CREATE OR REPLACE FUNCTION samverkan_api_json(row_data jsonb, resource text) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_object_agg(samverkan_camel(key), value)
    FROM jsonb_each(row_data - ARRAY['search', 'secret_hash'] -
                    CASE WHEN resource = 'member' THEN ARRAY['email', 'phone'] ELSE ARRAY[]::text[] END)
$$;
DROP FUNCTION samverkan_suggestion_texts(jsonb);
DROP FUNCTION samverkan_words(text[]);
DROP FUNCTION samverkan_search_vector(text, text, text);
DROP FUNCTION samverkan_search_text(text);
DO $$
BEGIN
    ALTER FUNCTION word_similarity_op(text, text) COST 1;
    ALTER FUNCTION word_similarity_commutator_op(text, text) COST 1;
EXCEPTION WHEN insufficient_privilege THEN
    NULL;
END
$$;
