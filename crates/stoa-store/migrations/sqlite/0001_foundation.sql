-- Stoa foundation schema: directory, sessions, categories, rooms and messages.
-- Timestamps are milliseconds since the Unix epoch (UTC). Principal references are stored in
-- their canonical text form (`user:alice@contoso.com`, `group:sales`, ...).

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    login         TEXT    NOT NULL,
    display_name  TEXT    NOT NULL,
    email         TEXT,
    container     TEXT,
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    password_hash TEXT,
    created_at    BIGINT  NOT NULL,
    -- Removed users keep their row so that their messages keep an author; the login is freed.
    removed_at    BIGINT
);
CREATE UNIQUE INDEX users_live_login ON users (login) WHERE removed_at IS NULL;

CREATE TABLE sessions (
    id          INTEGER PRIMARY KEY,
    token_hash  BLOB    NOT NULL UNIQUE,
    user_id     INTEGER NOT NULL REFERENCES users (id),
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE groups (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    description TEXT    NOT NULL DEFAULT '',
    created_at  BIGINT  NOT NULL
);

CREATE TABLE group_members (
    group_id INTEGER NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    member   TEXT    NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (group_id, member)
);
CREATE INDEX group_members_member ON group_members (member);

CREATE TABLE role_assignments (
    role      TEXT NOT NULL,
    principal TEXT NOT NULL,
    PRIMARY KEY (role, principal)
);

CREATE TABLE categories (
    id           INTEGER PRIMARY KEY,
    name         TEXT    NOT NULL,
    name_key     TEXT    NOT NULL UNIQUE,
    description  TEXT    NOT NULL DEFAULT '',
    file_upload  BOOLEAN NOT NULL,
    chat_history BOOLEAN NOT NULL,
    invitations  BOOLEAN NOT NULL,
    created_at   BIGINT  NOT NULL
);

CREATE TABLE category_principals (
    category_id INTEGER NOT NULL REFERENCES categories (id) ON DELETE CASCADE,
    list        TEXT    NOT NULL CHECK (list IN ('allowed', 'denied', 'creator')),
    principal   TEXT    NOT NULL,
    position    INTEGER NOT NULL,
    PRIMARY KEY (category_id, list, principal)
);

CREATE TABLE rooms (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL,
    name_key    TEXT    NOT NULL UNIQUE,
    description TEXT    NOT NULL DEFAULT '',
    category_id INTEGER NOT NULL REFERENCES categories (id),
    privacy     TEXT    NOT NULL,
    room_type   TEXT    NOT NULL,
    invitations TEXT    NOT NULL,
    addin       TEXT,
    disabled    BOOLEAN NOT NULL DEFAULT FALSE,
    -- The newest message's sequence number. Posting increments it in the same transaction that
    -- inserts the message, which is what makes sequence numbers gapless.
    last_seq    BIGINT  NOT NULL DEFAULT 0,
    created_at  BIGINT  NOT NULL
);
CREATE INDEX rooms_category ON rooms (category_id);

CREATE TABLE room_principals (
    room_id   INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    list      TEXT    NOT NULL CHECK (list IN ('member', 'manager', 'presenter')),
    principal TEXT    NOT NULL,
    position  INTEGER NOT NULL,
    PRIMARY KEY (room_id, list, principal)
);

CREATE TABLE messages (
    room_id    INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    seq        BIGINT  NOT NULL,
    author_id  INTEGER NOT NULL REFERENCES users (id),
    body       TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    PRIMARY KEY (room_id, seq)
);

-- The root category exists from the first start (SPEC §3 rule 3).
INSERT INTO categories (name, name_key, description, file_upload, chat_history, invitations, created_at)
VALUES ('default', 'default', 'The root category; it admits every user.', TRUE, TRUE, FALSE, 0);
