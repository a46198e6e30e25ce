// Unit tests of what the seat map says to screen readers (web/lib/announce.js).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { holdFailed, holdSucceeded, seatName, seatPhrase, selectionPhrase } from '../../web/lib/announce.js';

describe('announcements', () => {
  test('a seat is named section-row-number', () => assert.equal(seatName('A', '3', 12), 'A-3-12'));
  test('selecting and deselecting say so, with how many are selected', () => {
    assert.equal(selectionPhrase('A-3-12', true, 1), 'Seat A-3-12 selected. 1 seat selected.');
    assert.equal(selectionPhrase('A-3-12', false, 0), 'Seat A-3-12 deselected. 0 seats selected.');
  });
  test('a cursor move names the seat and its state in words', () => {
    assert.equal(seatPhrase('A-1-1', 'AVAILABLE'), 'Seat A-1-1, available.');
    assert.equal(seatPhrase('A-1-1', 'RESERVED'), 'Seat A-1-1, held.');
    assert.equal(seatPhrase('A-1-1', 'CONFIRMED'), 'Seat A-1-1, sold.');
    assert.equal(seatPhrase('A-1-1', null), 'Seat A-1-1, loading.');
    assert.equal(seatPhrase('A-1-1', 'AVAILABLE', { selected: true }), 'Seat A-1-1, available, selected.');
    assert.equal(seatPhrase('A-1-1', 'RESERVED', { mine: true }), 'Seat A-1-1, held, held by you.');
  });
  test('a hold that succeeded names the seats and the time', () => {
    assert.equal(holdSucceeded(['A-3-12'], 10), 'Hold succeeded: seat A-3-12 is yours for 10 minutes. Pay before the timer runs out.');
    assert.equal(holdSucceeded(['A-3-12', 'A-3-13', 'A-3-14'], 1),
      'Hold succeeded: seats A-3-12, A-3-13 and A-3-14 are yours for 1 minute. Pay before the timer runs out.');
  });
  test('a hold that failed says why', () => {
    assert.equal(holdFailed({ taken: ['B-1-2'] }), 'Hold failed: seat B-1-2 was just taken. Pick other seats.');
    assert.equal(holdFailed({ taken: ['B-1-2', 'B-1-3'] }), 'Hold failed: seats B-1-2 and B-1-3 were just taken. Pick other seats.');
    assert.equal(holdFailed({ reason: 'You already hold 8 seats.' }), 'Hold failed: You already hold 8 seats.');
    assert.equal(holdFailed(), 'Hold failed.');
  });
});
