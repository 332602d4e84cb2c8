ALTER INDEX search_words_trgm RESET (fastupdate);
