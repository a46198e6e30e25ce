-- An operator pauses a waiting room by setting its admission rate to 0:
-- waiters keep their places and nobody is admitted until the rate is positive
-- again (the room stays on; `queue_enabled = false` is what turns it off).
-- Numbered after issue 8's item 20, so it cannot collide with a migration
-- another branch adds next to it.
ALTER TABLE events
    DROP CONSTRAINT events_admission_rate_positive,
    ADD CONSTRAINT events_admission_rate_not_negative CHECK (admission_rate_per_sec >= 0);
