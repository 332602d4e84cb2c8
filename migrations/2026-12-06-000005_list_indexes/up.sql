-- Lists that stay fast at a million rows: an index for each collection's default order (then
-- `id`, as every list breaks ties), and for the filters that pick a small share of a large table,
-- the filter followed by that order, so that page 1 reads 50 index entries rather than sorting
-- every match. Filters that keep a large share (a municipality of seven, a year, a rating, a
-- status) are served by walking the order's index and skipping the rows that do not match.
-- ARCHITECTURE.md ("Lists at scale") says which index serves which list.

-- feedback: newest first.
CREATE INDEX feedback_created ON feedback (created_at DESC, id);
CREATE INDEX feedback_municipality_created ON feedback (municipality_id, created_at DESC, id);
-- Replaces feedback_network (network_id): the same lookups, and a network's page in order.
CREATE INDEX feedback_network_created ON feedback (network_id, created_at DESC, id);
DROP INDEX feedback_network;

-- assignments and networks: by title / name.
CREATE INDEX assignments_title ON assignments (title, id);
CREATE INDEX assignments_area_title ON assignments (area_id, title, id);
DROP INDEX assignments_area;
CREATE INDEX networks_name ON networks (name, id);

