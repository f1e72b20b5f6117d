-- Two changes for SPEC §3 rule 6, which promises that nothing tells a user that a secret room
-- exists (see docs/decisions.md, "Room names and ids that hide secret rooms"):
--
-- * Room names are no longer unique across the server, only among the rooms one user can
--   find, which the server checks; `name_key` keeps a plain index for lookups.
-- * Rooms get a random public id, the id clients see, since the sequential `id` reveals how
--   many rooms were made in between.
--
-- SQLite cannot drop a column's UNIQUE constraint without rebuilding the table, and rebuilding
-- `rooms` would cascade deletes into its members and messages. The constraint is kept and
-- given to the public id instead: the old `name_key` column is renamed `public_id` and filled
-- with random ids, and a new `name_key` column takes the keys.
ALTER TABLE rooms ADD COLUMN lookup_key TEXT NOT NULL DEFAULT '';
UPDATE rooms SET lookup_key = name_key;
ALTER TABLE rooms RENAME COLUMN name_key TO public_id;
UPDATE rooms SET public_id = 'r' || lower(hex(randomblob(8)));
ALTER TABLE rooms RENAME COLUMN lookup_key TO name_key;
CREATE INDEX rooms_name_key ON rooms (name_key);
