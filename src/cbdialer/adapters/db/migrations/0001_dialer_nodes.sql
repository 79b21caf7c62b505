-- The dialer processes that share this database (docs/design.md section 8): each registers at start and
-- heartbeats, so that leases held by a dead process can be recognised and taken over.
CREATE TABLE dialer_nodes (
    id            uuid PRIMARY KEY,
    hostname      text        NOT NULL,
    pid           integer     NOT NULL,
    version       text        NOT NULL,
    started_at    timestamptz NOT NULL DEFAULT now(),
    heartbeat_at  timestamptz NOT NULL DEFAULT now(),
    stopped_at    timestamptz
);

CREATE INDEX dialer_nodes_alive ON dialer_nodes (heartbeat_at) WHERE stopped_at IS NULL;
