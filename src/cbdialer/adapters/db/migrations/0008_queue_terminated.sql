-- A queue stopped for good (seed 000: "Campaign Terminated"): its callbacks end as queue_terminated, and it
-- neither starts again nor takes new callbacks.
ALTER TABLE queues DROP CONSTRAINT queues_status_check;
ALTER TABLE queues ADD CONSTRAINT queues_status_check
    CHECK (status IN ('active', 'off_schedule', 'stopped', 'terminated'));
