-- Team callbacks (seed 003: "The callback can go to either a specific agent or team of agents"): a new
-- callback type, `team`, routed among its team's agents only.
ALTER TABLE callbacks DROP CONSTRAINT callbacks_type_check;
ALTER TABLE callbacks ADD CONSTRAINT callbacks_type_check
    CHECK (type IN ('standard', 'campaign', 'agent', 'strict_agent', 'team'));
