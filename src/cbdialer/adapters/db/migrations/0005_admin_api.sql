-- The admin API (issue 5): tokens, idempotent creates, and the indexes its searches and reports use.

-- Bearer tokens, stored only as their SHA-256 (a token is 256 random bits, so a plain hash suffices).
CREATE TABLE api_tokens (
    id          uuid PRIMARY KEY,
    token_hash  text        NOT NULL UNIQUE,
    role        text        NOT NULL CHECK (role IN ('admin', 'supervisor', 'agent')),
    agent_id    text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    CHECK ((role = 'agent') = (agent_id IS NOT NULL))
);

-- A retried create with the same Idempotency-Key (per token) returns the callback made the first time.
CREATE TABLE idempotency_keys (
    token_id      uuid        NOT NULL,
    key           text        NOT NULL,
    request_hash  text        NOT NULL,
    callback_id   uuid        NOT NULL REFERENCES callbacks (id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (token_id, key)
);

-- Searches and reports: newest first with a (created_at, id) cursor, by creator, target agent and number.
CREATE INDEX callbacks_created ON callbacks (created_at DESC, id DESC);
CREATE INDEX callbacks_creator ON callbacks (created_by, created_at DESC, id DESC) WHERE created_by IS NOT NULL;
CREATE INDEX callbacks_target_agent ON callbacks (agent_id, created_at DESC, id DESC) WHERE agent_id IS NOT NULL;
CREATE INDEX callbacks_waiting_agent ON callbacks (assigned_agent, created_at DESC, id DESC)
    WHERE assigned_agent IS NOT NULL;
CREATE INDEX callbacks_number ON callbacks (destination, created_at DESC, id DESC);
CREATE INDEX callbacks_queue_created ON callbacks (queue_id, created_at DESC, id DESC);
CREATE INDEX attempts_ended ON attempts (ended_at) WHERE ended_at IS NOT NULL;
CREATE INDEX callback_events_at ON callback_events (at, to_state);

-- A NOTIFY serialises commits (PostgreSQL takes one lock for the notification queue), and a callback due
-- later than a few seconds from now is found by the scheduler's poll (every second) anyway: wake schedulers
-- only for what is due within 5 seconds.
CREATE OR REPLACE FUNCTION callbacks_notify_due() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    earliest timestamptz;
BEGIN
    SELECT min(due_at) INTO earliest FROM written
        WHERE state IN ('scheduled', 'queued') AND lease_owner IS NULL;
    IF earliest IS NOT NULL AND earliest <= clock_timestamp() + interval '5 seconds' THEN
        PERFORM pg_notify('cbdialer_due', extract(epoch FROM earliest)::text);
    END IF;
    RETURN NULL;
END;
$$;
