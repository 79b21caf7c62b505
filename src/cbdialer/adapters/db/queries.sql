-- Every SQL statement of cbdialer outside the migrations, by name (`-- name: NAME`), in one block per resource
-- (the store module that runs them is named in each block's heading). Only the db adapter reads this file.
-- Why one file of this length: the project keeps all of its SQL in one place, so that a reader (or a reviewer
-- of a schema change) sees every statement that touches a table together with the others.
-- Sets of states and types come from the domain as parameters; only where a partial index needs its own
-- predicate written out does a query list them (tests/unit/test_db_files.py holds those to the domain's).


-- ==== the schema and the dialer nodes (database.py) =============================================================

-- name: create_database
-- {database} is replaced by the quoted identifier (an identifier cannot be a bind parameter).
CREATE DATABASE {database};

-- name: migrations_lock
-- One migrator at a time, across processes; released at commit.
SELECT pg_advisory_xact_lock(hashtext('cbdialer.migrate'));

-- name: migrations_table
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    name        text        NOT NULL,
    checksum    text        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);

-- name: migrations_applied
SELECT version, name, checksum FROM schema_migrations ORDER BY version;

-- name: migrations_record
INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3);

-- name: ping
-- /healthz and the tasks' probe: one round trip that touches no table.
SELECT 1;

-- name: migrations_table_exists
SELECT to_regclass('schema_migrations') IS NOT NULL;

-- name: node_register
INSERT INTO dialer_nodes (id, hostname, pid, version) VALUES ($1, $2, $3, $4);

-- name: node_heartbeat
UPDATE dialer_nodes SET heartbeat_at = now() WHERE id = $1 AND stopped_at IS NULL RETURNING heartbeat_at;

-- name: node_stopped
UPDATE dialer_nodes SET stopped_at = now() WHERE id = $1 AND stopped_at IS NULL;

-- name: nodes_live
-- Which of these processes are alive: not stopped, a heartbeat at most $2 old (store/nodes.py).
SELECT id FROM dialer_nodes WHERE id = ANY($1::uuid[]) AND stopped_at IS NULL AND heartbeat_at > now() - $2::interval;


-- ==== callbacks: the book, claims, leases, search and edits (store/callbacks.py) ================================

-- name: callback_insert_overwriting
-- A new callback, and the older ones of the same contact and queue that it overwrites (docs/design.md section 3:
-- those in the states the domain names, $17; none for an empty list) moved to overwritten, each change with
-- its audit line, in one statement.
WITH created AS (
    INSERT INTO callbacks (id, queue_id, destination, type, state, reason, due_at, start_at, end_at, created_at,
                           updated_at, agent_id, team_id, created_by, customer_timezone, remark, origin, joined_at,
                           slot, recording)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $12, $13, $14, $15, $18, $19, $20, $21)
    RETURNING *
), older AS (
    SELECT id, state AS old_state FROM callbacks
    WHERE destination = $3 AND queue_id = $2 AND state = ANY ($17::text[]) AND id <> $1
    FOR UPDATE
), overwritten AS (
    UPDATE callbacks c SET state = 'overwritten', reason = 'overwritten', lease_owner = NULL, assigned_agent = NULL,
        assigned_at = NULL, updated_at = $10, version = c.version + 1
    FROM older o
    WHERE c.id = o.id
    RETURNING c.id, c.due_at, o.old_state
), audit AS (
    INSERT INTO callback_events (callback_id, at, from_state, to_state, reason, actor, due_at)
    SELECT id, created_at, NULL, state, reason, $16, due_at FROM created
    UNION ALL
    SELECT id, $10, old_state, 'overwritten', 'overwritten', $16, due_at FROM overwritten
)
SELECT * FROM created;

-- name: callback_get
SELECT * FROM callbacks WHERE id = $1;

-- name: callbacks_claim_due
-- The claim (docs/design.md section 8): due callbacks in due order, skipping rows another process is claiming.
-- The lease's expiry is written as due_at, so a callback whose holder died falls due again by itself.
WITH due AS (
    SELECT id, state AS old_state, due_at AS old_due_at FROM callbacks
    WHERE state IN ('scheduled', 'queued', 'in_progress') AND due_at <= $1
    ORDER BY due_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE callbacks c SET
        state = CASE WHEN c.state = 'scheduled' THEN 'queued' ELSE c.state END,
        reason = CASE WHEN c.state = 'scheduled' THEN 'due' ELSE c.reason END,
        lease_owner = $3, claimed_at = $1, due_at = $1 + $4::interval, updated_at = $1, version = c.version + 1,
        -- when it fell due, for the lateness metric: kept through this turn's waits and re-claims (0017)
        due_since = CASE WHEN c.state = 'scheduled' THEN due.old_due_at ELSE c.due_since END
    FROM due
    WHERE c.id = due.id
    RETURNING c.*, due.old_state, due.old_due_at
), audit AS (
    INSERT INTO callback_events (callback_id, at, from_state, to_state, reason, actor, due_at)
    SELECT id, $1, old_state, state, 'due', $5, due_at FROM claimed WHERE old_state = 'scheduled'
)
SELECT * FROM claimed;

