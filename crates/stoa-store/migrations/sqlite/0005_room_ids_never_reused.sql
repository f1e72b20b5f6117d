-- SQLite numbers an INTEGER PRIMARY KEY as the largest id plus one, so deleting the newest
-- room let the next room take its id again. Compliance output groups a batch's events by room
-- id, so a batch spanning the deletion could have put two rooms in one conversation. Rooms now
-- take their id from a mark that only grows (`NEW_ROOM_ID` in src/sqlite.rs); PostgreSQL's
-- identity columns never reuse ids.
CREATE TABLE id_high_water (
    name    TEXT    PRIMARY KEY,
    last_id INTEGER NOT NULL
);
INSERT INTO id_high_water (name, last_id) SELECT 'rooms', COALESCE(MAX(id), 0) FROM rooms;
CREATE TRIGGER rooms_id_high_water AFTER INSERT ON rooms
BEGIN
    UPDATE id_high_water SET last_id = MAX(last_id, NEW.id) WHERE name = 'rooms';
END;
