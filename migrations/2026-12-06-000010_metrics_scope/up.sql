-- A scope for the metrics alone: Prometheus reads /metrics with a client that can do nothing else.
ALTER TABLE api_clients DROP CONSTRAINT api_clients_scopes_check;
ALTER TABLE api_clients ADD CONSTRAINT api_clients_scopes_check
    CHECK (scopes <@ ARRAY['read', 'write', 'import', 'admin', 'metrics']::text[] AND cardinality(scopes) >= 1);
