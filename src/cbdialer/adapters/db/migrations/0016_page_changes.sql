-- The pages hear of what their viewers see change besides callbacks (docs/design.md section 15): a queue
-- started, stopped or set, and agents made ready or not, added, removed or moved between queues. One
-- notification per statement, as for the audit lines (0003); the dialer's own writes (reservations,
-- next_dial_at) notify nothing here.
CREATE TRIGGER queues_changed AFTER INSERT OR DELETE OR UPDATE OF status, settings, name ON queues
    FOR EACH STATEMENT EXECUTE FUNCTION callback_events_notify();
CREATE TRIGGER agents_changed AFTER INSERT OR DELETE OR UPDATE OF ready, name ON agents
    FOR EACH STATEMENT EXECUTE FUNCTION callback_events_notify();
CREATE TRIGGER agent_queues_changed AFTER INSERT OR DELETE ON agent_queues
    FOR EACH STATEMENT EXECUTE FUNCTION callback_events_notify();
