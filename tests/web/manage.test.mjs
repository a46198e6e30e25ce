// Unit tests of the operator's form parsing (web/ops/manage-model.js).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSections, parseZones, priceCents, resumeRate } from '../../web/ops/manage-model.js';

describe('parseSections', () => {
  test('lines of "Name: rows x seats" become the layout sections', () => {
    assert.deepEqual(parseSections(' Floor: 2 x 3\n\nBalcony Left:1×4 '), {
      sections: [
        { name: 'Floor', rows: [{ name: '1', seats: 3 }, { name: '2', seats: 3 }] },
        { name: 'Balcony Left', rows: [{ name: '1', seats: 4 }] },
      ],
    });
  });
  test('sections placed as blocks and arcs around a stage', () => {
    assert.deepEqual(parseSections('Stage @ 0, -4, 20, 4\nFloor: 1 x 2 @ block 0, 2\nNorth: 1 x 3 @ ARC 0, -4, 20.5, 90\nSide: 1 x 1 @ block -12, 0, -90'), {
      sections: [
        { name: 'Floor', rows: [{ name: '1', seats: 2 }], shape: { type: 'block', x: 0, y: 2 } },
        { name: 'North', rows: [{ name: '1', seats: 3 }], shape: { type: 'arc', cx: 0, cy: -4, radius: 20.5, angle: 90 } },
        { name: 'Side', rows: [{ name: '1', seats: 1 }], shape: { type: 'block', x: -12, y: 0, angle: -90 } },
      ],
      stage: { x: 0, y: -4, width: 20, height: 4 },
    });
  });
  for (const [text, why] of [['', 'empty'], ['Floor 2 x 3', 'no colon'], ['Floor: 0 x 3', 'no rows'],
    ['A: 1 x 1\nA: 2 x 2', 'a name twice'], ['Floor: two x 3', 'words'],
    ['A: 1 x 1 @ block 0, 0\nB: 1 x 1', 'some sections shaped, some not'],
    ['A: 1 x 1 @ arc 0, 0, 5', 'an arc without its angle'], ['A: 1 x 1 @ arc 0, 0, -5, 90', 'a negative radius'],
    ['A: 1 x 1 @ circle 0, 0', 'an unknown shape'], ['A: 1 x 1 @ block a, b', 'words for numbers'],
    ['Stage @ 0, 0, 10, 2\nA: 1 x 1', 'a stage on a grid'], ['Stage @ 0, 0, 10\nA: 1 x 1 @ block 0, 0', 'a stage without height']]) {
    test(`refused: ${why}`, () => assert.ok(parseSections(text).error));
  }
});

describe('parseZones', () => {
  test('blank is no zones; lines become zones with prices in cents', () => {
    assert.deepEqual(parseZones('  \n'), { zones: [] });
    assert.deepEqual(parseZones('Floor | 90 | Floor\nStands | 45.5 | North, South ,'), {
      zones: [
        { name: 'Floor', price_cents: 9000, sections: ['Floor'] },
        { name: 'Stands', price_cents: 4550, sections: ['North', 'South'] },
      ],
    });
  });
  for (const [text, why] of [['Floor | 90', 'two parts'], ['Floor | ninety | A', 'a price in words'],
    ['Floor | 9 | ', 'no section'], ['A | 1 | X\nA | 2 | Y', 'a name twice'], [' | 1 | X', 'no name']]) {
    test(`refused: ${why}`, () => assert.ok(parseZones(text).error));
  }
  test('prices', () => {
    assert.equal(priceCents('45'), 4500);
    assert.equal(priceCents('45,05'), 4505);
    assert.equal(priceCents('-1'), null);
    assert.equal(priceCents('1.234'), null);
  });
});

describe('resumeRate', () => {
  test('the rate before the pause, else the form\'s, else 50', () => {
    assert.equal(resumeRate('120', 0), 120);
    assert.equal(resumeRate(null, 30), 30);
    assert.equal(resumeRate(undefined, 0), 50);
    assert.equal(resumeRate('0', '2.5'), 50);
  });
});
