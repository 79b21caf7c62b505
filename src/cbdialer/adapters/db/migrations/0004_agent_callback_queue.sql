-- An agent's own callback queue (DESIGN.md section 5): when a callback joined it, so that the callbacks
-- waiting for one agent are offered in the order they started waiting.
ALTER TABLE callbacks ADD COLUMN assigned_at timestamptz;
