-- Callers' callbacks and time slots (docs/design.md sections 13 and 14, issue 10 items 3 and 4).

-- Who asked for the callback. Rows from before: an agent's if an agent created it (created_by is set: an agent
-- token always sets it, and a supervisor names the agent it makes one for), else the API's.
ALTER TABLE callbacks ADD COLUMN origin text NOT NULL DEFAULT 'api' CHECK (origin IN ('agent', 'caller', 'api'));
UPDATE callbacks SET origin = 'agent' WHERE created_by IS NOT NULL;
-- A caller's place (when they joined the Asterisk queue): a caller's callback has one, no other has.
ALTER TABLE callbacks ADD COLUMN joined_at timestamptz;
ALTER TABLE callbacks ADD CONSTRAINT callbacks_joined_at_of_callers CHECK ((origin = 'caller') = (joined_at IS NOT NULL));
-- The start of the time slot it is booked into. A slot's bookings are its active callbacks (counted, never a
-- counter): a cancelled, purged or ended callback frees its place by leaving the active states.
ALTER TABLE callbacks ADD COLUMN slot timestamptz;
CREATE INDEX callbacks_slot ON callbacks (queue_id, slot) WHERE slot IS NOT NULL;
CREATE INDEX callbacks_caller ON callbacks (queue_id, destination) WHERE origin = 'caller';

-- One row per (queue, slot) ever booked: the lock a booking takes (INSERT ... ON CONFLICT DO UPDATE locks it)
-- before it counts the slot's active callbacks and inserts only below the capacity, all in one transaction, so
-- that concurrent bookings of one slot run one after the other and never overbook.
CREATE TABLE callback_slots (
    queue_id    text        NOT NULL REFERENCES queues (id) ON DELETE CASCADE,
    slot_start  timestamptz NOT NULL,
    PRIMARY KEY (queue_id, slot_start)
);
