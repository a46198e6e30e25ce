-- Fewer pages and index entries written per hold (issue #11).
--
-- Neither double-sale guard changes: the conditional
-- `UPDATE seats ... WHERE status = 'AVAILABLE'` and the partial UNIQUE index
-- booking_seats_active_seat_key stay exactly as they are.
--
-- 1. seats_event_status_idx indexed `status`, the column every hold, release,
--    expiry and confirmation changes, so none of those updates could be HOT
--    (heap-only): each wrote a new entry into the primary key AND into this
--    index, for every seat. No query reads it (every seat query goes by
--    event_id, which the primary key (event_id, seat_id) serves), so it goes;
--    with no indexed column changing, seat updates become HOT.
DROP INDEX seats_event_status_idx;

-- 2. A HOT update needs room on the same page. A seat row is updated two or
--    three times in an on-sale (held, then confirmed or freed): leave 30 % of
--    each page free. Applies to pages written from now on, i.e. to the seat
--    rows of events created after this migration (existing events keep their
--    packed pages until rewritten, e.g. by VACUUM FULL).
ALTER TABLE seats SET (fillfactor = 70);

-- 3. A new hold has no confirmation number yet, but the UNIQUE constraint's
--    index still took an entry (a NULL) for every booking. The same guard as
--    a partial unique index, under the same name, indexes only real numbers.
ALTER TABLE bookings DROP CONSTRAINT bookings_confirmation_number_key;
CREATE UNIQUE INDEX bookings_confirmation_number_key
    ON bookings (confirmation_number) WHERE confirmation_number IS NOT NULL;

