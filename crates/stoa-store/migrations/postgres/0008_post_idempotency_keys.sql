-- The idempotency keys clients send with posts (SPEC §8): the same key from the same user
-- within 24 hours answers with the message first stored under it and stores nothing. `seq`
-- is 0 only inside the transaction that claims the key and stores the post.
CREATE TABLE post_idempotency_keys (
    user_id         BIGINT NOT NULL REFERENCES users (id),
    idempotency_key TEXT   NOT NULL,
    room_id         BIGINT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    seq             BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (user_id, idempotency_key)
);
CREATE INDEX post_idempotency_keys_created_at ON post_idempotency_keys (created_at);
