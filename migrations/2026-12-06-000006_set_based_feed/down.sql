DROP TRIGGER assignments_status_history_insert ON assignments;
DROP TRIGGER assignments_status_history_update ON assignments;
DROP FUNCTION assignments_record_status();
CREATE FUNCTION assignments_record_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status THEN
        INSERT INTO assignment_status_history (assignment_id, status, changed_at)
        VALUES (NEW.id, NEW.status, now());
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER assignments_status_history AFTER INSERT OR UPDATE OF status ON assignments
    FOR EACH ROW EXECUTE FUNCTION assignments_record_status();

CREATE FUNCTION samverkan_record_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    resource text := TG_ARGV[0];
    id_column text := coalesce(TG_ARGV[1], 'id');
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO changes (resource_type, resource_id, op, version, data)
        VALUES (resource, to_jsonb(OLD) ->> id_column, 'delete', OLD.version + 1, NULL);
    ELSIF TG_OP = 'UPDATE' AND NEW.version = OLD.version THEN
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

DO $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT * FROM (VALUES ('municipalities', 'municipality', NULL), ('areas', 'area', NULL),
                                   ('plans', 'plan', 'year'), ('networks', 'network', NULL),
                                   ('network_members', 'member', NULL), ('assignments', 'assignment', NULL),
                                   ('progress_reports', 'progress_report', NULL), ('feedback', 'feedback', NULL))
                      AS v(tbl, resource, id_column) LOOP
        EXECUTE format('DROP TRIGGER %I ON %I', t.tbl || '_feed_insert', t.tbl);
        EXECUTE format('DROP TRIGGER %I ON %I', t.tbl || '_feed_update', t.tbl);
        EXECUTE format('DROP TRIGGER %I ON %I', t.tbl || '_feed_delete', t.tbl);
        EXECUTE format('DROP FUNCTION %I()', t.tbl || '_feed');
        EXECUTE format('DROP FUNCTION %I(%I)', t.tbl || '_api_json', t.tbl);
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE ON %I FOR EACH ROW '
                       'EXECUTE FUNCTION samverkan_record_change(%L%s)', t.tbl || '_changes', t.tbl,
                       t.resource, CASE WHEN t.id_column IS NULL THEN '' ELSE format(', %L', t.id_column) END);
    END LOOP;
END
$$;
DROP FUNCTION samverkan_feed_install(regclass, text, text, text[]);
