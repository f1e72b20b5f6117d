-- A row that the server rewrites, while writes are failing (a full disk, an I/O error, a
-- read-only database), to learn when they work again without waiting for someone to post.
CREATE TABLE storage_probe (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    probes BIGINT  NOT NULL
);
INSERT INTO storage_probe (id, probes) VALUES (1, 0);
