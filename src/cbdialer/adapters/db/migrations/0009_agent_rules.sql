-- The agent's rules of seeds 002-004 (issue 11).
-- Call Now pressed by an agent (seed 003): the callback is offered to that agent first, out of the due order.
ALTER TABLE callbacks ADD COLUMN call_now_agent text REFERENCES agents (id) ON DELETE SET NULL;
-- A callback_requested disposition may name the agent to call back (seed 002: "re-scheduling the callback
-- for a particular agent & date/time").
ALTER TABLE attempts ADD COLUMN disposition_agent text REFERENCES agents (id) ON DELETE SET NULL;
