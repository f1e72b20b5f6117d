-- The pool: the nodes serving this database, and the pool-wide state an administrator sets.
-- Times here are the database's clock (milliseconds since the Unix epoch), so nodes whose
-- clocks disagree still agree on who is alive.

CREATE TABLE pool_nodes (
    name         TEXT   PRIMARY KEY,
    -- The URL the node serves at, as it printed it at start-up.
    address      TEXT   NOT NULL,
    site         TEXT   NOT NULL,
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL
);

-- Exactly one row. `active_servers` is NULL when every node is active, or the names of the
-- active nodes separated by commas (Lync's Set-CsPersistentChatActiveServer).
CREATE TABLE pool_settings (
    id             BIGINT PRIMARY KEY CHECK (id = 1),
    state          TEXT   NOT NULL CHECK (state IN ('normal', 'failed-over')),
    active_servers TEXT
);
INSERT INTO pool_settings (id, state, active_servers) VALUES (1, 'normal', NULL);
