// The waiting room's pure rules: whether a stored pass still admits, how a
// standing reads, how long to wait before asking again. No DOM, unit-tested
// in tests/web/standing.test.mjs.

import { errorText } from '../lib/api.js';
import { formatClock, humanDuration } from '../lib/format.js';

/**
 * Does a stored pass ({token, expires_at}) admit buyer `uid` to event
 * `eventId` at `now` (ms)? A token reads `Q1.<event>.<user>.<exp>...`; an
 * unknown uid (no session) is not checked. A second of margin either way.
 */
export function passAdmits(pass, eventId, uid, now) {
  if (!pass?.token || !pass.expires_at) return false;
  const [kind, ev, user, exp] = String(pass.token).split('.');
  return kind === 'Q1' && Number(ev) === eventId && (uid === undefined || Number(user) === uid)
    && Number(exp) * 1000 > now + 1000 && Date.parse(pass.expires_at) > now + 1000;
}

/** The wait line under the position (`eta` in seconds). */
export function etaText({ paused, soldOut, eta }) {
  if (paused) return 'Paused: nobody is let in for now.';
  if (soldOut) return 'The line is paused while no seats are left.';
  if (eta <= 1) return 'Estimated wait: any moment now.';
  return `Estimated wait: ${humanDuration(eta)}.`;
}

/** "The sale opens at …, in 2 minutes": the presale line, at `now` (ms). */
export function opensText(opensAt, now) {
  const left = Math.round((Date.parse(opensAt) - now) / 1000);
  return left > 0
    ? `The sale opens at ${formatClock(opensAt)} (in ${humanDuration(left)}). Everyone who joins before then gets a place drawn at random.`
    : 'The sale is opening: places are being drawn…';
}

/** The progress bar's percentage: how far from `first` (the worst place seen) to the front. */
export const progressPercent = (first, position) => Math.round((100 * (first - position + 1)) / (first + 1));

/** Why a booking was refused with 403 queue_token_* (the problem's code and detail). */
export function refusalText(code, detail) {
  if (code === 'queue_token_required') return 'This event has a waiting room: join it, and you can hold seats when it is your turn.';
  if (/expire|ended/.test(String(detail ?? ''))) return 'Your turn has ended (your waiting-room pass expired). Join the waiting room again to book.';
  return 'Your waiting-room pass is not valid for this account and event. Join the waiting room again to book.';
}

/** Why joining failed, for the waiting-room panel. */
export function joinErrorText(e) {
  if (e.status === 429) return 'Too many attempts from your network. Wait a moment and try again.';
  if (e.status === 503) return 'The waiting room is briefly unavailable. Try again in a moment.';
  return errorText(e);
}

/** Backoff before the next try after `failures` failures (ms); `jitter` in [0, 1) spreads clients. */
export const retryDelay = (failures, jitter = 0.5) => Math.min(8000, 250 * 2 ** failures) * (0.5 + jitter / 2);
