DROP INDEX feedback_created;
CREATE INDEX feedback_created ON feedback (created_at DESC, id);
DROP INDEX feedback_municipality_created;
CREATE INDEX feedback_municipality_created ON feedback (municipality_id, created_at DESC, id);
DROP INDEX feedback_network_created;
CREATE INDEX feedback_network_created ON feedback (network_id, created_at DESC, id);
