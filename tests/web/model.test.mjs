// Unit tests of the seat model (web/seatmap/model.js): layout flattening,
// snapshots in both formats, deltas, counts and the delta ordering rule.
//
//   node --test tests/web/

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AVAILABLE, C_MINE, C_SELECTED, C_UNKNOWN, CONFIRMED, RESERVED, SeatModel, UNKNOWN, deltaAction, seatClass,
} from '../../web/seatmap/model.js';

/** Two sections: A with rows 1 (3 seats) and 2 (2 seats), B with row 1 (1 seat). Ids 101… */
function layout() {
  let id = 101;
  const row = (name, y, xs) => ({ name, seats: xs.map((x, k) => ({ seat_id: id++, number: k + 1, x, y })) });
  return {
    sections: [
      { name: 'A', rows: [row('1', 10, [0, 10, 20]), row('2', 20, [5, 15])] },
      { name: 'B', rows: [row('1', 40, [100])] },
    ],
  };
}

const statuses = (model) => [...model.ids].map((id) => model.statusName(model.index.get(id)));

describe('SeatModel', () => {
  test('flattens the layout in order and indexes every seat', () => {
    const m = new SeatModel(layout());
    assert.equal(m.n, 6);
    assert.deepEqual([...m.ids], [101, 102, 103, 104, 105, 106]);
    assert.equal(m.index.get(104), 3);
    assert.equal(m.label(3), 'Section A, row 2, seat 1');
    assert.equal(m.shortLabel(5), 'Sec B · Row 1 · Seat 1');
    assert.deepEqual(m.rows.map((r) => [r.section, r.name, r.start, r.end]), [['A', '1', 0, 3], ['A', '2', 3, 5], ['B', '1', 5, 6]]);
    assert.deepEqual(m.sections.map((s) => [s.name, s.minX, s.minY]), [['A', 0, 10], ['B', 100, 40]]);
  });

  test('starts with every seat unknown and no version', () => {
    const m = new SeatModel(layout());
    assert.ok([...m.status].every((s) => s === UNKNOWN));
    assert.equal(m.version, null);
    assert.deepEqual(m.counts, [0, 0, 0]);
    assert.equal(m.statusName(0), null);
  });

  test('a compact snapshot sets every status, the counts and the version', () => {
    const m = new SeatModel(layout());
    assert.equal(m.applySnapshot({ type: 'snapshot', version: 7, statuses: 'ARCAAR' }), true);
    assert.deepEqual(statuses(m), ['AVAILABLE', 'RESERVED', 'CONFIRMED', 'AVAILABLE', 'AVAILABLE', 'RESERVED']);
    assert.deepEqual(m.counts, [3, 2, 1]);
    assert.equal(m.version, 7);
  });

  test('a compact snapshot of the wrong length is refused and changes nothing', () => {
    const m = new SeatModel(layout());
    m.applySnapshot({ version: 1, statuses: 'AAAAAA' });
    const warn = console.warn;
    console.warn = () => {};
    try {
      assert.equal(m.applySnapshot({ version: 2, statuses: 'RRR' }), false);
    } finally {
      console.warn = warn;
    }
    assert.equal(m.version, 1);
    assert.deepEqual(m.counts, [6, 0, 0]);
  });

  test('a full snapshot names seats; seats it leaves out stay unknown', () => {
    const m = new SeatModel(layout());
    m.applySnapshot({ version: 1, statuses: 'CCCCCC' });
    const ok = m.applySnapshot({
      version: 3,
      seats: [{ seat_id: 101, status: 'RESERVED' }, { seat_id: 106, status: 'AVAILABLE' }, { seat_id: 999, status: 'AVAILABLE' }],
    });
    assert.equal(ok, true);
    assert.deepEqual(statuses(m), ['RESERVED', null, null, null, null, 'AVAILABLE']);
    assert.deepEqual(m.counts, [1, 1, 0]);
    assert.equal(m.version, 3);
  });

  test('a snapshot with neither statuses nor seats is refused', () => {
    assert.equal(new SeatModel(layout()).applySnapshot({ version: 1 }), false);
  });

  test('a delta changes only the named seats, keeps the counts right and returns what changed', () => {
    const m = new SeatModel(layout());
    m.applySnapshot({ version: 4, statuses: 'AAAAAA' });
    const changed = m.applyDelta({
      type: 'delta', from_version: 5, version: 6,
      changes: [
        { seat_id: 102, status: 'RESERVED' },
        { seat_id: 103, status: 'AVAILABLE' }, // unchanged: not reported
        { seat_id: 999, status: 'RESERVED' }, // not in this layout
        { seat_id: 104, status: 'SOLD' }, // unknown status: ignored
      ],
    });
    assert.deepEqual(changed, [1]);
    assert.equal(m.status[1], RESERVED);
    assert.deepEqual(m.counts, [5, 1, 0]);
    assert.equal(m.version, 6);
    m.applyDelta({ from_version: 7, version: 7, changes: [{ seat_id: 102, status: 'CONFIRMED' }] });
    assert.equal(m.status[1], CONFIRMED);
    assert.deepEqual(m.counts, [5, 0, 1]);
  });

  test('the nearest seat in the row above or below, and the same seat at the edges', () => {
    const m = new SeatModel(layout());
    assert.equal(m.nearestInRow(2, 1), 4); // x 20 -> row 2's x 15
    assert.equal(m.nearestInRow(0, 1), 3); // x 0 -> x 5
    assert.equal(m.nearestInRow(4, 1), 5); // row 2 -> section B's row
    assert.equal(m.nearestInRow(1, -1), 1); // no row above
    assert.equal(m.nearestInRow(5, 1), 5); // no row below
  });
});

describe('deltaAction', () => {
  test('without a snapshot every delta asks for one', () => {
    assert.equal(deltaAction(null, { from_version: 1, version: 1 }), 'resync');
  });
  test('a delta we already have is ignored', () => {
    assert.equal(deltaAction(5, { from_version: 5, version: 5 }), 'ignore');
    assert.equal(deltaAction(5, { from_version: 3, version: 4 }), 'ignore');
  });
  test('the next delta applies, also one that overlaps what we have', () => {
    assert.equal(deltaAction(5, { from_version: 6, version: 6 }), 'apply');
    assert.equal(deltaAction(5, { from_version: 4, version: 8 }), 'apply');
  });
  test('a gap asks for a fresh snapshot', () => {
    assert.equal(deltaAction(5, { from_version: 7, version: 7 }), 'resync');
  });
});

describe('seatClass', () => {
  const selected = new Set([0]);
  const mine = new Set([1]);
  test('a selected available seat and a seat of our hold get their own colours', () => {
    assert.equal(seatClass(AVAILABLE, 0, selected, mine), C_SELECTED);
    assert.equal(seatClass(RESERVED, 1, selected, mine), C_MINE);
  });
  test('otherwise the status decides; unknown is drawn as unknown', () => {
    assert.equal(seatClass(RESERVED, 0, selected, mine), RESERVED); // taken from under the selection
    assert.equal(seatClass(AVAILABLE, 1, selected, mine), AVAILABLE); // our hold was released
    assert.equal(seatClass(CONFIRMED, 2, selected, mine), CONFIRMED);
    assert.equal(seatClass(UNKNOWN, 0, selected, mine), C_UNKNOWN);
  });
});
