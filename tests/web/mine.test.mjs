// "My bookings": live holds and paid bookings, and the buyer's cancel window.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cancelKey, cancellable, splitBookings } from '../../web/booking/mine.js';

const now = Date.parse('2030-01-01T12:00:00Z');

test('live holds end soonest first, run-out holds are gone, paid bookings newest first', () => {
  const { holds, confirmed } = splitBookings([
    { booking_id: 1, status: 'PENDING', expires_at: '2030-01-01T12:05:00Z', created_at: '2030-01-01T11:55:00Z' },
    { booking_id: 2, status: 'PENDING', expires_at: '2030-01-01T11:59:59Z', created_at: '2030-01-01T11:50:00Z' },
    { booking_id: 3, status: 'PENDING', expires_at: '2030-01-01T12:01:00Z', created_at: '2030-01-01T11:51:00Z' },
    { booking_id: 4, status: 'CONFIRMED', expires_at: '2030-01-01T11:00:00Z', created_at: '2030-01-01T10:00:00Z' },
    { booking_id: 5, status: 'CONFIRMED', expires_at: '2030-01-01T11:00:00Z', created_at: '2030-01-01T10:30:00Z' },
    { booking_id: 6, status: 'REFUNDED', expires_at: '2030-01-01T11:00:00Z', created_at: '2030-01-01T10:40:00Z' },
  ], now);
  assert.deepEqual(holds.map((b) => b.booking_id), [3, 1]);
  assert.deepEqual(confirmed.map((b) => b.booking_id), [5, 4]);
});

test('a buyer may cancel only before the event says', () => {
  assert.equal(cancellable({ cancellable_until: '2030-01-02T00:00:00Z' }, now), true);
  assert.equal(cancellable({ cancellable_until: '2029-12-31T00:00:00Z' }, now), false);
  assert.equal(cancellable({ cancellable_until: null }, now), false);
  assert.equal(cancellable(undefined, now), false);
});

test('a cancellation keeps its key across retries until it is answered', () => {
  const map = new Map();
  const storage = { getItem: (k) => map.get(k) ?? null, setItem: (k, v) => map.set(k, v), removeItem: (k) => map.delete(k) };
  let n = 0;
  const fresh = () => `key-${++n}`;
  const first = cancelKey(storage, 7, fresh);
  assert.equal(cancelKey(storage, 7, fresh).key, first.key);
  first.done();
  assert.equal(cancelKey(storage, 7, fresh).key, 'key-2');
});
