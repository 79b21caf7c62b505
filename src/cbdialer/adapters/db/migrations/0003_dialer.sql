-- The dialer (docs/design.md section 4): when each agent became free, and the agent whose own callback queue a
-- callback waits in.
ALTER TABLE agents ADD COLUMN idle_since timestamptz;
ALTER TABLE callbacks ADD COLUMN assigned_agent text;
CREATE INDEX callbacks_assigned_agent ON callbacks (assigned_agent)
    WHERE assigned_agent IS NOT NULL AND state IN ('scheduled', 'queued');

-- Anyone watching the book (the live table of the demo, tests, later the API) hears of every state change:
-- one notification per statement that wrote audit lines, without a payload.
CREATE FUNCTION callback_events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('cbdialer_changed', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER callback_events_changed AFTER INSERT ON callback_events
    FOR EACH STATEMENT EXECUTE FUNCTION callback_events_notify();
