-- Numbers are no words to correct a typo towards, nor parts of words: `search_words` keeps
-- words with a letter only. (Amounts, years and case numbers made up most of its rows, and a
-- million of them slowed every search's word lookup.) A number is still found as a prefix in the
-- full-text index.
CREATE OR REPLACE FUNCTION samverkan_text_words(t text) RETURNS SETOF text LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT w FROM unnest(string_to_array(t, ' ')) w WHERE length(w) >= 4 AND w !~ '^[0-9]+$' $$;

DELETE FROM search_words WHERE word ~ '^[0-9]+$';
