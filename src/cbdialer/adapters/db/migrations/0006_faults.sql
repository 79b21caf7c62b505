-- Faults (docs/design.md sections 4 and 8): the line's result is durable the moment it is heard, and a queue's
-- pacing and an agent's reservation hold across every dialer process.

-- When the line's result was heard (the CbdialerResult), written at once, by whichever process heard it,
-- before any wrap-up; and the attempt's queue.
ALTER TABLE attempts ADD COLUMN result_at timestamptz, ADD COLUMN queue_id text;
UPDATE attempts a SET queue_id = c.queue_id FROM callbacks c WHERE c.id = a.callback_id;

-- The old outcome-unknown path left some attempts of finished callbacks without an end: ended now, so that
-- nothing takes them for live calls.
UPDATE attempts a SET ended_at = now(), interaction_state = 'ended'
FROM callbacks c WHERE c.id = a.callback_id AND a.ended_at IS NULL AND c.state <> 'in_progress';

-- A queue's dial slots (max_concurrent_calls across processes): a start takes a free one (attempt_id NULL)
-- with SKIP LOCKED, so concurrent starts never wait for each other; the attempt's end frees it (attempt_end).
-- Free means the column itself, which a concurrent start's update is re-checked against: a condition on
-- another table would be read in the start's older snapshot and could give one slot out twice.
CREATE TABLE queue_slots (
    queue_id    text    NOT NULL REFERENCES queues (id) ON DELETE CASCADE,
    slot        integer NOT NULL,
    attempt_id  uuid    REFERENCES attempts (id) ON DELETE SET NULL,
    PRIMARY KEY (queue_id, slot)
);
CREATE INDEX queue_slots_attempt ON queue_slots (attempt_id) WHERE attempt_id IS NOT NULL;

-- calls_per_second across processes: the virtual time of the queue's next dial (GCRA).
ALTER TABLE queues ADD COLUMN next_dial_at timestamptz;

-- docs/design.md section 4, steps 1 and 2, committed before any Originate, for every dialer process at once:
-- the callback must still be queued and leased to the caller; the queue must have a dial slot (a free row of
-- queue_slots below max_concurrent_calls, and calls_per_second not exceeded); the agent must be free. Then
-- the agent is reserved, the slot taken, the attempt written, the callback moved to in_progress, with its
-- audit line. calls_per_second is read first and its virtual time moved last, so the queue's row is locked
-- only for the end of the transaction; starts that race may each take a dial at once, and the virtual time
-- then holds the next ones back, so the rate holds over time.
-- Outcome: started, not_ours (the callback changed hands), no_slot, agent_taken.
CREATE FUNCTION cbdialer_start_attempt(p_callback uuid, p_attempt uuid, p_agent text, p_owner uuid,
                                       p_now timestamptz, p_lease interval, p_reserve_until timestamptz,
                                       p_actor text, p_max_calls integer, p_calls_per_second float8)
RETURNS TABLE (outcome text, started callbacks) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    c callbacks;
    queue_next timestamptz;
    free_slot integer;
    step interval := make_interval(secs => 1.0 / p_calls_per_second);
    burst integer := greatest(1, floor(p_calls_per_second)::integer);
BEGIN
    SELECT * INTO c FROM callbacks WHERE id = p_callback AND state = 'queued' AND lease_owner = p_owner;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_ours'::text, NULL::callbacks;
        RETURN;
    END IF;
    SELECT next_dial_at INTO queue_next FROM queues WHERE id = c.queue_id;
    IF queue_next IS NOT NULL AND queue_next - p_now > step * (burst - 1) THEN
        RETURN QUERY SELECT 'no_slot'::text, NULL::callbacks;
        RETURN;
    END IF;
    FOR round IN 1..2 LOOP  -- a second round after creating missing slots and freeing forgotten ones
        SELECT s.slot INTO free_slot FROM queue_slots s
        WHERE s.queue_id = c.queue_id AND s.slot < p_max_calls AND s.attempt_id IS NULL
        ORDER BY s.slot LIMIT 1 FOR UPDATE SKIP LOCKED;
        -- A lowered max_concurrent_calls: the calls in the slots above it count until they end.
        IF free_slot IS NOT NULL AND (SELECT count(*) FROM queue_slots
                                      WHERE queue_id = c.queue_id AND attempt_id IS NOT NULL) >= p_max_calls THEN
            free_slot := NULL;
        END IF;
        EXIT WHEN free_slot IS NOT NULL OR round = 2;
        INSERT INTO queue_slots (queue_id, slot)
        SELECT c.queue_id, g FROM generate_series(0, p_max_calls - 1) AS g ON CONFLICT DO NOTHING;
        -- Only attempts seen ended: one started by a transaction not yet visible here is never freed.
        UPDATE queue_slots s SET attempt_id = NULL
        WHERE s.queue_id = c.queue_id AND s.attempt_id IS NOT NULL
          AND EXISTS (SELECT 1 FROM attempts t WHERE t.id = s.attempt_id AND t.ended_at IS NOT NULL);
    END LOOP;
    IF free_slot IS NULL THEN
        RETURN QUERY SELECT 'no_slot'::text, NULL::callbacks;
        RETURN;
    END IF;
    UPDATE agents SET reserved_for = p_attempt, reserved_until = p_reserve_until
    WHERE id = p_agent AND ready
      AND (reserved_for IS NULL OR reserved_until <= p_now)
      AND (wrap_up_until IS NULL OR wrap_up_until <= p_now);
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'agent_taken'::text, NULL::callbacks;
        RETURN;
    END IF;
    UPDATE callbacks SET state = 'in_progress', reason = 'dialing', due_at = p_now + p_lease,
        assigned_agent = NULL, assigned_at = NULL, updated_at = p_now, version = version + 1
    WHERE id = p_callback AND state = 'queued' AND lease_owner = p_owner
    RETURNING * INTO c;
    IF NOT FOUND THEN  -- changed hands since the first read: give the agent back
        UPDATE agents SET reserved_for = NULL, reserved_until = NULL WHERE id = p_agent AND reserved_for = p_attempt;
        RETURN QUERY SELECT 'not_ours'::text, NULL::callbacks;
        RETURN;
    END IF;
    INSERT INTO attempts (id, callback_id, queue_id, agent_id, owner, started_at, interaction_state)
    VALUES (p_attempt, p_callback, c.queue_id, p_agent, p_owner, p_now, 'offered');
    UPDATE queue_slots SET attempt_id = p_attempt WHERE queue_id = c.queue_id AND slot = free_slot;
    INSERT INTO callback_events (callback_id, at, from_state, to_state, reason, actor, due_at)
    VALUES (p_callback, p_now, 'queued', 'in_progress', 'dialing', p_actor, c.due_at);
    UPDATE queues SET next_dial_at = greatest(coalesce(next_dial_at, p_now), p_now) + step WHERE id = c.queue_id;
    RETURN QUERY SELECT 'started'::text, c;
END;
$$;
