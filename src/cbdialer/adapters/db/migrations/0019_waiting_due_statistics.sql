-- The search by due time (the supervisor's "due from" and "due before") looks at callbacks waiting to fall due
-- only (scheduled or queued: the domain's DUE_WAITING_STATES). PostgreSQL takes the state and the due time for
-- independent, and they are not: ended callbacks keep a past due time, waiting ones mostly have a future one.
-- So for "due before now" it expected 150,000 rows of 1,000,000, walked the newest-first index for 50 of them
-- and read the whole book for the 6 there were (1.5 s). Statistics on the waiting callbacks' due time alone
-- (the query callbacks_search names the same expression) let it see how few there are, and take the
-- callbacks_due index.
CREATE STATISTICS callbacks_waiting_due ON ((CASE WHEN state IN ('scheduled', 'queued') THEN due_at END))
    FROM callbacks;
ANALYZE callbacks;
