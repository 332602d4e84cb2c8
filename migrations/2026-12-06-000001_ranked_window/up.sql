-- A ranked search reads its page from a bounded window of candidates (`http::search::Window`):
-- first the records that have the words in their name or title. This index of the names alone
-- finds them without reading the matches in the rest of the text. Tables whose rows have no
-- title (progress reports, feedback: `search_title` is '') get it too, so that every table is
-- searched the same way and the empty names are found empty at once.
CREATE INDEX areas_search_name ON areas USING gin (to_tsvector('swedish'::regconfig, search_title));
CREATE INDEX networks_search_name ON networks USING gin (to_tsvector('swedish'::regconfig, search_title));
CREATE INDEX network_members_search_name ON network_members
    USING gin (to_tsvector('swedish'::regconfig, search_title));
CREATE INDEX assignments_search_name ON assignments
    USING gin (to_tsvector('swedish'::regconfig, search_title));
CREATE INDEX progress_reports_search_name ON progress_reports
    USING gin (to_tsvector('swedish'::regconfig, search_title));
CREATE INDEX feedback_search_name ON feedback USING gin (to_tsvector('swedish'::regconfig, search_title));
