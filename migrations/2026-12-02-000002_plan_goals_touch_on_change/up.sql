-- A goal written with the values it already has is no change of its plan: the plan's version
-- (and ETag) moves only when a goal really changes, as every other record's does.
CREATE OR REPLACE FUNCTION plan_goals_touch_plan() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR NEW IS DISTINCT FROM OLD THEN
        UPDATE plans SET updated_at = clock_timestamp()
        WHERE year = CASE WHEN TG_OP = 'DELETE' THEN OLD.year ELSE NEW.year END;
    END IF;
    RETURN NULL;
END
$$;
