-- API clients, the audit log and rate-limit counters. All of it lives here, not in a replica's
-- memory, so any number of replicas agree.

CREATE TABLE api_clients (
    id              uuid PRIMARY KEY,
    name            text COLLATE swedish NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    scopes          text[] NOT NULL CHECK (scopes <@ ARRAY['read', 'write', 'import', 'admin']::text[]
                                           AND cardinality(scopes) >= 1),
    municipality_id text REFERENCES municipalities (id),
    -- argon2id PHC string; the secret itself is never stored.
    secret_hash     text NOT NULL,
    version         bigint NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    disabled_at     timestamptz
);
CREATE TRIGGER api_clients_touch BEFORE UPDATE ON api_clients
    FOR EACH ROW EXECUTE FUNCTION samverkan_touch();

-- Every successful change: who, what, when, before and after (personal data redacted), and the
-- request it came from. Written in the same transaction as the change itself.
CREATE TABLE audit_log (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at   timestamptz NOT NULL DEFAULT now(),
    client_id     uuid,
    actor         text NOT NULL,
    action        text NOT NULL,
    resource_type text NOT NULL,
    resource_id   text NOT NULL,
    before        jsonb,
    after         jsonb,
    request_id    text
);
CREATE INDEX audit_log_resource ON audit_log (resource_type, resource_id, id);
CREATE INDEX audit_log_client ON audit_log (client_id, id);
CREATE INDEX audit_log_occurred ON audit_log (occurred_at, id);

-- Fixed-window request counters per client and purpose (token requests, writes).
CREATE UNLOGGED TABLE rate_limit_windows (
    bucket       text NOT NULL,
    window_start timestamptz NOT NULL,
    hits         integer NOT NULL,
    PRIMARY KEY (bucket, window_start)
);
