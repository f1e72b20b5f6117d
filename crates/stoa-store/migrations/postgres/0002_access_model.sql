-- PostgreSQL version of migrations/sqlite/0002_access_model.sql: the same tables, in this dialect.
-- Access model: persistent chat policies and their grants, room invitations, followed rooms.

CREATE TABLE policies (
    -- `global`, `site:NAME`, `node:NAME`, or a user policy's NAME.
    identity               TEXT    PRIMARY KEY,
    enable_persistent_chat BOOLEAN NOT NULL,
    created_at             BIGINT  NOT NULL
);
-- A fresh install's global policy enables chat (SPEC §3 rule 1).
INSERT INTO policies (identity, enable_persistent_chat, created_at) VALUES ('global', TRUE, 0);

-- At most one user policy per user.
CREATE TABLE policy_grants (
    user_id BIGINT PRIMARY KEY REFERENCES users (id),
    policy  TEXT    NOT NULL REFERENCES policies (identity)
);

CREATE TABLE invitations (
    room_id    BIGINT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id    BIGINT NOT NULL REFERENCES users (id),
    invited_by BIGINT  REFERENCES users (id),
    created_at BIGINT  NOT NULL,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX invitations_user ON invitations (user_id);

CREATE TABLE follows (
    user_id    BIGINT NOT NULL REFERENCES users (id),
    room_id    BIGINT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    created_at BIGINT  NOT NULL,
    PRIMARY KEY (user_id, room_id)
);
