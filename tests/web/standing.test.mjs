// Unit tests of the waiting room's pure rules (web/queue/standing.js) and the
// booking panel's (web/booking/rules.js).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  etaText, joinErrorText, opensText, passAdmits, progressPercent, refusalText, retryDelay,
} from '../../web/queue/standing.js';
import { payFailure, selectionSummary, takenText } from '../../web/booking/rules.js';
import { ApiError } from '../../web/lib/api.js';

describe('passAdmits', () => {
  const now = Date.parse('2026-01-01T12:00:00Z');
  const exp = now / 1000 + 120;
  const pass = (token, expiresAt = '2026-01-01T12:02:00Z') => ({ token, expires_at: expiresAt });
  test('a pass for this event and buyer, not yet expired, admits', () => {
    assert.equal(passAdmits(pass(`Q1.4.7.${exp}.mac`), 4, 7, now), true);
    assert.equal(passAdmits(pass(`Q1.4.7.${exp}.mac`), 4, undefined, now), true); // no session to compare
  });
  test('another event, another buyer, another kind or a missing field does not', () => {
    assert.equal(passAdmits(pass(`Q1.5.7.${exp}.mac`), 4, 7, now), false);
    assert.equal(passAdmits(pass(`Q1.4.8.${exp}.mac`), 4, 7, now), false);
    assert.equal(passAdmits(pass(`Q2.4.7.${exp}.mac`), 4, 7, now), false);
    assert.equal(passAdmits({ token: `Q1.4.7.${exp}` }, 4, 7, now), false);
    assert.equal(passAdmits(null, 4, 7, now), false);
  });
  test('a pass within a second of its end, by either clock, does not', () => {
    assert.equal(passAdmits(pass(`Q1.4.7.${now / 1000 + 1}.mac`), 4, 7, now), false);
    assert.equal(passAdmits(pass(`Q1.4.7.${exp}.mac`, '2026-01-01T12:00:01Z'), 4, 7, now), false);
  });
});

describe('waiting-room texts', () => {
  test('the wait line says paused, sold out, any moment, or the wait in words', () => {
    assert.equal(etaText({ paused: true, soldOut: true, eta: 90 }), 'Paused: nobody is let in for now.');
    assert.equal(etaText({ paused: false, soldOut: true, eta: 90 }), 'The line is paused while no seats are left.');
    assert.equal(etaText({ paused: false, soldOut: false, eta: 1 }), 'Estimated wait: any moment now.');
    assert.equal(etaText({ paused: false, soldOut: false, eta: 180 }), 'Estimated wait: about 3 minutes.');
  });
  test('the presale line counts down, then says the draw is on', () => {
    const now = Date.parse('2026-01-01T12:00:00Z');
    assert.match(opensText('2026-01-01T12:03:00Z', now), /^The sale opens at .+ \(in about 3 minutes\)\. /);
    assert.equal(opensText('2026-01-01T12:00:00Z', now), 'The sale is opening: places are being drawn…');
  });
  test('progress runs from the worst place seen to the front', () => {
    assert.equal(progressPercent(99, 99), 1);
    assert.equal(progressPercent(99, 50), 50);
    assert.equal(progressPercent(99, 1), 99);
    assert.equal(progressPercent(1, 1), 50);
  });
  test('a refused booking says why', () => {
    assert.match(refusalText('queue_token_required'), /^This event has a waiting room/);
    assert.match(refusalText('queue_token_invalid', 'the queue token has expired'), /^Your turn has ended/);
    assert.match(refusalText('queue_token_invalid', 'wrong event'), /not valid for this account/);
  });
  test('a failed join says what to do', () => {
    assert.match(joinErrorText(new ApiError(429, {})), /^Too many attempts/);
    assert.match(joinErrorText(new ApiError(503, {})), /briefly unavailable/);
    assert.equal(joinErrorText(new ApiError(400, { detail: 'bad' })), 'Bad.');
  });
  test('the backoff doubles from 250 ms up to 8 s, jittered down to half', () => {
    assert.equal(retryDelay(1, 1), 500);
    assert.equal(retryDelay(4, 1), 4000);
    assert.equal(retryDelay(10, 1), 8000);
    assert.equal(retryDelay(10, 0), 4000);
  });
});

describe('booking rules', () => {
  test('a payment whose outcome is unknown may be retried with the same key', () => {
    for (const e of [{ code: 'payment_timeout' }, { code: 'payment_in_progress' }, { code: 'network_error', status: 0 },
      { status: 503 }, { status: 504 }]) {
      assert.equal(payFailure(e), 'retry', JSON.stringify(e));
    }
  });
  test('an expired hold ends it; any other answer is final', () => {
    assert.equal(payFailure({ code: 'hold_expired', status: 410 }), 'expired');
    assert.equal(payFailure({ code: 'payment_declined', status: 402 }), 'final');
  });
  test('taken seats and the selection read as sentences', () => {
    assert.equal(takenText(['Sec A · Row 1 · Seat 2']), 'Sec A · Row 1 · Seat 2 was just taken.');
    assert.equal(takenText(['a', 'b']), 'a, b were just taken.');
    assert.equal(selectionSummary(1, '10.00'), '1 seat · 10.00');
    assert.equal(selectionSummary(3, '30.00'), '3 seats · 30.00');
  });
});
