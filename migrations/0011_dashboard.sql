-- The operator's live dashboard counts an event's holds and sales and sums its
-- revenue once a second per event (src/store/dashboard.rs). Without this index
-- that is a scan of every booking of every event; with it, an index-only scan
-- of the one event's bookings (amount_cents is carried for the revenue sum).
CREATE INDEX bookings_event_status_idx ON bookings (event_id, status) INCLUDE (amount_cents);
