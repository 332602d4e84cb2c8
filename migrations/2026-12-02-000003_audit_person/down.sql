DROP INDEX IF EXISTS audit_log_person;
ALTER TABLE audit_log
    DROP CONSTRAINT IF EXISTS audit_log_person_whole,
    DROP COLUMN IF EXISTS person_name,
    DROP COLUMN IF EXISTS person_subject,
    DROP COLUMN IF EXISTS person_issuer;
