-- Compliance capture (SPEC §5): the adapters an administrator configured, and the events
-- captured in the same transaction as their acts, waiting to be sealed into the compliance
-- store's hash chain. With no adapter configured nothing is captured.

CREATE TABLE compliance_adapters (
    name                             TEXT    PRIMARY KEY,
    adapter_type                     TEXT    NOT NULL CHECK (adapter_type IN ('xml', 'jsonl')),
    output_directory                 TEXT    NOT NULL UNIQUE,
    one_chat_room_per_output_file    BOOLEAN NOT NULL,
    create_file_attachments_manifest BOOLEAN NOT NULL,
    add_chat_room_details            BOOLEAN NOT NULL,
    add_user_details                 BOOLEAN NOT NULL,
    run_interval_seconds             BIGINT  NOT NULL,
    created_at                       BIGINT  NOT NULL
);

-- Who, where and what, copied at the time of the act: later renames or removals do not
-- change what was captured.
CREATE TABLE compliance_capture (
    -- AUTOINCREMENT: ids are never reused, which idempotent sealing relies on.
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
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
    content           TEXT    NOT NULL
);
