-- The consistent (CP) part: which seat of which event is held or sold.
--
-- Two independent guards make a double sale impossible, whatever the
-- application, Redis or the network does:
--   1. seats.status moves AVAILABLE -> RESERVED only through a conditional
--      `UPDATE seats ... WHERE status = 'AVAILABLE'`;
--   2. booking_seats_active_seat_key: a seat is in at most one active booking.

-- One row per seat per event, created in bulk with the event.
CREATE TABLE seats (
    event_id    BIGINT      NOT NULL REFERENCES events (event_id) ON DELETE CASCADE,
    seat_id     BIGINT      NOT NULL REFERENCES venue_seats (seat_id),
    status      TEXT        NOT NULL DEFAULT 'AVAILABLE',
    -- The booking holding or owning the seat; NULL exactly when AVAILABLE.
    booking_id  BIGINT,
    reserved_at TIMESTAMPTZ,
    PRIMARY KEY (event_id, seat_id),
    CONSTRAINT seats_status_known CHECK (status IN ('AVAILABLE', 'RESERVED', 'CONFIRMED')),
    CONSTRAINT seats_holder_matches_status CHECK ((status = 'AVAILABLE') = (booking_id IS NULL))
);

-- Counting what is left (sold-out detection, admin views).
CREATE INDEX seats_event_status_idx ON seats (event_id, status);

CREATE TABLE bookings (
    booking_id   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id     BIGINT      NOT NULL REFERENCES events (event_id),
    user_id      BIGINT      NOT NULL REFERENCES users (user_id),
    status       TEXT        NOT NULL DEFAULT 'PENDING',
    amount_cents BIGINT      NOT NULL,
    -- End of the hold. A PENDING booking past it is released by the sweeper,
    -- unless a payment for it is in flight (payment_started_at is recent).
    expires_at   TIMESTAMPTZ NOT NULL,
    payment_started_at  TIMESTAMPTZ,
    confirmation_number TEXT,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT bookings_status_known CHECK (status IN ('PENDING', 'CONFIRMED', 'RELEASED', 'EXPIRED')),
    CONSTRAINT bookings_amount_not_negative CHECK (amount_cents >= 0),
    CONSTRAINT bookings_confirmation_number_key UNIQUE (confirmation_number)
);

-- The sweeper's scan: pending holds in expiry order.
CREATE INDEX bookings_pending_expiry_idx ON bookings (expires_at) WHERE status = 'PENDING';
CREATE INDEX bookings_user_idx ON bookings (user_id, created_at DESC);

CREATE TABLE booking_seats (
    booking_id BIGINT  NOT NULL REFERENCES bookings (booking_id) ON DELETE CASCADE,
    event_id   BIGINT  NOT NULL,
    seat_id    BIGINT  NOT NULL,
    -- TRUE while the booking holds or owns the seat; FALSE once released or
    -- expired, so the seat can be sold again while history is kept.
    active     BOOLEAN NOT NULL DEFAULT true,
    PRIMARY KEY (booking_id, seat_id),
    FOREIGN KEY (event_id, seat_id) REFERENCES seats (event_id, seat_id) ON DELETE CASCADE
);

-- THE invariant: a seat is in at most one active booking. This is the last
-- line of defence against double-selling and is never relaxed; a violation
-- surfaces to clients as 409 seat_unavailable.
CREATE UNIQUE INDEX booking_seats_active_seat_key
    ON booking_seats (event_id, seat_id) WHERE active;

-- Every charge attempt for a booking. The idempotency key is unique per buyer,
-- so a retried confirm (double click, lost response, two tabs) finds the
-- attempt it repeats instead of charging again.
CREATE TABLE payments (
    payment_id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    booking_id      BIGINT      NOT NULL REFERENCES bookings (booking_id),
    user_id         BIGINT      NOT NULL REFERENCES users (user_id),
    idempotency_key TEXT        NOT NULL,
    status          TEXT        NOT NULL DEFAULT 'PROCESSING',
    amount_cents    BIGINT      NOT NULL,
    provider_ref    TEXT,
    -- The answer given to the client, replayed verbatim for the same key.
    response        JSONB,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT payments_status_known CHECK (status IN ('PROCESSING', 'SUCCEEDED', 'FAILED', 'REFUNDED')),
    CONSTRAINT payments_user_idempotency_key UNIQUE (user_id, idempotency_key)
);

CREATE INDEX payments_booking_idx ON payments (booking_id);
CREATE INDEX payments_processing_idx ON payments (created_at) WHERE status = 'PROCESSING';

-- The built-in simulated payment provider keeps its own ledger, as a real
-- provider would: the same idempotency key never creates a second charge,
-- across restarts too.
CREATE TABLE provider_charges (
    charge_id       TEXT        PRIMARY KEY,
    idempotency_key TEXT        NOT NULL,
    amount_cents    BIGINT      NOT NULL,
    status          TEXT        NOT NULL,
    refunded_at     TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT provider_charges_status_known CHECK (status IN ('SUCCEEDED', 'DECLINED')),
    CONSTRAINT provider_charges_idempotency_key UNIQUE (idempotency_key)
);

-- One ticket per seat of a confirmed booking; `code` is signed by the server.
CREATE TABLE tickets (
    ticket_id     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    booking_id    BIGINT      NOT NULL REFERENCES bookings (booking_id),
    event_id      BIGINT      NOT NULL,
    seat_id       BIGINT      NOT NULL,
    code          TEXT        NOT NULL,
    checked_in_at TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    FOREIGN KEY (event_id, seat_id) REFERENCES seats (event_id, seat_id),
    CONSTRAINT tickets_code_key UNIQUE (code),
    CONSTRAINT tickets_booking_seat_key UNIQUE (booking_id, seat_id)
);
