CREATE OR REPLACE FUNCTION samverkan_text_words(t text) RETURNS SETOF text LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT w FROM unnest(string_to_array(t, ' ')) w WHERE length(w) >= 4 $$;

SELECT samverkan_refresh_search_words();
