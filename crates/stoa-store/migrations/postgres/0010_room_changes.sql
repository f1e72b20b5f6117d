-- Changes to a room's earlier messages (issue 13): an administrator removes a message or
-- replaces its text, or clears the room up to a date (SPEC §3 rule 12). Messages keep their
-- `seq`, so it stays gapless: a removed, replaced or cleared message is a row whose `state`
-- says so (its text is gone, or is the replacement). Each change is numbered per room by a
-- second gapless counter, `rooms.last_change`, taken under the room row's lock as `seq` is,
-- so that a client that resumes from the last change it saw learns of every later one,
-- exactly once and in order (ARCHITECTURE.md, "Room timelines").
ALTER TABLE rooms ADD COLUMN last_change BIGINT NOT NULL DEFAULT 0;

ALTER TABLE messages ADD COLUMN state TEXT NOT NULL DEFAULT 'posted'
    CHECK (state IN ('posted', 'removed', 'replaced', 'cleared'));
-- The change that last changed the message; 0 while it is as posted.
ALTER TABLE messages ADD COLUMN changed_by BIGINT NOT NULL DEFAULT 0;

CREATE TABLE room_changes (
    room_id     BIGINT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    change_seq  BIGINT NOT NULL,
    kind        TEXT   NOT NULL CHECK (kind IN ('removed', 'replaced', 'cleared')),
    -- The message removed or replaced; for a clear, the last message it cleared.
    seq         BIGINT NOT NULL,
    -- The replacement text; empty otherwise.
    body        TEXT   NOT NULL,
    -- For a clear, the date it cleared up to (messages posted on or before it).
    cleared_to  BIGINT,
    changed_at  BIGINT NOT NULL,
    PRIMARY KEY (room_id, change_seq)
);
