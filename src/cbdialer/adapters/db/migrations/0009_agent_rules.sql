-- The agent's rules of seeds 002-004 (issue 11).
-- Call Now pressed by an agent (seed 003): the callback is offered to that agent first, out of the due order.
ALTER TABLE callbacks ADD COLUMN call_now_agent text REFERENCES agents (id) ON DELETE SET NULL;
-- Since when an agent callback waits for its busy named agent (seed 004: "for a configurable time"): kept through
-- the uncounted retries that follow at once, so that once it fell back to the queue it stays there.
ALTER TABLE callbacks ADD COLUMN agent_wait_since timestamptz;
-- A callback_requested disposition may name the agent to call back (seed 002: "re-scheduling the callback
-- for a particular agent & date/time").
ALTER TABLE attempts ADD COLUMN disposition_agent text REFERENCES agents (id) ON DELETE SET NULL;
-- Call Now holds for one offer: once the callback is in a call (whoever took it), a later retry is routed as
-- usual. A trigger, so that every way into in_progress (the start function of 0006 among them) clears it.
CREATE FUNCTION callbacks_call_now_taken() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.call_now_agent := NULL;
    RETURN NEW;
END;
$$;
CREATE TRIGGER callbacks_call_now_taken BEFORE UPDATE OF state ON callbacks
FOR EACH ROW WHEN (NEW.state = 'in_progress' AND OLD.state <> 'in_progress' AND NEW.call_now_agent IS NOT NULL)
EXECUTE FUNCTION callbacks_call_now_taken();
