-- Words typed without their å, ä and ö (`vard`, `oberg`, `ornskoldsvik`), as on a phone or an
-- English keyboard: `search_words` keeps each word also folded to plain letters, so that the
-- word lookup can correct such a word to the real words it stands for (`vård`, `Öberg`), and
-- compare typos letter by letter whatever the accents (`etjanster` → `tjänster`).
CREATE FUNCTION samverkan_fold(t text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN translate(lower(t), 'åäöéèêëàáâüúùóòôíìïçñ', 'aaoeeeeaaauuuoooiiicn');

ALTER TABLE search_words ADD COLUMN folded text GENERATED ALWAYS AS (samverkan_fold(word)) STORED;
CREATE INDEX search_words_folded ON search_words (folded);
CREATE INDEX search_words_folded_trgm ON search_words USING gin (folded gin_trgm_ops)
    WITH (fastupdate = off);
