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
  for (const [text, why] of [['', 'empty'], ['Floor 2 x 3', 'no colon'], ['Floor: 0 x 3', 'no rows'],
    ['A: 1 x 1\nA: 2 x 2', 'a name twice'], ['Floor: two x 3', 'words']]) {
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
