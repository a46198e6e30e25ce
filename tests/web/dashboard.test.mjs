// Unit tests of the live dashboard's pure parts: the event-stream parser
// (web/lib/sse-fetch.js), the series, zones and chart geometry
// (web/ops/dashboard-model.js).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SseParser } from '../../web/lib/sse-fetch.js';
import { DashboardSeries, linePoints, niceMax, zoneRows } from '../../web/ops/dashboard-model.js';

describe('SseParser', () => {
  test('messages split across chunks, with names, ids, multi-line data and comments', () => {
    const p = new SseParser();
    assert.deepEqual(p.push(': keep-alive\n\nevent: snap'), []);
    assert.deepEqual(p.push('shot\ndata: {"a":1}\n\n'), [{ event: 'snapshot', data: '{"a":1}', id: null }]);
    assert.deepEqual(p.push('id: 7\r\ndata: one\r\ndata:two\r\n\r\ndata: x\n'), [{ event: 'message', data: 'one\ntwo', id: '7' }]);
    assert.deepEqual(p.push('\n'), [{ event: 'message', data: 'x', id: null }]);
  });
  test('a blank line with no data is no message', () => {
    assert.deepEqual(new SseParser().push('event: sample\n\n'), []);
  });
});

describe('DashboardSeries', () => {
  const point = (i, extra = {}) => ({ at: new Date(1_000_000 + i * 1000).toISOString(), holds_total: i, holds_per_sec: i ? 1 : null, ...extra });
  test('a snapshot then samples, keeping the newest points only', () => {
    const s = new DashboardSeries(3);
    s.snapshot({ points: [point(0), point(1)], seats: [{ section: 'A', available: 1, held: 0, sold: 0 }] });
    s.sample({ ...point(2), seats: [{ section: 'A', available: 0, held: 1, sold: 0 }] });
    s.sample(point(3));
    assert.deepEqual(s.points.map((p) => p.holds_total), [1, 2, 3]);
    assert.equal(s.latest.holds_total, 3);
    assert.equal(s.seats[0].held, 1, 'a sample without seats keeps the last ones');
    assert.equal('seats' in s.latest, false);
  });
  test('values leave unknown readings out', () => {
    const s = new DashboardSeries();
    s.snapshot({ points: [point(0), point(1)] });
    assert.deepEqual(s.values('holds_per_sec'), [{ t: 1_001_000, v: 1 }]);
  });
});

describe('zoneRows', () => {
  const seats = [
    { section: 'Floor', available: 5, held: 1, sold: 2 },
    { section: 'North', available: 10, held: 0, sold: 0 },
    { section: 'South', available: 3, held: 2, sold: 1 },
    { section: 'Box', available: 1, held: 0, sold: 0 },
  ];
  test('without zones: the whole event in one row', () => {
    assert.deepEqual(zoneRows(seats, []), [{ name: 'Whole event', available: 19, held: 3, sold: 3 }]);
    assert.deepEqual(zoneRows([], undefined), [{ name: 'Whole event', available: 0, held: 0, sold: 0 }]);
  });
  test('with zones: their sections summed, and the rest as other sections', () => {
    const zones = [
      { name: 'Floor', price_cents: 9000, sections: ['Floor'] },
      { name: 'Stands', price_cents: 5000, sections: ['North', 'South', 'Nowhere'] },
    ];
    assert.deepEqual(zoneRows(seats, zones), [
      { name: 'Floor', available: 5, held: 1, sold: 2 },
      { name: 'Stands', available: 13, held: 2, sold: 1 },
      { name: 'Other sections', available: 1, held: 0, sold: 0 },
    ]);
  });
});

describe('chart geometry', () => {
  test('niceMax rounds up to 1, 2, 2.5 or 5 times a power of ten', () => {
    for (const [max, nice] of [[0, 1], [-3, 1], [0.7, 1], [1, 1], [1.2, 2], [2.2, 2.5], [3, 5], [7, 10], [180, 200], [12_345, 20_000]]) {
      assert.equal(niceMax(max), nice, `${max}`);
    }
  });
  test('linePoints places the newest point at the right edge and 0 at the bottom', () => {
    const now = 300_000;
    const { points, max } = linePoints([{ t: 0, v: 0 }, { t: 150_000, v: 4 }, { t: now, v: 8 }], {
      width: 300, height: 80, now, spanMs: 300_000,
    });
    assert.equal(max, 10);
    assert.equal(points, '0.0,80.0 150.0,48.0 300.0,16.0');
    assert.equal(linePoints([{ t: -1, v: 1 }], { width: 300, height: 80, now, spanMs: 300_000 }).points, '', 'older than the span: not drawn');
  });
});
