-- Which running process holds a node name: two `stoa serve` given the same name (the host
-- name, by default) once merged silently into one node. A process claims its name at start,
-- and a name still heartbeating for another process is refused.
ALTER TABLE pool_nodes ADD COLUMN instance TEXT NOT NULL DEFAULT '';
