DROP TABLE plan_goals;
DROP TABLE plans;
DROP TABLE areas;
DROP TABLE municipalities;
DROP FUNCTION is_valid_organisation_number(text);
DROP FUNCTION samverkan_touch();
DROP COLLATION IF EXISTS swedish;
