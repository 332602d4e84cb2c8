DROP TRIGGER plan_goals_touch_plan ON plan_goals;
DROP FUNCTION plan_goals_touch_plan();
DROP TABLE feedback;
DROP TABLE progress_reports;
DROP TABLE assignment_status_history;
DROP TABLE assignments;
DROP FUNCTION assignments_record_status();
DROP TABLE network_members;
DROP TABLE networks;
