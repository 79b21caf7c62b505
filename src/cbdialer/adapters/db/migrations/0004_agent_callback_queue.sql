-- An agent's own callback queue (docs/design.md section 5): when a callback joined it, so that the callbacks
-- waiting for one agent are offered in the order they started waiting.
ALTER TABLE callbacks ADD COLUMN assigned_at timestamptz;

-- What routing needs to know of each agent beside Asterisk's device state: readiness, wrap-up, a reserved
-- offer, and its own callback queue in the order the callbacks joined it.
CREATE VIEW agent_routing AS
SELECT a.id, a.dial_string, a.skills, a.ready, a.wrap_up_until, a.reserved_until, a.idle_since,
       array(SELECT queue_id FROM agent_queues WHERE agent_id = a.id ORDER BY queue_id) AS queues,
       array(SELECT team_id FROM agent_teams WHERE agent_id = a.id ORDER BY team_id) AS teams,
       array(SELECT c.id FROM callbacks c WHERE c.assigned_agent = a.id AND c.state IN ('scheduled', 'queued')
             ORDER BY c.assigned_at, c.id) AS waiting_ids,
       array(SELECT c.type FROM callbacks c WHERE c.assigned_agent = a.id AND c.state IN ('scheduled', 'queued')
             ORDER BY c.assigned_at, c.id) AS waiting
FROM agents a;

-- The agent's disposition after the call (docs/design.md section 6), set during wrap-up and applied at its end.
ALTER TABLE attempts ADD COLUMN disposition text, ADD COLUMN disposition_start timestamptz;
