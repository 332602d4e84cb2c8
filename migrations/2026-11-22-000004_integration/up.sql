-- Integration semantics: idempotency keys and the change feed.

-- Stripe-style idempotency keys, per API client. A row is claimed ('running') before the
-- request runs; `effect_committed` is set inside the write's own transaction (by the audit hook),
-- so a crash between the write and the recording of its response can never lead to the write
-- being repeated; the response is stored right after.
CREATE TABLE idempotency_keys (
    client_id        uuid NOT NULL,
    key              text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    fingerprint      text NOT NULL,
    state            text NOT NULL CHECK (state IN ('running', 'done')),
    lease_until      timestamptz NOT NULL,
    effect_committed boolean NOT NULL DEFAULT false,
    resource         text,
    response_status  integer,
    response_headers jsonb,
    response_body    bytea,
    created_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL DEFAULT now() + interval '24 hours',
    PRIMARY KEY (client_id, key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);

-- The change feed: one row per created, updated or deleted record, written by triggers in the
-- writing transaction. `txid` orders the feed: a reader only returns rows of transactions older
-- than every transaction still running (pg_snapshot_xmin), so rows that commit late are never
-- skipped.
CREATE TABLE changes (
    seq           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    txid          xid8 NOT NULL DEFAULT pg_current_xact_id(),
    resource_type text NOT NULL,
    resource_id   text NOT NULL,
    op            text NOT NULL CHECK (op IN ('upsert', 'delete')),
    version       bigint NOT NULL,
    changed_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    data          jsonb
);
CREATE INDEX changes_order ON changes (txid, seq);
CREATE INDEX changes_resource ON changes (resource_type, resource_id, seq);

-- How far the feed has been purged: cursors before this position get 410 Gone.
CREATE TABLE change_feed_state (
    singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    purged_txid   xid8 NOT NULL DEFAULT '0'::xid8,
    purged_seq    bigint NOT NULL DEFAULT 0
);
INSERT INTO change_feed_state DEFAULT VALUES;

CREATE FUNCTION samverkan_camel(key text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT string_agg(CASE WHEN i = 1 THEN p ELSE upper(left(p, 1)) || substr(p, 2) END, '' ORDER BY i)
    FROM unnest(string_to_array(key, '_')) WITH ORDINALITY AS t(p, i)
$$;

-- The record as the API shows it: camelCase members, without internal columns and, for
-- members, without contact details (personal data is served only to entitled callers).
CREATE FUNCTION samverkan_api_json(row_data jsonb, resource text) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_object_agg(samverkan_camel(key), value)
    FROM jsonb_each(row_data - ARRAY['search', 'secret_hash'] -
                    CASE WHEN resource = 'member' THEN ARRAY['email', 'phone'] ELSE ARRAY[]::text[] END)
$$;

CREATE FUNCTION samverkan_record_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    resource text := TG_ARGV[0];
    id_column text := coalesce(TG_ARGV[1], 'id');
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO changes (resource_type, resource_id, op, version, data)
        VALUES (resource, to_jsonb(OLD) ->> id_column, 'delete', OLD.version + 1, NULL);
    ELSIF TG_OP = 'UPDATE' AND NEW.version = OLD.version THEN
        -- Nothing changed (a repeated upsert): no feed entry.
        RETURN NULL;
    ELSE
        INSERT INTO changes (resource_type, resource_id, op, version, data)
        VALUES (resource, to_jsonb(NEW) ->> id_column, 'upsert', NEW.version,
                samverkan_api_json(to_jsonb(NEW), resource));
    END IF;
    PERFORM pg_notify('samverkan_changes', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER municipalities_changes AFTER INSERT OR UPDATE OR DELETE ON municipalities
    FOR EACH ROW EXECUTE FUNCTION samverkan_record_change('municipality');
CREATE TRIGGER areas_changes AFTER INSERT OR UPDATE OR DELETE ON areas
    FOR EACH ROW EXECUTE FUNCTION samverkan_record_change('area');
CREATE TRIGGER plans_changes AFTER INSERT OR UPDATE OR DELETE ON plans
    FOR EACH ROW EXECUTE FUNCTION samverkan_record_change('plan', 'year');
CREATE TRIGGER networks_changes AFTER INSERT OR UPDATE OR DELETE ON networks
    FOR EACH ROW EXECUTE FUNCTION samverkan_record_change('network');
CREATE TRIGGER network_members_changes AFTER INSERT OR UPDATE OR DELETE ON network_members
    FOR EACH ROW EXECUTE FUNCTION samverkan_record_change('member');
CREATE TRIGGER assignments_changes AFTER INSERT OR UPDATE OR DELETE ON assignments
    FOR EACH ROW EXECUTE FUNCTION samverkan_record_change('assignment');
CREATE TRIGGER progress_reports_changes AFTER INSERT OR UPDATE OR DELETE ON progress_reports
    FOR EACH ROW EXECUTE FUNCTION samverkan_record_change('progress_report');
CREATE TRIGGER feedback_changes AFTER INSERT OR UPDATE OR DELETE ON feedback
    FOR EACH ROW EXECUTE FUNCTION samverkan_record_change('feedback');

-- Rows that existed before the feed did (reference data) enter it as upserts.
INSERT INTO changes (resource_type, resource_id, op, version, data)
SELECT 'municipality', id, 'upsert', version, samverkan_api_json(to_jsonb(m), 'municipality') FROM municipalities m;
INSERT INTO changes (resource_type, resource_id, op, version, data)
SELECT 'area', id::text, 'upsert', version, samverkan_api_json(to_jsonb(a), 'area') FROM areas a;
INSERT INTO changes (resource_type, resource_id, op, version, data)
SELECT 'plan', year::text, 'upsert', version, samverkan_api_json(to_jsonb(p), 'plan') FROM plans p;
