-- The row the server rewrites while writes to the compliance store fail, to learn when they
-- work again (the same table as the content chain's 0006, which may share this database).
CREATE TABLE IF NOT EXISTS storage_probe (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    probes BIGINT  NOT NULL
);
INSERT INTO storage_probe (id, probes) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;
