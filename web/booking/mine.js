// "My bookings" rules, pure (unit-tested in tests/web/mine.test.mjs): which
// of GET /me/bookings are live holds and which are paid, and whether a paid
// booking may still be cancelled by its buyer.

/** {holds, confirmed}: live holds (not run out at `now` ms) soonest-ending first; paid bookings newest first. */
export function splitBookings(bookings, now) {
  const holds = bookings
    .filter((b) => b.status === 'PENDING' && Date.parse(b.expires_at) > now)
    .sort((a, b) => Date.parse(a.expires_at) - Date.parse(b.expires_at));
  const confirmed = bookings
    .filter((b) => b.status === 'CONFIRMED')
    .sort((a, b) => Date.parse(b.created_at) - Date.parse(a.created_at) || b.booking_id - a.booking_id);
  return { holds, confirmed };
}

/** Whether the buyer may cancel a paid booking of `event` at `now` ms. */
export const cancellable = (event, now) => !!event?.cancellable_until && Date.parse(event.cancellable_until) > now;

/** The Idempotency-Key of the buyer's cancellation of `bookingId`, kept in `storage` until it is answered. */
export function cancelKey(storage, bookingId, fresh) {
  const name = `boxoffice.cancel.${bookingId}`;
  let key = storage.getItem(name);
  if (!key) {
    key = fresh();
    storage.setItem(name, key);
  }
  return { key, done: () => storage.removeItem(name) };
}
