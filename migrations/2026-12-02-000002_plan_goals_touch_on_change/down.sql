CREATE OR REPLACE FUNCTION plan_goals_touch_plan() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE plans SET updated_at = clock_timestamp()
    WHERE year = CASE WHEN TG_OP = 'DELETE' THEN OLD.year ELSE NEW.year END;
    RETURN NULL;
END
$$;
