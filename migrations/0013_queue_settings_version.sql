-- Every change of an event's waiting-room settings takes the next number.
-- The operator's request writes the settings to Redis with that number
-- before it answers, and every admission driver writes what it last read
-- from here with the number it read: Redis keeps only the highest, so a
-- driver that has not yet read a pause can never undo it, and a pause stops
-- admission before the operator's 200 instead of within a second.
ALTER TABLE events ADD COLUMN queue_settings_version BIGINT NOT NULL DEFAULT 0;
