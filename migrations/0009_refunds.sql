-- Cancel and refund a paid booking.
--
-- * REFUNDED: the booking was paid for, then cancelled (by an operator, or by
--   its buyer while the event allows it). Its seats went back on sale in the
--   transaction that cancelled it (booking_seats inactive, seats AVAILABLE),
--   and its tickets no longer admit anyone (check-in admits only tickets of
--   CONFIRMED bookings). The charge that paid for it is given back through the
--   paying attempt (payments: SUCCEEDED -> REFUNDING -> REFUNDED), under the
--   attempt's one refund key, so the provider refunds it at most once however
--   many requests (or recovery passes) ask.
-- * refund_key / refunded_by / refunded_at: who cancelled, under which
--   Idempotency-Key, and when; a repeat with the same key gets the same answer.
--   A booking is cancelled at most once: the status moves CONFIRMED ->
--   REFUNDED only under its row lock, and never back.

ALTER TABLE bookings DROP CONSTRAINT bookings_status_known;
ALTER TABLE bookings ADD CONSTRAINT bookings_status_known
    CHECK (status IN ('PENDING', 'CONFIRMED', 'RELEASED', 'EXPIRED', 'REFUNDED'));

ALTER TABLE bookings ADD COLUMN refund_key TEXT;
ALTER TABLE bookings ADD COLUMN refunded_by BIGINT REFERENCES users (user_id);
ALTER TABLE bookings ADD COLUMN refunded_at TIMESTAMPTZ;
ALTER TABLE bookings ADD CONSTRAINT bookings_refund_recorded
    CHECK ((status = 'REFUNDED') = (refund_key IS NOT NULL AND refunded_at IS NOT NULL));

-- Buyers may cancel their own paid bookings (and get their money back) until
-- this time; NULL: only an operator can refund.
ALTER TABLE events ADD COLUMN cancellable_until TIMESTAMPTZ;

-- The operator's lookup by buyer email reads a user's bookings newest first
-- (bookings_user_idx) of every account with that email, guests included;
-- by confirmation number, its UNIQUE constraint's index.
CREATE INDEX users_email_lookup_idx ON users (lower(email));
