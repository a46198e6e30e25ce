// The booking panel's pure rules. No DOM, unit-tested in tests/web/booking.test.mjs.

const RETRYABLE = new Set(['payment_timeout', 'payment_in_progress', 'network_error']);

/**
 * How a failed payment call ends: 'retry' (the answer is unknown: the same
 * Idempotency-Key may be sent again, never charging twice), 'expired' (the
 * hold is gone), or 'final' (a definite no: the next click is a new attempt).
 */
export function payFailure(e) {
  if (RETRYABLE.has(e.code) || e.status === 504 || e.status === 503 || e.status === 0) return 'retry';
  if (e.code === 'hold_expired') return 'expired';
  return 'final';
}

/** "Sec A · Row 1 · Seat 2, … was/were just taken." */
export const takenText = (labels) => `${labels.join(', ')} ${labels.length === 1 ? 'was' : 'were'} just taken.`;

/** "2 seats · 50.00" */
export const selectionSummary = (count, price) => `${count} seat${count === 1 ? '' : 's'} · ${price}`;
