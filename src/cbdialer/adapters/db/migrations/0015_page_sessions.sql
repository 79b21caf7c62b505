-- The pages' sessions (docs/design.md section 15): a logout ends every session of that token opened before it,
-- on every node (the session cookie holds the token's hash and when it was opened, signed).
ALTER TABLE api_tokens ADD COLUMN sessions_ended_at timestamptz;
