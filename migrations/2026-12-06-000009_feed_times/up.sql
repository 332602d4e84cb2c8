-- The change feed's `data` writes times as the API does: RFC 3339 in UTC with `Z`, and as many
-- decimals as the value needs (none, 3 or 6, as chrono writes them), whatever the writing
-- session's TimeZone. Before, `jsonb_build_object` wrote a timestamptz in the session's zone
-- with an offset (`+00:00`, or `+01:00` on a server set to Swedish time).
CREATE FUNCTION samverkan_json_time(t timestamptz) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE
    WHEN t IS NULL THEN NULL
    WHEN extract(microseconds FROM t)::bigint % 1000000 = 0
        THEN to_char(timezone('UTC', t), 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
    WHEN extract(microseconds FROM t)::bigint % 1000 = 0
        THEN to_char(timezone('UTC', t), 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
    ELSE to_char(timezone('UTC', t), 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
END;

CREATE OR REPLACE FUNCTION samverkan_feed_install(tbl regclass, resource text, id_column text DEFAULT 'id',
                                                  hidden text[] DEFAULT '{}') RETURNS void
LANGUAGE plpgsql AS $install$
DECLARE
    name text := (SELECT relname FROM pg_class WHERE oid = tbl);
    object text;
    body text;
BEGIN
    -- jsonb_build_object takes at most 100 arguments: 40 columns a call, joined with ||.
    -- A timestamptz is written by samverkan_json_time, everything else as to_jsonb writes it.
    SELECT string_agg(part, ' || ' ORDER BY chunk) INTO object FROM (
        SELECT chunk, 'jsonb_build_object(' || string_agg(
            format(CASE WHEN atttypid = 'timestamptz'::regtype THEN '%L, samverkan_json_time(r.%I)'
                        ELSE '%L, r.%I' END, samverkan_camel(attname), attname), ', ' ORDER BY attnum) || ')' AS part
        FROM (SELECT attname, attnum, atttypid, (row_number() OVER (ORDER BY attnum) - 1) / 40 AS chunk
              FROM pg_attribute
              WHERE attrelid = tbl AND attnum > 0 AND NOT attisdropped
                AND attname <> ALL (ARRAY['search', 'search_text', 'search_title', 'secret_hash'] || hidden)) c
        GROUP BY chunk) p;

    EXECUTE format('CREATE OR REPLACE FUNCTION %I(r %I) RETURNS jsonb LANGUAGE sql STABLE AS %L',
                   name || '_api_json', name, 'SELECT ' || object);

    body := format($fn$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO changes (resource_type, resource_id, op, version, data)
        SELECT %1$L, r.%2$I::text, 'upsert', r.version, %3$I(r) FROM new_rows r;
    ELSIF TG_OP = 'UPDATE' THEN
        -- A row whose version did not move (a repeated upsert) is no change.
        INSERT INTO changes (resource_type, resource_id, op, version, data)
        SELECT %1$L, r.%2$I::text, 'upsert', r.version, %3$I(r)
        FROM new_rows r JOIN old_rows o ON o.%2$I = r.%2$I
        WHERE r.version <> o.version;
    ELSE
        INSERT INTO changes (resource_type, resource_id, op, version, data)
        SELECT %1$L, r.%2$I::text, 'delete', r.version + 1, NULL FROM old_rows r;
    END IF;
    IF FOUND THEN
        PERFORM pg_notify('samverkan_changes', '');
    END IF;
    RETURN NULL;
END
$fn$, resource, id_column, name || '_api_json');
    EXECUTE format('CREATE OR REPLACE FUNCTION %I() RETURNS trigger LANGUAGE plpgsql AS %L',
                   name || '_feed', body);

    -- A trigger with transition tables serves one event.
    EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', name || '_changes', tbl);
    EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER INSERT ON %s REFERENCING NEW TABLE AS new_rows '
                   'FOR EACH STATEMENT EXECUTE FUNCTION %I()', name || '_feed_insert', tbl, name || '_feed');
    EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER UPDATE ON %s REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows '
                   'FOR EACH STATEMENT EXECUTE FUNCTION %I()', name || '_feed_update', tbl, name || '_feed');
    EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER DELETE ON %s REFERENCING OLD TABLE AS old_rows '
                   'FOR EACH STATEMENT EXECUTE FUNCTION %I()', name || '_feed_delete', tbl, name || '_feed');
END
$install$;

SELECT samverkan_feed_install('municipalities', 'municipality');
SELECT samverkan_feed_install('areas', 'area');
SELECT samverkan_feed_install('plans', 'plan', 'year');
SELECT samverkan_feed_install('networks', 'network');
SELECT samverkan_feed_install('network_members', 'member', 'id', ARRAY['email', 'phone']);
SELECT samverkan_feed_install('assignments', 'assignment');
SELECT samverkan_feed_install('progress_reports', 'progress_report');
SELECT samverkan_feed_install('feedback', 'feedback');