-- name: callback_transition
-- A guarded transition: it happens only if the callback is still in the expected state (and, for a
-- scheduler, still leased to it); zero rows means someone else won.
WITH changed AS (
    UPDATE callbacks SET
        state = $3, reason = $4, due_at = COALESCE($5, due_at),
        attempts_count = COALESCE($6, attempts_count), network_failures = COALESCE($7, network_failures),
        strict_retries = COALESCE($8, strict_retries), completion_status = COALESCE($9, completion_status),
        lease_owner = CASE WHEN $10 THEN lease_owner END,
        -- $14: whether to change the agent whose own callback queue it waits in ($15, NULL for none); it
        -- keeps its place when it stays with the same agent.
        assigned_at = CASE WHEN NOT $14 THEN assigned_at WHEN $15::text IS NULL THEN NULL
                           WHEN assigned_agent IS NOT DISTINCT FROM $15::text THEN assigned_at ELSE $11 END,
        assigned_agent = CASE WHEN $14 THEN $15::text ELSE assigned_agent END,
        end_at = COALESCE($16, end_at),
        -- $17: whether to set the agent who pressed Call Now to $18 (NULL: nobody's); a trigger clears it once
        -- the callback is in a call
        call_now_agent = CASE WHEN $17 THEN $18::text ELSE call_now_agent END,
        updated_at = $11, version = version + 1
    WHERE id = $1 AND state = $2 AND ($12::uuid IS NULL OR lease_owner = $12)
    RETURNING *
), audit AS (
    INSERT INTO callback_events (callback_id, at, from_state, to_state, reason, actor, due_at)
    SELECT id, $11, $2, state, reason, $13, due_at FROM changed
)
SELECT * FROM changed;

-- name: callbacks_extend_leases
-- The heartbeat: this process's leases, and the reservations of the agents on its live calls, which last as
-- long as the call (docs/design.md section 8). A reservation outlives the lease by one more lease, so that a
-- call whose holder died is taken over before its agent can be offered another call.
-- $4: the callbacks whose calls this process holds (NULL: all). An in-progress callback of this process that
-- it does not hold (its start's answer was lost with a connection) is not extended: it falls due, and a
-- takeover (this process's own, or another's) looks at its line.
WITH leased AS (
    UPDATE callbacks SET due_at = $2::timestamptz + $3::interval
    WHERE lease_owner = $1
      AND (state = 'queued' OR (state = 'in_progress' AND ($4::uuid[] IS NULL OR id = ANY ($4::uuid[]))))
    RETURNING id, state
), reserved AS (
    UPDATE agents a SET reserved_until = greatest(a.reserved_until, $2::timestamptz + 2 * $3::interval)
    FROM attempts t JOIN leased l ON l.id = t.callback_id AND l.state = 'in_progress'
    WHERE a.reserved_for = t.id AND t.ended_at IS NULL
)
SELECT count(*) FROM leased;

-- name: callbacks_release_leases
-- A clean stop: what this process claimed but did not start falls due again at once.
UPDATE callbacks SET lease_owner = NULL, due_at = $2
WHERE lease_owner = $1 AND state = 'queued';

-- name: callbacks_next_due
SELECT min(due_at) FROM callbacks WHERE state IN ('scheduled', 'queued', 'in_progress');

-- name: callback_history
SELECT at, from_state, to_state, reason, actor, due_at FROM callback_events WHERE callback_id = $1 ORDER BY id;

-- name: callbacks_active_for_contact
SELECT * FROM callbacks
WHERE destination = $1 AND ($2::text IS NULL OR queue_id = $2)
  AND state IN ('scheduled', 'queued', 'in_progress', 'waiting_for_queue')
ORDER BY created_at;

-- name: callbacks_watch
-- The live table: what is active, and what changed recently, with the last attempt's agent and state.
SELECT c.id, c.queue_id, c.destination, c.state, c.reason, c.completion_status, c.attempts_count, c.due_at,
       c.updated_at, a.agent_id, a.interaction_state
FROM callbacks c
LEFT JOIN LATERAL (
    SELECT agent_id, interaction_state FROM attempts WHERE callback_id = c.id ORDER BY started_at DESC LIMIT 1
) a ON true
WHERE c.state IN ('queued', 'in_progress') OR c.updated_at > $1
ORDER BY c.created_at, c.id
LIMIT $2;

-- name: idempotency_get
SELECT request_hash, callback_id FROM idempotency_keys WHERE token_id = $1 AND key = $2;

-- name: idempotency_insert
INSERT INTO idempotency_keys (token_id, key, request_hash, callback_id) VALUES ($1, $2, $3, $4);

-- name: plan_each_call
-- For statements with optional filters: a generic plan would have to serve every combination of them.
SET LOCAL plan_cache_mode = force_custom_plan;

-- name: callbacks_search
-- Newest first, with a (created_at, id) cursor; every filter optional. $12/$13/$15: an agent's scope (its own,
-- those it is the target of or waits for, its teams', and the callbacks of the queues it serves whose type
-- is standard or campaign, $16: the domain's QUEUE_TYPES, and still active, $17: the domain's ACTIVE_STATES).
-- A due time ($8, $9) is that of callbacks waiting to fall due ($18: the domain's DUE_WAITING_STATES; an ended
-- one's is only its last), so the callbacks_due index finds a narrow period. Planned per call (plan_each_call),
-- so an absent filter costs nothing and the best index is used.
SELECT * FROM callbacks
WHERE ($1::text IS NULL OR state = $1)
  AND ($2::text IS NULL OR queue_id = $2)
  AND ($3::text IS NULL OR agent_id = $3)
  AND ($4::text IS NULL OR created_by = $4)
  AND ($5::text IS NULL OR destination = $5)
  AND ($6::timestamptz IS NULL OR created_at >= $6)
  AND ($7::timestamptz IS NULL OR created_at < $7)
  AND ($8::timestamptz IS NULL OR due_at >= $8)
  AND ($9::timestamptz IS NULL OR due_at < $9)
  AND (($8::timestamptz IS NULL AND $9::timestamptz IS NULL) OR state = ANY ($18::text[]))
  -- The same bounds on the expression PostgreSQL keeps statistics of (migration 0019), for its estimate.
  AND ($8::timestamptz IS NULL OR (CASE WHEN state IN ('scheduled', 'queued') THEN due_at END) >= $8)
  AND ($9::timestamptz IS NULL OR (CASE WHEN state IN ('scheduled', 'queued') THEN due_at END) < $9)
  AND ($10::timestamptz IS NULL OR (created_at, id) < ($10, $11::uuid))
  AND ($12::text IS NULL OR created_by = $12 OR agent_id = $12 OR assigned_agent = $12
       OR team_id = ANY ($13::text[])
       OR (queue_id = ANY ($15::text[]) AND type = ANY ($16::text[]) AND state = ANY ($17::text[])))
ORDER BY created_at DESC, id DESC
LIMIT $14;

-- name: callback_edit
-- A person's edit of a waiting callback (never one in a live attempt), guarded by the state and due time it
-- was read with ($2, $14: every requeue, hold or lease moves the due time), so an edit made on a stale read
-- fails instead of undoing what happened meanwhile. A queued one goes back to scheduled and leaves its
-- scheduler's lease, and it leaves any agent's own callback queue (routing places it again when it is due).
-- Audited as rescheduled.
WITH changed AS (
    UPDATE callbacks SET
        start_at = $3, due_at = CASE WHEN state = 'waiting_for_queue' THEN due_at ELSE $4 END, end_at = $5,
        remark = $6, agent_id = $7, team_id = $8, customer_timezone = $9, type = $10, destination = $11, slot = $15,
        state = CASE WHEN state = 'queued' THEN 'scheduled' ELSE state END,
        reason = 'rescheduled', lease_owner = NULL, assigned_agent = NULL, assigned_at = NULL,
        call_now_agent = NULL, agent_wait_since = NULL,
        updated_at = $12, version = version + 1
    WHERE id = $1 AND state = $2 AND due_at = $14 AND state IN ('scheduled', 'queued', 'waiting_for_queue')
    RETURNING *
), audit AS (
    INSERT INTO callback_events (callback_id, at, from_state, to_state, reason, actor, due_at)
    SELECT id, $12, $2, state, 'rescheduled', $13, due_at FROM changed
)
SELECT * FROM changed;


-- name: slot_lock
-- A booking's lock of its (queue, slot) (migration 0012): the row is made if new and locked either way, held to
-- the end of the create's transaction.
INSERT INTO callback_slots (queue_id, slot_start) VALUES ($1, $2)
ON CONFLICT (queue_id, slot_start) DO UPDATE SET slot_start = EXCLUDED.slot_start;

-- name: slot_booked
-- A slot's bookings: its active callbacks ($3, the domain's active states), but the one being updated ($4);
-- any booked within the slot [$2, $5) counts, so a changed slot length or start never hides an older booking.
SELECT count(*) FROM callbacks
WHERE queue_id = $1 AND slot >= $2 AND slot < greatest($5, $2 + interval '1 microsecond')
  AND state = ANY ($3::text[]) AND id <> $4;

-- name: slots_booked
-- The bookings of each slot of a queue that starts in [$2, $3).
SELECT slot, count(*) AS booked FROM callbacks
WHERE queue_id = $1 AND slot >= $2 AND slot < $3 AND state = ANY ($4::text[])
GROUP BY slot;

-- name: caller_callbacks_lock
-- The lock of a queue's caller callbacks, to the end of the create's transaction: one caller's request at a
-- time per queue finds the first request of its number and counts the pending ones.
SELECT pg_advisory_xact_lock(hashtextextended('cbdialer.caller_callbacks.' || $1, 0));

-- name: caller_callback_first
-- The pending caller-callback of a number and queue ($3: the pending states), locked for its update.
SELECT * FROM callbacks
WHERE queue_id = $1 AND destination = $2 AND origin = 'caller' AND state = ANY ($3::text[])
ORDER BY created_at, id LIMIT 1
FOR UPDATE;

-- name: caller_callbacks_pending
SELECT count(*) FROM callbacks WHERE queue_id = $1 AND origin = 'caller' AND state = ANY ($2::text[]);

-- name: caller_callback_recording
-- A caller's second request that recorded something: its recording replaces the first's (domain/caller.py),
-- in the create's transaction, after the edit that took the rest (migration 0014).
UPDATE callbacks SET recording = $2 WHERE id = $1 RETURNING *;


-- ==== attempts: start, result, end, dispositions, waits (store/attempts.py) =====================================

-- name: callback_wait
-- Due, and waiting (for a dial slot, or in a busy agent's own callback queue, $6/$7): it stays queued, its
-- lease is handed back and it falls due again at $4, for any process. Audited only when the reason or the
-- agent it waits for changes, so a long wait writes O(1) audit lines, not one per retry.
WITH old AS (
    SELECT id, reason AS old_reason, assigned_agent AS old_agent FROM callbacks
    WHERE id = $1 AND state = 'queued' AND lease_owner = $2
), changed AS (
    UPDATE callbacks c SET reason = $3, due_at = $4, lease_owner = NULL,
        assigned_at = CASE WHEN NOT $6 THEN c.assigned_at WHEN $7::text IS NULL THEN NULL
                           WHEN c.assigned_agent IS NOT DISTINCT FROM $7::text THEN c.assigned_at ELSE $5 END,
        assigned_agent = CASE WHEN $6 THEN $7::text ELSE c.assigned_agent END,
        -- an agent callback waiting for its own named agent: since when (the first such wait counts)
        agent_wait_since = CASE WHEN $6 AND c.type = 'agent' AND $7::text = c.agent_id
                                THEN COALESCE(c.agent_wait_since, $5) ELSE c.agent_wait_since END,
        updated_at = $5, version = c.version + 1
    FROM old
    WHERE c.id = old.id AND c.state = 'queued' AND c.lease_owner = $2
    RETURNING c.*, old.old_reason, old.old_agent
), audit AS (
    INSERT INTO callback_events (callback_id, at, from_state, to_state, reason, actor, due_at)
    SELECT id, $5, 'queued', 'queued', reason, $8, due_at FROM changed
    WHERE old_reason IS DISTINCT FROM reason OR old_agent IS DISTINCT FROM assigned_agent
)
SELECT * FROM changed;

-- name: callback_lease_return
-- A taken-over call whose line cannot be seen now (Asterisk did not answer): the lease goes back and the
-- callback falls due again at $3, for this process or another to look again. Nothing is decided.
UPDATE callbacks SET lease_owner = NULL, due_at = $3
WHERE id = $1 AND lease_owner = $2 AND state = 'in_progress'
RETURNING id;

-- name: agent_release
UPDATE agents SET reserved_for = NULL, reserved_until = NULL, wrap_up_until = $3, idle_since = $3
WHERE id = $1 AND reserved_for = $2;

-- name: attempt_start
-- docs/design.md section 4, steps 1 and 2 in one statement, committed before any Originate: see the function
-- cbdialer_start_attempt (migration 0006). $9, $10: the queue's max_concurrent_calls and calls_per_second,
-- held across every dialer process. The callback's lease ($6) is now the attempt's.
SELECT outcome, (started).* FROM cbdialer_start_attempt($1, $2, $3, $4, $5, $6, $7, $8, $9, $10);

-- name: attempt_states
-- Interaction states of live attempts, many at once ($1 ids, $2 states). A state only moves forward (offered,
-- preview, dialing, handling, wrap_up: the domain's order, $3) and never after the attempt ended, so writes that arrive late or out of
-- order change nothing. Watchers (the live table) hear of it too.
WITH changed AS (
    UPDATE attempts a SET interaction_state = s.state
    FROM unnest($1::uuid[], $2::text[]) AS s (id, state)
    WHERE a.id = s.id AND a.ended_at IS NULL
      AND array_position($3::text[], s.state) > array_position($3::text[], a.interaction_state)
    RETURNING a.id
)
SELECT pg_notify('cbdialer_changed', '') WHERE EXISTS (SELECT 1 FROM changed);

-- name: attempt_end
-- An attempt ends once (the first report wins, by ended_at); only the attempt that ends here moves its
-- callback out of in_progress (guarded by state and lease, with its audit line); the agent's reservation for
-- this attempt is released in any case, with the wrap-up time ($9) before the next offer.
WITH finished AS (
    UPDATE attempts SET ended_at = $2, interaction_state = 'ended', completion_status = $3,
        -- a result recorded when it was heard stands (the first record wins)
        dial_status = CASE WHEN result_at IS NULL THEN $4 ELSE dial_status END,
        hangup_cause = CASE WHEN result_at IS NULL THEN $5 ELSE hangup_cause END,
        amd_status = CASE WHEN result_at IS NULL THEN $6 ELSE amd_status END,
        result_at = COALESCE(result_at, CASE WHEN $4::text <> '' THEN $2::timestamptz END), counted = $7
    WHERE id = $1 AND ended_at IS NULL
    RETURNING callback_id
), released AS (
    UPDATE agents SET reserved_for = NULL, reserved_until = NULL, wrap_up_until = $9, idle_since = $9
    WHERE id = $8 AND reserved_for = $1
), slot_freed AS (
    UPDATE queue_slots SET attempt_id = NULL WHERE attempt_id = $1 AND EXISTS (SELECT 1 FROM finished)
), changed AS (
    UPDATE callbacks SET state = $11, reason = $12, due_at = COALESCE($13, due_at),
        attempts_count = COALESCE($14, attempts_count), network_failures = COALESCE($15, network_failures),
        completion_status = $3, end_at = COALESCE($16, end_at), lease_owner = NULL,
        -- $18: callback_requested for a particular agent (seed 002): it becomes that agent's callback
        type = CASE WHEN $18::text IS NULL THEN type ELSE 'agent' END, agent_id = COALESCE($18::text, agent_id),
        team_id = CASE WHEN $18::text IS NULL THEN team_id END,
        -- $19: the next turn tries the named agent again (a retry), or it stays with the queue if it fell back
        agent_wait_since = CASE WHEN $19 THEN NULL ELSE agent_wait_since END,
        updated_at = $2, version = version + 1
    WHERE id = (SELECT callback_id FROM finished) AND state = 'in_progress' AND lease_owner = $10
    RETURNING *
), audit AS (
    INSERT INTO callback_events (callback_id, at, from_state, to_state, reason, actor, due_at)
    SELECT id, $2, 'in_progress', state, reason, $17, due_at FROM changed
)
SELECT EXISTS (SELECT 1 FROM finished) AS finished, changed.* FROM (SELECT) AS one LEFT JOIN changed ON true;

-- name: callback_wake_for_agent
-- The agent ($1) is free again at $2 (no reservation, its wrap-up over): the callback first in its own callback
-- queue falls due now, for whichever process claims next (not at its recheck), back in its place in due order: a
-- hair before its turn fell due, so that it goes ahead of callbacks that fell due at that same instant and have
-- waited in the book since (a campaign's load falls due all at once). Run once the end that freed the agent has
-- committed, as a statement of its own, so that it sees every wait that committed before it (a wait of this
-- process's that commits after it is made due by the dialer itself: AgentBoard.freed_count).
UPDATE callbacks w SET due_at = LEAST($2, COALESCE(w.due_since, $2)) - interval '1 millisecond', updated_at = $2,
    version = w.version + 1
WHERE w.id = (SELECT id FROM callbacks WHERE assigned_agent = $1 AND state = 'queued' ORDER BY assigned_at, id LIMIT 1)
  AND w.state = 'queued' AND w.lease_owner IS NULL AND w.reason = 'dial_slot_unavailable' AND w.due_at > $2
  AND EXISTS (SELECT 1 FROM agents WHERE id = $1 AND reserved_for IS NULL AND (wrap_up_until IS NULL OR wrap_up_until <= $2))
RETURNING id;

-- name: attempt_record_result
-- The line's result, durable the moment it is heard (docs/design.md section 4, step 5), by the attempt's holder:
-- written on the attempt once (the first record wins), the attempt into wrap_up (a disposition is accepted
-- from then on), and the agent released into its wrap-up ($7 until $8), in one statement. The callback
-- waits for the wrap-up's end.
WITH recorded AS (
    UPDATE attempts SET
        dial_status = CASE WHEN result_at IS NULL THEN $3 ELSE dial_status END,
        hangup_cause = CASE WHEN result_at IS NULL THEN $4 ELSE hangup_cause END,
        amd_status = CASE WHEN result_at IS NULL THEN $5 ELSE amd_status END,
        result_at = COALESCE(result_at, $2), interaction_state = 'wrap_up',
        -- the status the result means ($8): the dispositions allowed in the wrap-up depend on it
        completion_status = COALESCE(completion_status, $8)
    WHERE id = $1 AND ended_at IS NULL
    RETURNING id
), released AS (
    UPDATE agents SET reserved_for = NULL, reserved_until = NULL, wrap_up_until = $7, idle_since = $7
    WHERE id = $6 AND reserved_for = $1 AND EXISTS (SELECT 1 FROM recorded)
)
SELECT pg_notify('cbdialer_changed', '') FROM recorded;

-- name: attempt_result_heard
-- A result heard for an attempt this process does not hold (another process's, or one whose holder died):
-- recorded once, for the holder or the next taker to apply (docs/design.md section 4, step 5).
UPDATE attempts SET result_at = $2, dial_status = $3, hangup_cause = $4, amd_status = $5
WHERE id = $1 AND ended_at IS NULL AND result_at IS NULL
RETURNING id;

-- name: attempt_disposition_set
-- Only while the agent wraps up the call (and, given $4, only the agent who had the call), and only after a
-- line's result that allows it ($5); the dialer applies it when the wrap-up ends. $6: the agent to call back.
UPDATE attempts SET disposition = $2, disposition_start = $3, disposition_agent = $6
WHERE callback_id = $1 AND ended_at IS NULL AND interaction_state = 'wrap_up'
  AND ($4::text IS NULL OR agent_id = $4) AND completion_status = ANY($5::text[])
RETURNING id;

-- name: attempt_disposition_take
-- The end of a wrap-up: close it (no disposition is accepted after this) and read what the agent set, in one
-- statement, so that a disposition is either applied or refused, never accepted and then lost.
UPDATE attempts SET interaction_state = 'ended'
WHERE id = $1 AND ended_at IS NULL
RETURNING disposition, disposition_start, disposition_agent;

-- name: attempts_of_callback
SELECT * FROM attempts WHERE callback_id = $1 ORDER BY started_at;


-- ==== queues (store/queues.py) ==================================================================================

-- name: queue_upsert
INSERT INTO queues (id, name, status, settings, skills) VALUES ($1, $2, $3, $4::jsonb, $5)
ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, status = EXCLUDED.status, settings = EXCLUDED.settings,
    skills = EXCLUDED.skills, updated_at = now();

-- name: queue_get
SELECT id, name, status, settings, skills FROM queues WHERE id = $1;

-- name: queues_list
SELECT * FROM queues ORDER BY id;

-- name: queue_insert
INSERT INTO queues (id, name, status, settings, skills) VALUES ($1, $2, $3, $4::jsonb, $5)
ON CONFLICT (id) DO NOTHING RETURNING id;

-- name: queue_update
UPDATE queues SET name = $2, settings = $3::jsonb, skills = $4, updated_at = now() WHERE id = $1 RETURNING id;

-- name: queue_set_status
-- A terminated queue stays so.
UPDATE queues SET status = $2, updated_at = now() WHERE id = $1 AND status <> 'terminated' RETURNING id;

-- name: queue_lock
-- The queue's status before a start, stop or save changes it, its row locked to the end of the transaction:
-- two starts at once are one start and one repeat, whichever process makes them.
SELECT status FROM queues WHERE id = $1 FOR UPDATE;

-- name: queue_run_open
-- A run of the queue (POM's job) opens when it starts; a queue that runs already keeps its open run (the
-- partial unique index queue_runs_open admits one). $2 NULL: the database's now (a queue saved whole).
INSERT INTO queue_runs (queue_id, started_at) VALUES ($1, coalesce($2::timestamptz, now()))
ON CONFLICT (queue_id) WHERE stopped_at IS NULL DO NOTHING;

-- name: queue_run_close
-- The queue stopped (or was terminated): its open run ends, never before it began.
UPDATE queue_runs SET stopped_at = greatest(coalesce($2::timestamptz, now()), started_at)
WHERE queue_id = $1 AND stopped_at IS NULL;

-- name: queue_callbacks_terminate
-- The queue is stopped for good: what waits ends as queue_terminated, each with its audit line; live
-- attempts finish, and their next due decision ends them so. $4: the states that end (the domain's).
WITH target AS (
    SELECT id, state AS old_state FROM callbacks WHERE queue_id = $1 AND state = ANY ($4::text[])
    FOR UPDATE
), changed AS (
    UPDATE callbacks c SET state = 'queue_terminated', reason = 'queue_terminated', lease_owner = NULL,
        assigned_agent = NULL, assigned_at = NULL, updated_at = $2, version = c.version + 1
    FROM target t
    WHERE c.id = t.id
    RETURNING c.id, c.due_at, t.old_state
), audit AS (
    INSERT INTO callback_events (callback_id, at, from_state, to_state, reason, actor, due_at)
    SELECT id, $2, old_state, 'queue_terminated', 'queue_terminated', $3, due_at FROM changed
)
SELECT count(*) FROM changed;

-- name: queue_callbacks_stop
-- A stopped queue's waiting callbacks wait for it (POM WaitingForJob); live attempts finish as they are.
WITH target AS (
    SELECT id, state AS old_state FROM callbacks WHERE queue_id = $1 AND state IN ('scheduled', 'queued')
    FOR UPDATE
), changed AS (
    UPDATE callbacks c SET state = 'waiting_for_queue', reason = 'queue_stopped', lease_owner = NULL,
        updated_at = $2, version = c.version + 1
    FROM target t
    WHERE c.id = t.id
    RETURNING c.id, c.due_at, t.old_state
), audit AS (
    INSERT INTO callback_events (callback_id, at, from_state, to_state, reason, actor, due_at)
    SELECT id, $2, old_state, 'waiting_for_queue', 'queue_stopped', $3, due_at FROM changed
)
SELECT count(*) FROM changed;

-- name: queue_callbacks_start
-- The queue runs again: what waited for it is scheduled, due at once if its time has come.
WITH changed AS (
    UPDATE callbacks SET state = 'scheduled', reason = 'queue_started', due_at = GREATEST(start_at, $2),
        updated_at = $2, version = version + 1
    WHERE queue_id = $1 AND state = 'waiting_for_queue'
    RETURNING id, due_at
), audit AS (
    INSERT INTO callback_events (callback_id, at, from_state, to_state, reason, actor, due_at)
    SELECT id, $2, 'waiting_for_queue', 'scheduled', 'queue_started', $3, due_at FROM changed
)
SELECT count(*) FROM changed;

-- name: queues_metrics
-- The queue monitor (seed 002): each queue's supervisor metrics since its shift began, for many queues in one
-- statement, one row per queue of $1 ($2: each one's shift start, in the same order). Seed 004's columns
-- (processed, to be processed, average handle time, purged, reached and failed) and issue 12's (callbacks live
-- now, agents ready, the shift's attempts by completion status). $3: the active states (the domain's). The
-- book is never counted: its counts are kept (migration 0018); the shift's attempts are read by their end
-- time and their own queue, the purges by their partial index.
WITH shift AS (
    SELECT * FROM unnest($1::text[], $2::timestamptz[]) AS s(queue_id, since)
), shift_attempts AS (
    SELECT a.queue_id, a.callback_id, a.dial_status, a.completion_status, a.started_at, a.ended_at
    FROM attempts a JOIN shift s ON s.queue_id = a.queue_id
    WHERE a.ended_at >= (SELECT min(since) FROM shift) AND a.ended_at >= s.since
), processed AS (
    SELECT queue_id, count(*) AS processed, count(*) FILTER (WHERE reached) AS reached FROM (
        SELECT queue_id, callback_id, bool_or(upper(coalesce(dial_status, '')) = 'ANSWER') AS reached
        FROM shift_attempts GROUP BY queue_id, callback_id) AS p
    GROUP BY queue_id
), handled AS (
    SELECT queue_id, avg(extract(epoch FROM ended_at - started_at)) AS average_handle_seconds
    FROM shift_attempts WHERE completion_status = 'handled' GROUP BY queue_id
), outcomes AS (
    SELECT queue_id, jsonb_object_agg(status, n) AS outcomes FROM (
        SELECT queue_id, completion_status AS status, count(*) AS n FROM shift_attempts
        WHERE completion_status IS NOT NULL GROUP BY 1, 2) AS o
    GROUP BY queue_id
), active AS (
    SELECT queue_id, sum(n) FILTER (WHERE state = ANY ($3::text[]))::bigint AS to_be_processed,
           sum(n) FILTER (WHERE state = 'in_progress')::bigint AS live_now
    FROM (SELECT queue_id, state, n FROM callback_counts WHERE queue_id = ANY ($1::text[])
          UNION ALL
          SELECT queue_id, state, delta FROM callback_count_changes WHERE queue_id = ANY ($1::text[])) AS k
    GROUP BY queue_id
), purged AS (
    -- Each purge's queue looked up by its callback (a probe each: there are few), never a join the planner
    -- could make a scan of the book.
    SELECT s.queue_id, count(*) AS purged FROM (
        SELECT (SELECT queue_id FROM callbacks c WHERE c.id = e.callback_id) AS queue_id, e.at
        FROM callback_events e WHERE e.to_state = 'purged' AND e.at >= (SELECT min(since) FROM shift)) AS p
    JOIN shift s ON s.queue_id = p.queue_id AND p.at >= s.since
    GROUP BY s.queue_id
), ready AS (
    SELECT q.queue_id, count(*) AS agents_ready FROM agent_queues q JOIN agents g ON g.id = q.agent_id
    WHERE q.queue_id = ANY ($1::text[]) AND g.ready GROUP BY q.queue_id
)
SELECT s.queue_id,
       coalesce(p.processed, 0) AS processed, coalesce(p.reached, 0) AS reached,
       coalesce(a.to_be_processed, 0) AS to_be_processed, h.average_handle_seconds,
       coalesce(u.purged, 0) AS purged, coalesce(a.live_now, 0) AS live_now,
       coalesce(r.agents_ready, 0) AS agents_ready, coalesce(o.outcomes, '{}'::jsonb) AS outcomes
FROM shift s
LEFT JOIN processed p USING (queue_id) LEFT JOIN handled h USING (queue_id) LEFT JOIN outcomes o USING (queue_id)
LEFT JOIN active a USING (queue_id) LEFT JOIN purged u USING (queue_id) LEFT JOIN ready r USING (queue_id);


-- name: queue_due_per_hour
-- The supervisor's chart: the queue's waiting callbacks ($4: the domain's WAITING_STATES) due before $3, by UTC
-- hour, the overdue ones in the hour of $2 (index callbacks_queue_state).
SELECT date_trunc('hour', GREATEST(due_at, $2), 'UTC') AS hour, count(*) AS due
FROM callbacks WHERE queue_id = $1 AND state = ANY ($4::text[]) AND due_at < $3
GROUP BY 1 ORDER BY 1;


-- ==== agents and teams (store/agents.py) ========================================================================

-- name: agent_upsert
INSERT INTO agents (id, dial_string, skills, name) VALUES ($1, $2, $3, $4)
ON CONFLICT (id) DO UPDATE SET dial_string = EXCLUDED.dial_string, skills = EXCLUDED.skills, name = EXCLUDED.name;

-- name: agent_queues_remove_others
DELETE FROM agent_queues WHERE agent_id = $1 AND NOT (queue_id = ANY ($2::text[]));

-- name: agent_queues_add
INSERT INTO agent_queues (agent_id, queue_id) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING;

-- name: agents_of_queue
-- The agent's name is read from its row (the routing view holds what routing needs).
SELECT r.*, a.name FROM agent_routing r JOIN agent_queues q ON q.agent_id = r.id JOIN agents a ON a.id = r.id
WHERE q.queue_id = $1 ORDER BY r.id;

-- name: agent_get
SELECT r.*, a.name FROM agent_routing r JOIN agents a ON a.id = r.id WHERE r.id = $1;

-- name: agent_set_ready
UPDATE agents SET ready = $2 WHERE id = $1 RETURNING id;

-- name: agents_list
SELECT r.*, a.name FROM agent_routing r JOIN agents a ON a.id = r.id ORDER BY r.id;

-- name: agent_insert
INSERT INTO agents (id, dial_string, skills, name) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING RETURNING id;

-- name: agent_teams_remove_others
DELETE FROM agent_teams WHERE agent_id = $1 AND NOT (team_id = ANY ($2::text[]));

-- name: agent_teams_add
INSERT INTO agent_teams (agent_id, team_id) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING;

-- name: agent_panel_count
-- $2: the callback types that name a target agent; $3: the active states (both the domain's).
SELECT count(*) FROM callbacks
WHERE (agent_id = $1 OR assigned_agent = $1 OR (created_by = $1 AND type = ANY ($2::text[])))
  AND state = ANY ($3::text[]);

-- name: agent_panel
-- The agent's own callback panel (seed 003): what waits for this agent, soonest first. $3: the callback types
-- that name a target agent; $4: the active states (both the domain's).
SELECT * FROM callbacks
WHERE (agent_id = $1 OR assigned_agent = $1 OR (created_by = $1 AND type = ANY ($3::text[])))
  AND state = ANY ($4::text[])
ORDER BY due_at, id
LIMIT $2;

-- name: teams_list
SELECT * FROM teams ORDER BY id;

-- name: team_upsert
INSERT INTO teams (id, name) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name;

-- name: team_get
SELECT * FROM teams WHERE id = $1;

-- name: teams_existing
SELECT id FROM teams WHERE id = ANY ($1::text[]);

-- name: queues_existing
SELECT id FROM queues WHERE id = ANY ($1::text[]);


-- ==== the DNC and exclusion lists (store/lists.py) ==============================================================

-- name: dnc_add
INSERT INTO dnc_numbers (number, added_by) VALUES ($1, $2) ON CONFLICT (number) DO NOTHING;

-- name: dnc_contains
SELECT EXISTS (SELECT 1 FROM dnc_numbers WHERE number = $1);

-- name: exclusion_add
INSERT INTO excluded_numbers (number, added_by) VALUES ($1, $2) ON CONFLICT (number) DO NOTHING;

-- name: numbers_restricted
-- Which of a batch's numbers are on the DNC list or the exclusion list, in one round trip.
SELECT number, 'dnc' AS list FROM dnc_numbers WHERE number = ANY ($1::text[])
UNION ALL
SELECT number, 'excluded' FROM excluded_numbers WHERE number = ANY ($1::text[]);

-- name: exclusion_contains
SELECT EXISTS (SELECT 1 FROM excluded_numbers WHERE number = $1);

-- name: dnc_remove
DELETE FROM dnc_numbers WHERE number = $1 RETURNING number;

-- name: dnc_list
SELECT number, added_at, added_by FROM dnc_numbers ORDER BY number LIMIT $1;

-- name: exclusion_remove
DELETE FROM excluded_numbers WHERE number = $1 RETURNING number;

-- name: exclusions_list
SELECT number, added_at, added_by FROM excluded_numbers ORDER BY number LIMIT $1;


-- ==== agent calls: the agents' inbound queue calls (store/calls.py) =============================================

-- name: agent_call_record
-- AgentConnect or AgentComplete, heard by every dialer process: one row per caller channel (its Uniqueid). A
-- second hearing merges: the first id, agent, queue and answer time stay, withheld once is withheld for good
-- (the number dropped), the first end stays. The agent's older calls not ended end at this one's answer (an
-- agent takes one queue call at a time). The prune (agent_calls_prune) follows in the same transaction.
WITH written AS (
    INSERT INTO agent_calls AS c (id, caller_uniqueid, agent_id, asterisk_queue, queue_id, caller_number,
                                  caller_name, withheld, answered_at, ended_at, member_uniqueid)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
    ON CONFLICT (caller_uniqueid) DO UPDATE SET
        withheld = c.withheld OR EXCLUDED.withheld,
        caller_number = CASE WHEN EXCLUDED.withheld THEN '' ELSE c.caller_number END,
        ended_at = coalesce(c.ended_at, EXCLUDED.ended_at)
    RETURNING *
), older_ended AS (
    UPDATE agent_calls o SET ended_at = w.answered_at
    FROM written w
    WHERE o.agent_id = w.agent_id AND o.ended_at IS NULL AND o.answered_at < w.answered_at
      AND o.caller_uniqueid <> w.caller_uniqueid
)
SELECT * FROM written;

-- name: agent_calls_prune
-- Only the agent's $2 newest calls are kept.
DELETE FROM agent_calls WHERE agent_id = $1 AND id IN (
    SELECT id FROM agent_calls WHERE agent_id = $1 ORDER BY answered_at DESC, id DESC OFFSET $2);

-- name: agent_calls_end_gone
-- After a (re)connect: the calls whose ends were not heard. Not ended, answered before the live channels were
-- read ($2, so that a call answered meanwhile is not taken for gone), caller channel not among them ($1).
UPDATE agent_calls SET ended_at = $3
WHERE ended_at IS NULL AND answered_at < $2 AND NOT (caller_uniqueid = ANY ($1::text[]));

-- name: agent_calls_of_agent
SELECT * FROM agent_calls WHERE agent_id = $1 ORDER BY answered_at DESC, id DESC LIMIT $2;

-- name: agent_call_get
SELECT * FROM agent_calls WHERE agent_id = $1 AND id = $2;


-- ==== places: caller-callbacks keeping a caller's place (store/places.py) =======================================

-- name: callbacks_caller_front
-- The queue's caller-callback with the earliest place (index callbacks_caller_place: the same conditions), but
-- none held back for a reason of its own ($2: domain/place.py's HELD_ON_ITS_OWN) until after $3.
SELECT * FROM callbacks
WHERE queue_id = $1 AND origin = 'caller' AND slot IS NULL AND attempts_count = 0
  AND state IN ('scheduled', 'queued', 'waiting_for_queue') AND NOT (reason = ANY($2::text[]) AND due_at > $3)
ORDER BY joined_at, id
LIMIT 1;

-- name: callback_due_now
-- Its wait is over: due at $4 if given, else now ($3), for any process (the due trigger wakes the schedulers).
-- Due now, it takes back its place in due order (a hair before its turn fell due, as attempt_end does): claims
-- go in due order, and it must not wait behind callbacks that fell due after it, or with it, while it waited.
UPDATE callbacks SET due_at = COALESCE($4::timestamptz, LEAST($3, COALESCE(due_since, $3)) - interval '1 millisecond'),
    updated_at = $3, version = version + 1
WHERE id = $1 AND state = 'queued' AND reason = $2 AND lease_owner IS NULL AND due_at > COALESCE($4::timestamptz, $3)
RETURNING id;

-- ==== API tokens (store/tokens.py) ==============================================================================

-- name: token_insert
INSERT INTO api_tokens (id, token_hash, role, agent_id) VALUES ($1, $2, $3, $4);

-- name: token_principal
-- Who holds a token: its role, its agent and that agent's teams and queues; nothing for an unknown or revoked
-- token.
SELECT t.id, t.role, t.agent_id, t.sessions_ended_at,
       array(SELECT team_id FROM agent_teams WHERE agent_id = t.agent_id ORDER BY team_id) AS teams,
       array(SELECT queue_id FROM agent_queues WHERE agent_id = t.agent_id ORDER BY queue_id) AS queues
FROM api_tokens t WHERE t.token_hash = $1 AND t.revoked_at IS NULL;

-- name: tokens_list
SELECT id, role, agent_id, created_at, revoked_at FROM api_tokens ORDER BY created_at, id;

-- name: token_revoke
UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING id;

-- name: token_end_sessions
-- A logout from a page: every session of the token opened at or before $2 ends (the pages' sessions).
UPDATE api_tokens SET sessions_ended_at = GREATEST(coalesce(sessions_ended_at, $2), $2)
WHERE id = $1 AND revoked_at IS NULL RETURNING id;


-- ==== reports and metrics (store/reports.py) ====================================================================

-- name: report_scheduled
-- Callbacks Scheduled Details (seed 001): callbacks created in [$1, $2), by creator agent ($3) and queue ($4),
-- one row per interaction attempt, real or dummy (seed 001: POM gives some completion codes to dummy attempts:
-- here each audit line whose reason is one of $6, the domain's DUMMY_REASONS), in time order; a callback with
-- neither has one row. Each row has the contact, the attempt's agent by name, and the job: the queue's run open
-- at the attempt's start (for a callback without attempts, at its creation; none while the queue was
-- stopped). At most $5 callbacks and $7 rows, found by the creation-time indexes.
WITH picked AS (
    SELECT * FROM callbacks
    WHERE created_at >= $1 AND created_at < $2
      AND ($3::text IS NULL OR created_by = $3)
      AND ($4::text IS NULL OR queue_id = $4)
    ORDER BY created_at, id
    LIMIT $5
)
SELECT c.*, q.name AS queue_name, k.id AS contact_id, t.attempt_id, t.at AS attempt_at,
       t.ended_at AS attempt_ended_at, t.agent_id AS serviced_by, g.name AS serviced_by_name,
       t.disposition AS custom_code, t.completion_status AS attempt_status, t.interaction_state, t.dummy_reason,
       CASE WHEN r.stopped_at IS NULL OR r.stopped_at > coalesce(t.at, c.created_at) THEN r.id END AS job_id
FROM picked c
JOIN queues q ON q.id = c.queue_id
LEFT JOIN contacts k ON k.number = c.destination
LEFT JOIN LATERAL (
    SELECT a.id AS attempt_id, a.started_at AS at, a.ended_at, a.agent_id, a.disposition, a.completion_status,
           a.interaction_state, NULL::text AS dummy_reason, NULL::bigint AS event_id
    FROM attempts a WHERE a.callback_id = c.id
    UNION ALL
    SELECT NULL, e.at, NULL, NULL, NULL, NULL, NULL, e.reason, e.id
    FROM callback_events e WHERE e.callback_id = c.id AND e.reason = ANY ($6::text[])
) t ON true
LEFT JOIN agents g ON g.id = t.agent_id
-- The run that started last at or before the moment (one index probe); it is the job if still open then.
LEFT JOIN LATERAL (
    SELECT id, stopped_at FROM queue_runs WHERE queue_id = c.queue_id AND started_at <= coalesce(t.at, c.created_at)
    ORDER BY started_at DESC, id DESC LIMIT 1
) r ON true
ORDER BY c.created_at, c.id, t.at, t.event_id NULLS FIRST, t.attempt_id
LIMIT $7;

-- name: report_completed
-- Completed Callback Interaction (seed 002): callbacks that reached an end state ($6, the domain's terminal
-- states) in [$1, $2), found by their end's audit line (the callback_events_at index; an end state is never
-- left, so that line is the callback's last); by any attempt's agent ($3) and queue ($4). One row per attempt,
-- real or dummy ($7), with the same columns as report_scheduled's, after the callback's end time. At most $5
-- callbacks and $8 rows.
WITH picked AS (
    SELECT c.*, e.at AS ended_at FROM callback_events e JOIN callbacks c ON c.id = e.callback_id
    WHERE e.at >= $1 AND e.at < $2 AND e.to_state = ANY ($6::text[])
      AND ($3::text IS NULL OR EXISTS (SELECT 1 FROM attempts x WHERE x.callback_id = c.id AND x.agent_id = $3))
      AND ($4::text IS NULL OR c.queue_id = $4)
    ORDER BY e.at, c.id
    LIMIT $5
)
SELECT c.*, q.name AS queue_name, k.id AS contact_id, t.attempt_id, t.at AS attempt_at,
       t.ended_at AS attempt_ended_at, t.agent_id AS serviced_by, g.name AS serviced_by_name,
       t.disposition AS custom_code, t.completion_status AS attempt_status, t.interaction_state, t.dummy_reason,
       CASE WHEN r.stopped_at IS NULL OR r.stopped_at > coalesce(t.at, c.created_at) THEN r.id END AS job_id
FROM picked c
JOIN queues q ON q.id = c.queue_id
LEFT JOIN contacts k ON k.number = c.destination
LEFT JOIN LATERAL (
    SELECT a.id AS attempt_id, a.started_at AS at, a.ended_at, a.agent_id, a.disposition, a.completion_status,
           a.interaction_state, NULL::text AS dummy_reason, NULL::bigint AS event_id
    FROM attempts a WHERE a.callback_id = c.id
    UNION ALL
    SELECT NULL, e.at, NULL, NULL, NULL, NULL, NULL, e.reason, e.id
    FROM callback_events e WHERE e.callback_id = c.id AND e.reason = ANY ($7::text[])
) t ON true
LEFT JOIN agents g ON g.id = t.agent_id
LEFT JOIN LATERAL (
    SELECT id, stopped_at FROM queue_runs WHERE queue_id = c.queue_id AND started_at <= coalesce(t.at, c.created_at)
    ORDER BY started_at DESC, id DESC LIMIT 1
) r ON true
ORDER BY c.ended_at, c.id, t.at, t.event_id NULLS FIRST, t.attempt_id
LIMIT $8;

-- name: contact_get
-- A contact (POM's Contact ID) by its E.164 number.
SELECT id FROM contacts WHERE number = $1;

-- name: contact_callbacks
-- The contact's callbacks, newest first (the callbacks_number index).
SELECT * FROM callbacks WHERE destination = $1 ORDER BY created_at DESC, id DESC LIMIT $2;

-- name: book_states
-- The operator's figures (the `book-figures` task, never a scrape): active callbacks only ($1, the domain's),
-- from the kept counts (migration 0018), which this task folds first (callback_counts_fold).
SELECT queue_id, state, sum(n)::bigint AS n
FROM (SELECT queue_id, state, n FROM callback_counts WHERE state = ANY ($1::text[])
      UNION ALL
      SELECT queue_id, state, delta FROM callback_count_changes WHERE state = ANY ($1::text[])) AS k
GROUP BY queue_id, state HAVING sum(n) <> 0;

-- name: callback_counts_fold
-- The changes to the kept counts written so far, folded into them in one statement (see migration 0018): a
-- reader sees each change once, before or after. Two folding at once: the second skips what the first took.
WITH folded AS (
    DELETE FROM callback_count_changes RETURNING queue_id, state, delta
)
INSERT INTO callback_counts AS c (queue_id, state, n)
SELECT queue_id, state, sum(delta) FROM folded GROUP BY 1, 2
ON CONFLICT (queue_id, state) DO UPDATE SET n = c.n + EXCLUDED.n;

-- name: book_due_now
-- Callbacks due at $1 and not yet offered ($2: the domain's DUE_WAITING_STATES), by queue: those waiting to be
-- claimed, and those claimed (queued: their due_at is then the claim's lease), whatever the history.
SELECT queue_id, count(*) AS n FROM callbacks
WHERE state = ANY ($2::text[]) AND (due_at <= $1 OR state = 'queued') GROUP BY queue_id;
