// Formatting for people: prices, dates, durations, countdowns. Pure (no DOM),
// unit-tested in tests/web/format.test.mjs.

const money = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
export const formatPrice = (cents) => money.format(Number(cents) / 100);

const dateFormat = new Intl.DateTimeFormat(undefined, {
  weekday: 'short', day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit',
});
export const formatDate = (iso) => dateFormat.format(new Date(iso));

const clock = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
/** HH:MM in the visitor's time zone. */
export const formatClock = (iso) => clock.format(new Date(iso));

/** "ON_SALE" -> "On Sale". */
export const titleCase = (s) => String(s || '').toLowerCase().replace(/(^|[\s_])\w/g, (m) => m.toUpperCase()).replace(/_/g, ' ');

/** "about 3 minutes": a wait in words. */
export function humanDuration(seconds) {
  const s = Math.max(0, Math.round(Number(seconds)));
  if (!Number.isFinite(s)) return 'unknown';
  if (s < 10) return 'a few seconds';
  if (s < 50) return 'less than a minute';
  if (s < 90) return 'about a minute';
  const minutes = Math.round(s / 60);
  if (minutes < 60) return `about ${minutes} minutes`;
  const h = Math.floor(minutes / 60), m = minutes % 60;
  return `about ${h} hour${h === 1 ? '' : 's'}${m ? ` ${m} min` : ''}`;
}

/** Whole seconds from `now` (ms) until an ISO instant, never below zero. */
export const secondsUntil = (iso, now) => Math.max(0, Math.round((Date.parse(iso) - now) / 1000));

/** A hold's countdown: "04:59" and its spoken form. */
export function countdown(secondsLeft) {
  const m = Math.floor(secondsLeft / 60), s = secondsLeft % 60;
  return {
    text: `${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`,
    label: `${m} minutes ${s} seconds left`,
  };
}

/** A datetime-local value (local time, seconds) for an ISO instant. */
export function localInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** An admission rate: "2.5 / s". */
export const rateText = (r) => `${Number(r).toLocaleString(undefined, { maximumFractionDigits: 1 })} / s`;
