// Unit tests of the seat map's price zones (web/seatmap/zones.js).
//
//   node --test tests/web/

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AVAILABLE, C_SELECTED, RESERVED, SeatModel } from '../../web/seatmap/model.js';
import { C_FILTERED, C_ZONE, Zones } from '../../web/seatmap/zones.js';

/** Sections A (2 seats), B (1), C (1); ids 1..4. */
function model() {
  let id = 1;
  const row = (n) => ({ name: '1', seats: Array.from({ length: n }, (_, k) => ({ seat_id: id++, number: k + 1, x: k, y: 0 })) });
  return new SeatModel({ sections: [{ name: 'A', rows: [row(2)] }, { name: 'B', rows: [row(1)] }, { name: 'C', rows: [row(1)] }] });
}

const event = {
  price_cents: 5000,
  zones: [{ name: 'Floor', price_cents: 9000, sections: ['A'] }, { name: 'Balcony', price_cents: 3000, sections: ['B'] }],
};

test('each seat has its zone and price; seats in no zone cost the event price', () => {
  const zones = new Zones(event, model());
  assert.deepEqual([...zones.zoneOf], [0, 0, 1, -1]);
  assert.deepEqual([0, 1, 2, 3].map((i) => zones.price(i)), [9000, 9000, 3000, 5000]);
  assert.equal(zones.zoneName(2), 'Balcony');
  assert.equal(zones.zoneName(3), null);
  assert.equal(zones.total([0, 2, 3]), 17000);
  assert.deepEqual(zones.priceLevels(), [3000, 5000, 9000]);
});

test('available seats take their zone colour, the price filter dims dearer ones, other classes stay', () => {
  const zones = new Zones(event, model());
  assert.equal(zones.classOf(AVAILABLE, 0), C_ZONE);
  assert.equal(zones.classOf(AVAILABLE, 2), C_ZONE + 1);
  assert.equal(zones.classOf(AVAILABLE, 3), AVAILABLE);
  zones.maxPrice = 5000;
  assert.equal(zones.classOf(AVAILABLE, 0), C_FILTERED);
  assert.equal(zones.classOf(AVAILABLE, 3), AVAILABLE);
  assert.equal(zones.classOf(RESERVED, 0), RESERVED);
  assert.equal(zones.classOf(C_SELECTED, 0), C_SELECTED);
  assert.equal(zones.colors('#ccc').length, 3);
});

test('an event without zones prices every seat alike', () => {
  const zones = new Zones({ price_cents: 100 }, model());
  assert.deepEqual([...zones.prices], [100, 100, 100, 100]);
  assert.equal(zones.classOf(AVAILABLE, 0), AVAILABLE);
});
