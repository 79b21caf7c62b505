-- Caller-callbacks' places (docs/design.md section 14): the front of a queue's caller-callbacks that keep a place
-- (a caller's, in no slot, never called, pending) is read at every change of the Asterisk queue, so it is an
-- index lookup however many callbacks are stored.
CREATE INDEX callbacks_caller_place ON callbacks (queue_id, joined_at, id)
    WHERE origin = 'caller' AND slot IS NULL AND attempts_count = 0
      AND state IN ('scheduled', 'queued', 'waiting_for_queue');
