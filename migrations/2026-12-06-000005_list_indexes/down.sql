DROP INDEX feedback_created;
DROP INDEX feedback_municipality_created;
CREATE INDEX feedback_network ON feedback (network_id);
DROP INDEX feedback_network_created;
CREATE INDEX assignments_area ON assignments (area_id);
DROP INDEX assignments_area_title;
DROP INDEX assignments_title;
DROP INDEX networks_name;
