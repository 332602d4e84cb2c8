-- Keyset paging (`after`): a list breaks ties by `id` in the direction of its last sort key, so
-- that an order in one direction is one index's order and a cursor's position one row
-- comparison, `(created_at, id) < (…, …)`, that the index starts its scan at, however many rows
-- share a `created_at` (every row of a bulk load does). Newest first is these indexes read
-- backwards.
DROP INDEX feedback_created;
CREATE INDEX feedback_created ON feedback (created_at, id);
DROP INDEX feedback_municipality_created;
CREATE INDEX feedback_municipality_created ON feedback (municipality_id, created_at, id);
DROP INDEX feedback_network_created;
CREATE INDEX feedback_network_created ON feedback (network_id, created_at, id);
