-- Every SQL statement of cbdialer outside the migrations, by name (`-- name: NAME`).
-- Only the db adapter reads this file.

-- name: create_database
-- {database} is replaced by the quoted identifier (an identifier cannot be a bind parameter).
CREATE DATABASE {database};

-- name: migrations_lock
-- One migrator at a time, across processes; released at commit.
SELECT pg_advisory_xact_lock(hashtext('cbdialer.migrate'));

-- name: migrations_table
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    name        text        NOT NULL,
    checksum    text        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);

-- name: migrations_applied
SELECT version, name, checksum FROM schema_migrations ORDER BY version;

-- name: migrations_record
INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3);

-- name: migrations_table_exists
SELECT to_regclass('schema_migrations') IS NOT NULL;

-- name: node_register
INSERT INTO dialer_nodes (id, hostname, pid, version) VALUES ($1, $2, $3, $4);

-- name: node_heartbeat
UPDATE dialer_nodes SET heartbeat_at = now() WHERE id = $1 AND stopped_at IS NULL RETURNING heartbeat_at;

-- name: node_stopped
UPDATE dialer_nodes SET stopped_at = now() WHERE id = $1 AND stopped_at IS NULL;
