-- Issue 13: files posted to rooms, add-ins, and the chat service's configuration.

-- SPEC §4's settings, each set at one scope (`global`, `site:NAME`, `node:NAME`); the most
-- specific scope covering a node wins there (stoa_domain::configuration).
CREATE TABLE configuration (
    scope      TEXT   NOT NULL,
    key        TEXT   NOT NULL,
    value      TEXT   NOT NULL,
    changed_at BIGINT NOT NULL,
    PRIMARY KEY (scope, key)
);

-- Add-ins: a named URL shown beside the rooms that use it. `rooms.addin` holds the name.
CREATE TABLE addins (
    id         INTEGER PRIMARY KEY,
    name       TEXT   NOT NULL,
    name_key   TEXT   NOT NULL UNIQUE,
    url        TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);

-- A file posted to a room, by the message that posted it. The content is kept once per
-- SHA-256, however many posts carry it: in `file_contents` on PostgreSQL (so that every node
-- of a pool reads it and streaming replication carries it to the standby), and under the
-- data directory on SQLite (`file_contents` then only records which contents exist).
CREATE TABLE file_contents (
    sha256 TEXT   NOT NULL PRIMARY KEY,
    size   BIGINT NOT NULL
);
CREATE TABLE file_chunks (
    sha256 TEXT    NOT NULL REFERENCES file_contents (sha256) ON DELETE CASCADE,
    n      INTEGER NOT NULL,
    bytes  BLOB   NOT NULL,
    PRIMARY KEY (sha256, n)
);
CREATE TABLE files (
    room_id      BIGINT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    seq          BIGINT NOT NULL,
    -- The id clients name the file by: random, so that it reveals nothing.
    file_id      TEXT   NOT NULL UNIQUE,
    name         TEXT   NOT NULL,
    content_type TEXT   NOT NULL,
    size         BIGINT NOT NULL,
    sha256       TEXT   NOT NULL REFERENCES file_contents (sha256),
    PRIMARY KEY (room_id, seq)
);
CREATE INDEX files_by_content ON files (sha256);
