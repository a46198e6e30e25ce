// Unit tests of the formatting helpers (web/lib/format.js), the token
// claims reader (web/lib/session.js) and problem sentences (web/lib/api.js).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  countdown, formatPrice, humanDuration, localInput, rateText, secondsUntil, titleCase,
} from '../../web/lib/format.js';
import { tokenClaims } from '../../web/lib/session.js';
import { ApiError, errorText } from '../../web/lib/api.js';

describe('humanDuration', () => {
  const cases = [
    [0, 'a few seconds'], [9, 'a few seconds'], [10, 'less than a minute'], [49, 'less than a minute'],
    [50, 'about a minute'], [89, 'about a minute'], [90, 'about 2 minutes'], [59 * 60, 'about 59 minutes'],
    [3600, 'about 1 hour'], [3600 + 25 * 60, 'about 1 hour 25 min'], [2 * 3600, 'about 2 hours'],
    [-5, 'a few seconds'], ['nonsense', 'unknown'],
  ];
  for (const [seconds, text] of cases) {
    test(`${JSON.stringify(seconds)} s reads "${text}"`, () => assert.equal(humanDuration(seconds), text));
  }
});

describe('countdown', () => {
  test('minutes and seconds, zero-padded, and a spoken form', () => {
    assert.deepEqual(countdown(299), { text: '04:59', label: '4 minutes 59 seconds left' });
    assert.deepEqual(countdown(0), { text: '00:00', label: '0 minutes 0 seconds left' });
    assert.deepEqual(countdown(600), { text: '10:00', label: '10 minutes 0 seconds left' });
  });
  test('seconds until an instant are rounded and never negative', () => {
    const now = Date.parse('2026-01-01T12:00:00Z');
    assert.equal(secondsUntil('2026-01-01T12:05:00Z', now), 300);
    assert.equal(secondsUntil('2026-01-01T12:00:00.600Z', now), 1);
    assert.equal(secondsUntil('2026-01-01T11:59:00Z', now), 0);
  });
});

describe('formatting', () => {
  test('titleCase turns statuses into words', () => {
    assert.equal(titleCase('ON_SALE'), 'On Sale');
    assert.equal(titleCase('AVAILABLE'), 'Available');
    assert.equal(titleCase(null), '');
  });
  test('prices are cents shown with two decimals', () => {
    const money = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
    assert.equal(formatPrice(4550), money.format(45.5));
    assert.equal(formatPrice('100'), money.format(1));
  });
  test('a datetime-local value is the local wall-clock time to the second', () => {
    const d = new Date(2026, 2, 4, 5, 6, 7); // local time
    assert.equal(localInput(d.toISOString()), '2026-03-04T05:06:07');
    assert.equal(localInput(null), '');
  });
  test('a rate keeps at most one decimal', () => {
    assert.equal(rateText(2), `${(2).toLocaleString()} / s`);
    assert.equal(rateText(2.25), `${(2.25).toLocaleString(undefined, { maximumFractionDigits: 1 })} / s`);
  });
});

describe('tokenClaims', () => {
  const b64url = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  test('reads the claims of a token, padding or not', () => {
    assert.deepEqual(tokenClaims(`${b64url({ uid: 7, role: 'admin', exp: 9 })}.sig`), { uid: 7, role: 'admin', exp: 9 });
    assert.deepEqual(tokenClaims(`${b64url({ uid: 12345 })}.sig`), { uid: 12345 });
  });
  test('anything else is null, never an exception', () => {
    for (const t of [null, undefined, '', 'not a token', `${b64url(42)}.x`, '%%%.x']) assert.equal(tokenClaims(t), null);
  });
});

describe('errorText', () => {
  test("a problem's detail becomes a sentence", () => {
    assert.equal(errorText(new ApiError(409, { detail: 'seat 3 is held' })), 'Seat 3 is held.');
    assert.equal(errorText(new ApiError(404, { title: 'Not found' })), 'Not found.');
    assert.equal(errorText(new ApiError(500, {})), 'Request failed (500)'); // a closing bracket ends it too
    assert.equal(errorText(new ApiError(400, { detail: 'Already a sentence!' })), 'Already a sentence!');
  });
  test('other errors keep their message', () => {
    assert.equal(errorText(new Error('boom')), 'boom');
    assert.equal(errorText('plain'), 'plain');
  });
  test('the problem code is kept for callers that branch on it', () => {
    assert.equal(new ApiError(403, { code: 'queue_token_required' }).code, 'queue_token_required');
    assert.equal(new ApiError(403, {}).code, null);
  });
});
