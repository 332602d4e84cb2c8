-- A machine client an administrator allows to act for its users may say on whose behalf it
-- writes (the X-Sent-By header); the audit log keeps what it said beside the client.
ALTER TABLE api_clients ADD COLUMN acts_for_users boolean NOT NULL DEFAULT false;
ALTER TABLE audit_log ADD COLUMN sent_by text;
