DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['areas', 'networks', 'network_members', 'assignments',
                             'progress_reports', 'feedback'] LOOP
        EXECUTE format('DROP TRIGGER %I ON %I', t || '_search_words_insert', t);
        EXECUTE format('DROP TRIGGER %I ON %I', t || '_search_words_update', t);
    END LOOP;
END
$$;
DROP FUNCTION samverkan_refresh_search_words();
DROP FUNCTION samverkan_add_search_words();
DROP FUNCTION samverkan_text_words(text);
DROP TABLE search_words;
