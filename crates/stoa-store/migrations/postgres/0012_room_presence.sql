-- Rosters (issue 13): who is in a room now, on which node of a pool. A row is written when a
-- user's first live connection on a node subscribes to a room and removed when their last
-- one there leaves; rows of a node that stopped heartbeating are not counted, and a node
-- removes its own at start-up. Only pools on PostgreSQL use it: on SQLite the one node's
-- memory is the whole roster.
CREATE TABLE room_presence (
    room_id BIGINT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    node    TEXT   NOT NULL,
    since   BIGINT NOT NULL,
    PRIMARY KEY (room_id, user_id, node)
);
CREATE INDEX room_presence_by_node ON room_presence (node);
