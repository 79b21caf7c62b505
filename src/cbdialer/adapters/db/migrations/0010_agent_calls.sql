-- The agents' inbound queue calls (issue 11, seeds 003 and 004): the call an agent is on and its last ones,
-- heard from app_queue's AgentConnect and AgentComplete, so that an agent makes a callback from one of them.
-- Every dialer process hears the same events: a call is keyed by its caller channel's Uniqueid.
CREATE TABLE agent_calls (
    id               uuid        PRIMARY KEY,
    caller_uniqueid  text        NOT NULL UNIQUE,
    agent_id         text        NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    asterisk_queue   text        NOT NULL,
    -- The cbdialer queue whose asterisk_queue setting named that queue when the call was answered.
    queue_id         text        REFERENCES queues (id) ON DELETE SET NULL,
    -- As the line gave it; empty when the caller withheld it (a withheld number is never kept).
    caller_number    text        NOT NULL,
    caller_name      text        NOT NULL DEFAULT '',
    withheld         boolean     NOT NULL,
    answered_at      timestamptz NOT NULL,
    ended_at         timestamptz,
    -- The agent's channel in the call: what names it when AgentComplete comes without the caller's fields.
    member_uniqueid  text        NOT NULL DEFAULT '',
    CHECK (NOT withheld OR caller_number = '')
);

-- An agent's calls, newest first (the API's history, the prune that keeps the last few).
CREATE INDEX agent_calls_agent ON agent_calls (agent_id, answered_at DESC, id DESC);
-- The reconcile after a reconnect: the calls not ended.
CREATE INDEX agent_calls_open ON agent_calls (answered_at) WHERE ended_at IS NULL;
