ALTER TABLE audit_log DROP COLUMN IF EXISTS sent_by;
ALTER TABLE api_clients DROP COLUMN IF EXISTS acts_for_users;
