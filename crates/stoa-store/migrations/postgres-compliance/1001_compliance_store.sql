-- PostgreSQL version of migrations/sqlite-compliance/1001_compliance_store.sql.
-- The compliance store (SPEC §5): sealed events in a hash chain, and each adapter's export
-- progress. This chain is numbered from 1001 so that it can share a database with the
-- content chain (the default) or live in its own (`--compliance-database`).

CREATE TABLE compliance_events (
    -- Gapless chain position; events are ordered by it, never by time.
    position          BIGINT  PRIMARY KEY,
    -- The captured row this event was sealed from, so that sealing is idempotent when the
    -- compliance store is a separate database.
    capture_id        BIGINT  NOT NULL UNIQUE,
    kind              TEXT    NOT NULL,
    action            TEXT,
    occurred_at       BIGINT  NOT NULL,
    node              TEXT    NOT NULL,
    user_id           BIGINT,
    user_login        TEXT,
    user_display_name TEXT,
    user_email        TEXT,
    room_id           BIGINT,
    room_name         TEXT,
    room_category     TEXT,
    message_seq       BIGINT,
    content           TEXT    NOT NULL,
    previous_hash     TEXT    NOT NULL,
    hash              TEXT    NOT NULL
);

CREATE TABLE compliance_progress (
    adapter          TEXT   PRIMARY KEY,
    -- Every event up to this position has been written to this adapter's output.
    exported_through BIGINT NOT NULL,
    last_run_at      BIGINT,
    last_run_node    TEXT,
    last_run_events  BIGINT NOT NULL DEFAULT 0,
    last_error       TEXT
);
