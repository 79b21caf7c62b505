-- The reports as the seeds define them (seeds 001 and 002, issue 11 item 8): a queue's runs (POM's job),
-- contacts keyed by their E.164 number, and the agent's name.

-- A queue run (POM's Job ID: "the running session of the outbound campaign"): opened when the queue starts
-- (or is created running), closed when it stops or is terminated. At most one open run per queue, whoever
-- starts it and however many at once: the partial unique index is the guard. A run is opened and closed in the
-- same transaction as the queue's status, so a crash leaves none open behind a stopped queue.
CREATE TABLE queue_runs (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queue_id    text        NOT NULL REFERENCES queues (id) ON DELETE CASCADE,
    started_at  timestamptz NOT NULL,
    stopped_at  timestamptz,
    CHECK (stopped_at IS NULL OR stopped_at >= started_at)
);
CREATE UNIQUE INDEX queue_runs_open ON queue_runs (queue_id) WHERE stopped_at IS NULL;
-- The reports' look-up: the run of a queue that started last at or before a moment.
CREATE INDEX queue_runs_started ON queue_runs (queue_id, started_at DESC, id DESC);

-- What ran before this migration is one run per queue, from its creation: open if the queue runs, else closed
-- at its last change.
INSERT INTO queue_runs (queue_id, started_at, stopped_at)
SELECT id, created_at, CASE WHEN status IN ('stopped', 'terminated') THEN greatest(updated_at, created_at) END
FROM queues ORDER BY created_at, id;

-- A contact (POM's Contact ID): one per E.164 number, with its callbacks (callbacks.destination). Every number
-- a callback is written with, by any statement (the API's insert, an edit of the number, a bulk load), is a
-- contact: the triggers below make it so. Contacts are never deleted: an id stays the number's.
CREATE TABLE contacts (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    number  text NOT NULL UNIQUE
);

-- One statement per insert statement, not per row (a bulk load of a million callbacks runs it once); numbers
-- in order, so that two concurrent loads take their locks in the same order.
CREATE FUNCTION callbacks_contacts_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO contacts (number)
    SELECT DISTINCT destination FROM written ORDER BY destination
    ON CONFLICT (number) DO NOTHING;
    RETURN NULL;
END;
$$;
CREATE TRIGGER callbacks_contacts_on_insert AFTER INSERT ON callbacks
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION callbacks_contacts_on_insert();

-- Only when an edit changes the number (claims and transitions never name the column, so they never fire it).
CREATE FUNCTION callbacks_contact_on_edit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO contacts (number) VALUES (NEW.destination) ON CONFLICT (number) DO NOTHING;
    RETURN NULL;
END;
$$;
CREATE TRIGGER callbacks_contact_on_edit AFTER UPDATE OF destination ON callbacks
    FOR EACH ROW WHEN (OLD.destination IS DISTINCT FROM NEW.destination)
    EXECUTE FUNCTION callbacks_contact_on_edit();
-- The numbers already there, after the triggers: creating them locked the table, so no callback written meanwhile
-- is missed.
INSERT INTO contacts (number)
SELECT destination FROM callbacks GROUP BY destination ORDER BY min(created_at), destination;

-- The agent's name (seed 001's Serviced By, seed 002's Agent Name). Agents that exist already are named by
-- their id until someone names them.
ALTER TABLE agents ADD COLUMN name text NOT NULL DEFAULT '';
UPDATE agents SET name = id;
