-- The words of every searchable text, once each, with a trigram index: a mistyped word is
-- first turned into the real words it is close to (a few rows of a small table), and those
-- are then looked up in each table's own full-text index. Comparing the mistyped word with
-- the text of every candidate record instead takes seconds at 100 000 records.
CREATE TABLE search_words (
    word text PRIMARY KEY
);
CREATE INDEX search_words_trgm ON search_words USING gin (word gin_trgm_ops);

-- The words of `search_text` worth correcting towards (four letters or more).
CREATE FUNCTION samverkan_text_words(t text) RETURNS SETOF text LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT w FROM unnest(string_to_array(t, ' ')) w WHERE length(w) >= 4 $$;

-- Adds the words of the rows a statement wrote (its transition table `new_rows`). Words are
-- never removed: a word no record has any longer only finds nothing.
CREATE FUNCTION samverkan_add_search_words() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO search_words (word)
    SELECT DISTINCT w FROM new_rows, samverkan_text_words(new_rows.search_text) w ORDER BY 1
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;

-- Fills the table from every table whose writes add words (the tables with the trigger below),
-- after the migration and after a bulk load that bypassed triggers.
CREATE FUNCTION samverkan_refresh_search_words() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    t regclass;
BEGIN
    FOR t IN SELECT DISTINCT tgrelid::regclass FROM pg_trigger
             WHERE tgfoid = 'samverkan_add_search_words'::regproc LOOP
        EXECUTE format('INSERT INTO search_words (word) SELECT DISTINCT w FROM %s, '
                       'samverkan_text_words(search_text) w ORDER BY 1 ON CONFLICT DO NOTHING', t);
    END LOOP;
END
$$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['areas', 'networks', 'network_members', 'assignments',
                             'progress_reports', 'feedback'] LOOP
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %I REFERENCING NEW TABLE AS new_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION samverkan_add_search_words()',
                       t || '_search_words_insert', t);
        EXECUTE format('CREATE TRIGGER %I AFTER UPDATE ON %I REFERENCING NEW TABLE AS new_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION samverkan_add_search_words()',
                       t || '_search_words_update', t);
    END LOOP;
END
$$;

SELECT samverkan_refresh_search_words();
