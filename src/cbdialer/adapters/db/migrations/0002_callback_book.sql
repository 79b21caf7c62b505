-- The callback book (docs/design.md sections 3, 5-8): queues, agents and teams, callbacks with their leases,
-- attempts, the audit trail of every state change, and the DNC and exclusion lists.

CREATE TABLE queues (
    id          text PRIMARY KEY,
    name        text        NOT NULL,
    status      text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'off_schedule', 'stopped')),
    settings    jsonb       NOT NULL DEFAULT '{}'::jsonb,
    skills      text[]      NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE teams (
    id    text PRIMARY KEY,
    name  text NOT NULL
);

CREATE TABLE agents (
    id               text PRIMARY KEY,
    dial_string      text        NOT NULL,
    skills           text[]      NOT NULL DEFAULT '{}',
    ready            boolean     NOT NULL DEFAULT true,
    -- Reservation: one live offer per agent, across dialer processes (docs/design.md section 4, step 1).
    reserved_for     uuid,
    reserved_until   timestamptz,
    wrap_up_until    timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE agent_queues (
    agent_id  text NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    queue_id  text NOT NULL REFERENCES queues (id) ON DELETE CASCADE,
    PRIMARY KEY (agent_id, queue_id)
);

CREATE TABLE agent_teams (
    agent_id  text NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    team_id   text NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    PRIMARY KEY (agent_id, team_id)
);

CREATE TABLE callbacks (
    id                 uuid PRIMARY KEY,
    queue_id           text        NOT NULL REFERENCES queues (id),
    destination        text        NOT NULL,
    type               text        NOT NULL CHECK (type IN ('standard', 'campaign', 'agent', 'strict_agent')),
    state              text        NOT NULL CHECK (state IN ('scheduled', 'queued', 'in_progress', 'waiting_for_queue',
                           'completed', 'failed', 'expired', 'cancelled', 'cancelled_by_inbound', 'overwritten',
                           'contact_excluded', 'purged', 'queue_terminated')),
    reason             text        NOT NULL,
    -- When it is next looked at: its start, a postponement, a recall, or its lease's expiry while claimed.
    due_at             timestamptz NOT NULL,
    start_at           timestamptz NOT NULL,
    end_at             timestamptz NOT NULL CHECK (end_at > start_at),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    agent_id           text,
    team_id            text,
    created_by         text,
    customer_timezone  text,
    remark             text        NOT NULL DEFAULT '',
    attempts_count     integer     NOT NULL DEFAULT 0 CHECK (attempts_count >= 0),
    network_failures   integer     NOT NULL DEFAULT 0,
    strict_retries     integer     NOT NULL DEFAULT 0,
    completion_status  text,
    -- The lease: who holds it; its expiry is due_at, so an expired lease simply makes the callback due again.
    lease_owner        uuid,
    claimed_at         timestamptz,
    version            integer     NOT NULL DEFAULT 0
);

-- The claim's index: only callbacks that can fall due are in it, so the due query stays O(log n) however
-- many finished callbacks are kept.
CREATE INDEX callbacks_due ON callbacks (due_at) WHERE state IN ('scheduled', 'queued', 'in_progress');
-- The overwrite and inbound-cancel look-ups: active callbacks of one contact.
CREATE INDEX callbacks_contact ON callbacks (destination)
    WHERE state IN ('scheduled', 'queued', 'in_progress', 'waiting_for_queue');
CREATE INDEX callbacks_owner ON callbacks (lease_owner) WHERE lease_owner IS NOT NULL;
CREATE INDEX callbacks_queue_state ON callbacks (queue_id, state);

CREATE TABLE callback_events (
    id           bigserial PRIMARY KEY,
    callback_id  uuid        NOT NULL REFERENCES callbacks (id) ON DELETE CASCADE,
    at           timestamptz NOT NULL,
    from_state   text,
    to_state     text        NOT NULL,
    reason       text        NOT NULL,
    actor        text        NOT NULL,
    due_at       timestamptz
);
CREATE INDEX callback_events_callback ON callback_events (callback_id, id);

CREATE TABLE attempts (
    id                 uuid PRIMARY KEY,
    callback_id        uuid        NOT NULL REFERENCES callbacks (id) ON DELETE CASCADE,
    agent_id           text,
    owner              uuid        NOT NULL,
    started_at         timestamptz NOT NULL,
    ended_at           timestamptz,
    interaction_state  text        NOT NULL DEFAULT 'offered',
    completion_status  text,
    dial_status        text,
    hangup_cause       integer,
    amd_status         text,
    counted            boolean
);
CREATE INDEX attempts_callback ON attempts (callback_id, started_at);

CREATE TABLE dnc_numbers (
    number    text PRIMARY KEY,
    added_at  timestamptz NOT NULL DEFAULT now(),
    added_by  text
);

CREATE TABLE excluded_numbers (
    number    text PRIMARY KEY,
    added_at  timestamptz NOT NULL DEFAULT now(),
    added_by  text
);

-- Wake the schedulers when callbacks are written with a due time: one notification per statement (a bulk
-- load sends one, not a million), carrying the earliest due time written. A lost notification only delays:
-- schedulers also poll, and sleep until the earliest due time they know of.
CREATE FUNCTION callbacks_notify_due() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    earliest timestamptz;
BEGIN
    SELECT min(due_at) INTO earliest FROM written
        WHERE state IN ('scheduled', 'queued') AND lease_owner IS NULL;
    IF earliest IS NOT NULL THEN
        PERFORM pg_notify('cbdialer_due', extract(epoch FROM earliest)::text);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER callbacks_due_on_insert AFTER INSERT ON callbacks
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION callbacks_notify_due();
CREATE TRIGGER callbacks_due_on_update AFTER UPDATE ON callbacks
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION callbacks_notify_due();
