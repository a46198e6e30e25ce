-- What is sold: venues with a fixed seat layout, and events held in them.

CREATE TABLE venues (
    venue_id   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       TEXT        NOT NULL,
    city       TEXT        NOT NULL,
    seat_count INTEGER     NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT venues_seat_count_positive CHECK (seat_count > 0)
);

CREATE INDEX venues_city_idx ON venues (lower(city));

-- The physical seats of a venue, in layout order. A venue's layout never
-- changes once created, which is what lets GET /venues/{id}/layout be cached
-- for a long time. `seat_id` is also the seat's id in every event's seat map.
CREATE TABLE venue_seats (
    seat_id  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    venue_id BIGINT  NOT NULL REFERENCES venues (venue_id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    section  TEXT    NOT NULL,
    row_name TEXT    NOT NULL,
    number   INTEGER NOT NULL,
    x        REAL    NOT NULL,
    y        REAL    NOT NULL,
    -- A seat is named once: two seats at "A / 3 / 12" would print identical tickets.
    CONSTRAINT venue_seats_place_key UNIQUE (venue_id, section, row_name, number),
    CONSTRAINT venue_seats_position_key UNIQUE (venue_id, position)
);

CREATE TABLE events (
    event_id    BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    title       TEXT        NOT NULL,
    venue_id    BIGINT      NOT NULL REFERENCES venues (venue_id),
    category    TEXT        NOT NULL,
    start_time  TIMESTAMPTZ NOT NULL,
    status      TEXT        NOT NULL DEFAULT 'ON_SALE',
    price_cents BIGINT      NOT NULL,
    -- Waiting room settings, read by every node's queue actor.
    queue_enabled          BOOLEAN NOT NULL DEFAULT false,
    admission_rate_per_sec INTEGER NOT NULL DEFAULT 50,
    -- Grows by one with every committed change of this event's seats, in the
    -- same transaction as the change: live seat maps splice snapshots and
    -- deltas by it.
    seat_version BIGINT      NOT NULL DEFAULT 0,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT events_status_known CHECK (status IN ('SCHEDULED', 'ON_SALE', 'SOLD_OUT', 'CANCELLED', 'COMPLETED')),
    CONSTRAINT events_price_not_negative CHECK (price_cents >= 0),
    CONSTRAINT events_title_not_blank CHECK (length(btrim(title)) > 0),
    CONSTRAINT events_admission_rate_positive CHECK (admission_rate_per_sec > 0)
);

-- Browse: by date (keyset pagination on (start_time, event_id)), by category.
CREATE INDEX events_start_idx ON events (start_time, event_id);
CREATE INDEX events_category_start_idx ON events (lower(category), start_time, event_id);
