UPDATE api_clients SET scopes = array_remove(scopes, 'metrics');
ALTER TABLE api_clients DROP CONSTRAINT api_clients_scopes_check;
ALTER TABLE api_clients ADD CONSTRAINT api_clients_scopes_check
    CHECK (scopes <@ ARRAY['read', 'write', 'import', 'admin']::text[] AND cardinality(scopes) >= 1);
