-- Set-based writes: the change feed and the assignments' status history are written once per
-- statement, from its transition tables, not once per row. A bulk load of 100 000 rows runs one
-- INSERT … SELECT into `changes` instead of 100 000 trigger calls, and sends one notification
-- (PostgreSQL also folds identical notifications of one transaction into one).
--
-- The feed's `data` is the record as the API shows it. It used to be built per row by
-- `samverkan_api_json`, which camel-cases every key in a subquery; now each table has its own
-- `<table>_api_json(row)`, one `jsonb_build_object` over the table's columns, generated from the
-- catalogue by `samverkan_feed_install`. A migration that adds or drops a column of a table in
-- the feed calls `samverkan_feed_install` again (ARCHITECTURE.md, "Adding a resource"); a test
-- compares every table's function with the generic conversion.
--
-- The guarantee is unchanged: the feed rows are written in the writing transaction, so a
-- committed change is always in the feed and a rolled-back one never.

CREATE FUNCTION samverkan_feed_install(tbl regclass, resource text, id_column text DEFAULT 'id',
                                       hidden text[] DEFAULT '{}') RETURNS void
LANGUAGE plpgsql AS $install$
DECLARE
    name text := (SELECT relname FROM pg_class WHERE oid = tbl);
    object text;
    body text;
BEGIN
    -- jsonb_build_object takes at most 100 arguments: 40 columns a call, joined with ||.
    SELECT string_agg(part, ' || ' ORDER BY chunk) INTO object FROM (
        SELECT chunk, 'jsonb_build_object(' || string_agg(format('%L, r.%I', samverkan_camel(attname), attname), ', ' ORDER BY attnum) || ')' AS part
        FROM (SELECT attname, attnum, (row_number() OVER (ORDER BY attnum) - 1) / 40 AS chunk
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

DROP FUNCTION samverkan_record_change();

-- The status history, per statement too (a column list, `UPDATE OF status`, cannot be combined
-- with transition tables: the join picks the rows whose status moved).
DROP TRIGGER assignments_status_history ON assignments;
DROP FUNCTION assignments_record_status();
CREATE FUNCTION assignments_record_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO assignment_status_history (assignment_id, status, changed_at)
        SELECT id, status, now() FROM new_rows;
    ELSE
        INSERT INTO assignment_status_history (assignment_id, status, changed_at)
        SELECT n.id, n.status, now() FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE n.status IS DISTINCT FROM o.status;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER assignments_status_history_insert AFTER INSERT ON assignments
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION assignments_record_status();
CREATE TRIGGER assignments_status_history_update AFTER UPDATE ON assignments
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION assignments_record_status();
