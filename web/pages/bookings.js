// bookings.html: the buyer's holds (with a live countdown), paid bookings and
// their tickets, from GET /me/bookings with the token this browser keeps
// (so it survives a reload). A paid booking can be cancelled and refunded
// here while its event allows it (POST /bookings/{id}/cancel).

import { api, errorText, uuid } from '../lib/api.js';
import { el } from '../lib/dom.js';
import { countdown, formatDate, formatPrice, secondsUntil } from '../lib/format.js';
import { session } from '../lib/session.js';
import { cancelKey, cancellable, splitBookings } from '../booking/mine.js';

const $ = (id) => document.getElementById(id);
const events = new Map(); // event_id -> event (or null when it failed to load)
const tickets = new Map(); // confirmation number -> tickets
let loaded = [];
let clock = 0;

const message = (text, kind = '') => { $('mine-message').textContent = text; $('mine-message').className = `message ${kind}`; };

async function event(id) {
  if (!events.has(id)) {
    events.set(id, await api(`/events/${id}`).catch(() => null));
  }
  return events.get(id);
}

async function ticketsOf(number) {
  if (!tickets.has(number)) {
    const res = await api(`/tickets/${encodeURIComponent(number)}`, { token: session.token });
    tickets.set(number, res.tickets);
  }
  return tickets.get(number);
}

const eventLine = (ev, booking) => el('div', { class: 'muted' },
  ev ? `${ev.title} · ${formatDate(ev.start_time)} · ${ev.venue_name ?? ''}` : `Event #${booking.event_id}`);

function holdItem(b, ev) {
  const left = el('span', { class: 'countdown', dataset: { expires: b.expires_at } }, '--:--');
  const pay = el('a', { class: 'button primary', href: `/web/event.html?event_id=${b.event_id}` }, 'Pay now');
  // The event page picks this hold up again from here.
  pay.addEventListener('click', () => localStorage.setItem(`boxoffice.hold.${b.event_id}`, JSON.stringify(b)));
  const release = el('button', { type: 'button' }, 'Release');
  release.addEventListener('click', async () => {
    release.disabled = true;
    try {
      await api(`/bookings/${b.booking_id}`, { method: 'DELETE', token: session.token });
      message('Your seats were released.', 'ok');
      await load();
    } catch (e) {
      message(errorText(e), 'error');
      release.disabled = false;
    }
  });
  return el('li', { class: 'panel booking-item', dataset: { bookingId: String(b.booking_id), status: b.status } },
    el('h3', {}, `Hold #${b.booking_id} · ${b.seat_ids.length} seat${b.seat_ids.length === 1 ? '' : 's'}`),
    eventLine(ev, b),
    el('div', {}, 'Ends in ', left, ` · ${formatPrice(b.amount_cents)}`),
    el('div', { class: 'actions' }, pay, release));
}

function confirmedItem(b, ev) {
  const list = el('ul', { class: 'seat-list tickets' }, el('li', { class: 'muted' }, 'Loading tickets…'));
  ticketsOf(b.confirmation_number).then((ts) => {
    list.replaceChildren(...ts.map((t) => el('li', { dataset: { ticketId: String(t.ticket_id) } },
      el('span', {}, `${t.section} · row ${t.row} · seat ${t.number}`),
      el('span', { class: 'muted small' }, t.checked_in_at ? 'used' : 'valid'))));
  }).catch((e) => list.replaceChildren(el('li', { class: 'error' }, errorText(e))));
  const actions = el('div', { class: 'actions' },
    el('a', { class: 'button primary', href: b.ticket_url }, 'Show tickets'));
  if (cancellable(ev, Date.now())) {
    const cancel = el('button', { type: 'button' }, 'Cancel and refund');
    cancel.addEventListener('click', async () => {
      if (cancel.dataset.armed !== 'true') {
        cancel.dataset.armed = 'true';
        cancel.textContent = 'Really cancel? Click again';
        return;
      }
      cancel.disabled = true;
      const { key, done } = cancelKey(localStorage, b.booking_id, uuid);
      try {
        await api(`/bookings/${b.booking_id}/cancel`, { method: 'POST', token: session.token, headers: { 'Idempotency-Key': key } });
        done();
        message(`Booking ${b.confirmation_number} was cancelled; your payment is refunded.`, 'ok');
        await load();
      } catch (e) {
        if (e.code === 'already_refunded' || e.code === 'cancellation_closed' || e.code === 'cancellation_not_allowed') done();
        message(errorText(e), 'error');
        cancel.disabled = false;
      }
    });
    actions.append(cancel, el('span', { class: 'muted small' }, `until ${formatDate(ev.cancellable_until)}`));
  }
  return el('li', { class: 'panel booking-item', dataset: { bookingId: String(b.booking_id), status: b.status } },
    el('h3', {}, 'Booking ', el('span', { class: 'confirmation' }, b.confirmation_number)),
    eventLine(ev, b),
    el('div', {}, `${b.seat_ids.length} seat${b.seat_ids.length === 1 ? '' : 's'} · ${formatPrice(b.amount_cents)}`),
    list, actions);
}

function tick() {
  let ended = false;
  for (const node of document.querySelectorAll('.countdown[data-expires]')) {
    const left = secondsUntil(node.dataset.expires, Date.now());
    const { text, label } = countdown(left);
    node.textContent = text;
    node.setAttribute('aria-label', label);
    node.classList.toggle('urgent', left < 60);
    if (left === 0) ended = true;
  }
  if (ended) render();
}

async function render() {
  const { holds, confirmed } = splitBookings(loaded, Date.now());
  const withEvents = async (list) => Promise.all(list.map(async (b) => [b, await event(b.event_id)]));
  $('mine-holds').replaceChildren(...(await withEvents(holds)).map(([b, ev]) => holdItem(b, ev)));
  $('mine-confirmed').replaceChildren(...(await withEvents(confirmed)).map(([b, ev]) => confirmedItem(b, ev)));
  $('mine-holds-empty').hidden = holds.length > 0;
  $('mine-confirmed-empty').hidden = confirmed.length > 0;
  tick();
}

async function load() {
  if (!session.token) {
    $('mine-status').textContent = 'No bookings in this browser yet: pick seats on an event page to start.';
    $('mine-holds-empty').hidden = false;
    $('mine-confirmed-empty').hidden = false;
    return;
  }
  try {
    const res = await api('/me/bookings', { token: session.token });
    loaded = res.bookings;
    $('mine-status').textContent = session.email ? `Bookings of ${session.email}.` : '';
    await render();
    document.body.dataset.loaded = 'true';
  } catch (e) {
    $('mine-status').textContent = e.status === 401
      ? 'Your session has expired: bookings made with it are in your confirmation emails.'
      : errorText(e);
  }
}

clearInterval(clock);
clock = setInterval(tick, 1000);
load();

// Test and debugging hooks.
window.boxofficeMine = { get bookings() { return loaded; }, reload: load };
