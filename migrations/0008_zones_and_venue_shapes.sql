-- Price zones of an event, and the stage of a shaped venue (issue 13, items 1 and 5).
--
-- A zone is a named set of the venue's sections with its own price. Each
-- section is in at most one zone of an event (event_zone_sections' primary
-- key); a seat in no zone costs the event's `price_cents`. Zones are written
-- once, with the event, in the transaction that creates its seats.

CREATE TABLE event_zones (
    zone_id     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id    BIGINT NOT NULL REFERENCES events (event_id) ON DELETE CASCADE,
    -- Order in which the operator listed the zones (legend order).
    position    INTEGER NOT NULL,
    name        TEXT   NOT NULL,
    price_cents BIGINT NOT NULL,
    CONSTRAINT event_zones_name_key UNIQUE (event_id, name),
    CONSTRAINT event_zones_position_key UNIQUE (event_id, position),
    CONSTRAINT event_zones_price_not_negative CHECK (price_cents >= 0),
    CONSTRAINT event_zones_name_not_blank CHECK (length(btrim(name)) > 0)
);

-- A section belongs to at most one zone of an event: a seat has one price.
CREATE TABLE event_zone_sections (
    event_id BIGINT NOT NULL REFERENCES events (event_id) ON DELETE CASCADE,
    section  TEXT   NOT NULL,
    zone_id  BIGINT NOT NULL REFERENCES event_zones (zone_id) ON DELETE CASCADE,
    PRIMARY KEY (event_id, section)
);

-- The zone of each seat of an event (NULL: no zone, the event's price). Set
-- when the event's seats are created, so the hold transaction sums a
-- booking's amount with one join instead of matching section names.
-- Nullable without a default: adding it rewrites nothing.
ALTER TABLE seats ADD COLUMN zone_id BIGINT REFERENCES event_zones (zone_id);

-- Where a shaped venue's stage is drawn ({x, y, width, height, angle, label},
-- in seat coordinates). NULL for grid layouts, which have no stage.
ALTER TABLE venues ADD COLUMN stage JSONB;
