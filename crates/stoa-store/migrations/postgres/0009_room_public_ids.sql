-- Two changes for SPEC §3 rule 6, which promises that nothing tells a user that a secret room
-- exists (see docs/decisions.md, "Room names and ids that hide secret rooms"):
--
-- * Room names are no longer unique across the server, only among the rooms one user can
--   find, which the server checks; `name_key` keeps a plain index for lookups.
-- * Rooms get a random public id, the id clients see, since the sequential `id` reveals how
--   many rooms were made in between.
ALTER TABLE rooms DROP CONSTRAINT rooms_name_key_key;
CREATE INDEX rooms_name_key ON rooms (name_key);
ALTER TABLE rooms ADD COLUMN public_id TEXT;
UPDATE rooms SET public_id = 'r' || substr(md5(random()::text || id::text), 1, 16);
ALTER TABLE rooms ALTER COLUMN public_id SET NOT NULL;
ALTER TABLE rooms ADD CONSTRAINT rooms_public_id_key UNIQUE (public_id);
