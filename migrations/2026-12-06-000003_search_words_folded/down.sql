DROP INDEX search_words_folded_trgm, search_words_folded;
ALTER TABLE search_words DROP COLUMN folded;
DROP FUNCTION samverkan_fold(text);
