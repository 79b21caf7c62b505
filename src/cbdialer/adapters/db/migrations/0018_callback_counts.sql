-- How many callbacks each queue holds in each state, kept as they change (issue 12: the supervisor's monitor;
-- issue 15: the book's figures), so that neither counts the book's rows: on a busy book the active rows' pages
-- are rarely all-visible, and counting 300,000 of them took 120 ms of heap reads per look.
--
-- Every statement that writes callbacks appends its net changes, one row per (queue, state) it moved, to
-- callback_count_changes: appends only, so concurrent writers never wait on one another (a counter row updated
-- in place would serialise every write of a queue, and could deadlock two). A count is callback_counts plus
-- the changes not yet folded in; the daemon folds them in now and then (query callback_counts_fold), in one
-- statement, so a reader's snapshot sees each change exactly once. A rolled-back write's changes go with it.
CREATE TABLE callback_counts (
    queue_id  text   NOT NULL,
    state     text   NOT NULL,
    n         bigint NOT NULL,
    PRIMARY KEY (queue_id, state)
);
CREATE TABLE callback_count_changes (
    id        bigserial PRIMARY KEY,
    queue_id  text   NOT NULL,
    state     text   NOT NULL,
    delta     bigint NOT NULL
);

CREATE FUNCTION callback_counts_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO callback_count_changes (queue_id, state, delta)
    SELECT queue_id, state, count(*) FROM new_rows GROUP BY 1, 2;
    RETURN NULL;
END;
$$;

CREATE FUNCTION callback_counts_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO callback_count_changes (queue_id, state, delta)
    SELECT queue_id, state, -count(*) FROM old_rows GROUP BY 1, 2;
    RETURN NULL;
END;
$$;

-- Most updates (leases, due times, interaction states) move no callback between states: they append nothing.
CREATE FUNCTION callback_counts_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO callback_count_changes (queue_id, state, delta)
    SELECT queue_id, state, sum(delta) FROM (
        SELECT o.queue_id, o.state, -1 AS delta FROM old_rows o JOIN new_rows n ON n.id = o.id
        WHERE o.state <> n.state OR o.queue_id <> n.queue_id
        UNION ALL
        SELECT n.queue_id, n.state, 1 FROM old_rows o JOIN new_rows n ON n.id = o.id
        WHERE o.state <> n.state OR o.queue_id <> n.queue_id
    ) AS moved
    GROUP BY 1, 2 HAVING sum(delta) <> 0;
    RETURN NULL;
END;
$$;

CREATE FUNCTION callback_counts_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM callback_counts;
    DELETE FROM callback_count_changes;
    RETURN NULL;
END;
$$;

-- No writer may slip between the first count and the triggers.
LOCK TABLE callbacks IN SHARE ROW EXCLUSIVE MODE;
CREATE TRIGGER callbacks_counted_insert AFTER INSERT ON callbacks REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION callback_counts_inserted();
CREATE TRIGGER callbacks_counted_update AFTER UPDATE ON callbacks REFERENCING OLD TABLE AS old_rows
    NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION callback_counts_updated();
CREATE TRIGGER callbacks_counted_delete AFTER DELETE ON callbacks REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION callback_counts_deleted();
CREATE TRIGGER callbacks_counted_truncate AFTER TRUNCATE ON callbacks
    FOR EACH STATEMENT EXECUTE FUNCTION callback_counts_truncated();
INSERT INTO callback_counts (queue_id, state, n) SELECT queue_id, state, count(*) FROM callbacks GROUP BY 1, 2;

-- The monitor's purges of the shift: a few audit lines among the day's many.
CREATE INDEX callback_events_purged ON callback_events (at) WHERE to_state = 'purged';
