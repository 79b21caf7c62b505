-- Faults (DESIGN.md sections 4 and 8): the line's result is durable the moment it is heard, and a queue's
-- pacing and an agent's reservation hold across every dialer process.

-- When the line's result was heard (the CbdialerResult), written at once, by whichever process heard it,
-- before any wrap-up; the attempt's queue, so that its live calls can be counted.
ALTER TABLE attempts ADD COLUMN result_at timestamptz, ADD COLUMN queue_id text;
UPDATE attempts a SET queue_id = c.queue_id FROM callbacks c WHERE c.id = a.callback_id;
CREATE INDEX attempts_live ON attempts (queue_id) WHERE ended_at IS NULL;

-- calls_per_second across processes: the virtual time of the queue's next dial (GCRA).
ALTER TABLE queues ADD COLUMN next_dial_at timestamptz;

-- DESIGN.md section 4, steps 1 and 2, committed before any Originate, for every dialer process at once:
-- the callback must still be queued and leased to the caller; the queue must have a dial slot (fewer live
-- calls than max_concurrent_calls, and calls_per_second not exceeded); the agent must be free. Then the agent
-- is reserved, the attempt written, the callback moved to in_progress, with its audit line. The queue's row
-- is locked first: it serialises the starts of one queue, and the count of live calls, read after the lock
-- (each statement of a function sees what was committed before it), is then exact.
-- Outcome: started, not_ours (the callback changed hands), no_slot, agent_taken.
CREATE FUNCTION cbdialer_start_attempt(p_callback uuid, p_attempt uuid, p_agent text, p_owner uuid,
                                       p_now timestamptz, p_lease interval, p_reserve_until timestamptz,
                                       p_actor text, p_max_calls integer, p_calls_per_second float8)
RETURNS TABLE (outcome text, started callbacks) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    c callbacks;
    queue_next timestamptz;
    live integer;
    step interval := make_interval(secs => 1.0 / p_calls_per_second);
    burst integer := greatest(1, floor(p_calls_per_second)::integer);
BEGIN
    SELECT * INTO c FROM callbacks WHERE id = p_callback AND state = 'queued' AND lease_owner = p_owner;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_ours'::text, NULL::callbacks;
        RETURN;
    END IF;
    SELECT next_dial_at INTO queue_next FROM queues WHERE id = c.queue_id FOR UPDATE;
    SELECT count(*) INTO live FROM attempts WHERE queue_id = c.queue_id AND ended_at IS NULL;
    IF live >= p_max_calls OR (queue_next IS NOT NULL AND queue_next - p_now > step * (burst - 1)) THEN
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
    UPDATE queues SET next_dial_at = greatest(coalesce(next_dial_at, p_now), p_now) + step WHERE id = c.queue_id;
    INSERT INTO attempts (id, callback_id, queue_id, agent_id, owner, started_at, interaction_state)
    VALUES (p_attempt, p_callback, c.queue_id, p_agent, p_owner, p_now, 'offered');
    INSERT INTO callback_events (callback_id, at, from_state, to_state, reason, actor, due_at)
    VALUES (p_callback, p_now, 'queued', 'in_progress', 'dialing', p_actor, c.due_at);
    RETURN QUERY SELECT 'started'::text, c;
END;
$$;
