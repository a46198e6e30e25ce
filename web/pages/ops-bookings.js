// The operator panel's booking desk: find a booking by id, confirmation
// number or buyer email (GET /admin/bookings?q=), see its payments, and
// refund a paid one (POST /admin/bookings/{id}/refund). A refund takes two
// clicks (arm, then confirm); its Idempotency-Key is made once per booking
// and reused for every retry of it, so double clicks and retries after a
// lost answer refund once.

import { errorText, uuid } from '../lib/api.js';
import { el } from '../lib/dom.js';
import { formatDate, formatPrice } from '../lib/format.js';

export function initBookingLookup({ opsApi, authFailed }) {
  const $ = (id) => document.getElementById(id);
  const refundKeys = new Map(); // booking_id -> Idempotency-Key of its refund
  let lastQuery = '';

  const message = (text, kind = '') => {
    $('ops-lookup-message').textContent = text;
    $('ops-lookup-message').className = `message ${kind}`;
  };

  function paymentRow(p) {
    return el('tr', {},
      el('td', {}, String(p.payment_id)),
      el('td', {}, p.status),
      el('td', {}, formatPrice(p.amount_cents)),
      el('td', { class: 'small' }, p.provider_ref ?? '–'),
      el('td', { class: 'small' }, formatDate(p.created_at)));
  }

  function refundButton(b) {
    const button = el('button', { type: 'button', class: 'danger', dataset: { refund: String(b.booking_id) } }, 'Refund');
    button.addEventListener('click', async () => {
      if (button.dataset.armed !== 'true') {
        button.dataset.armed = 'true';
        button.textContent = 'Confirm refund';
        return;
      }
      button.disabled = true;
      if (!refundKeys.has(b.booking_id)) refundKeys.set(b.booking_id, uuid());
      message(`Refunding booking ${b.booking_id}…`);
      try {
        await opsApi(`/admin/bookings/${b.booking_id}/refund`, {
          method: 'POST', headers: { 'Idempotency-Key': refundKeys.get(b.booking_id) },
        });
        message(`Booking ${b.booking_id} refunded: its seats are on sale again and its tickets no longer admit.`, 'ok');
        await search(lastQuery, { keepMessage: true });
      } catch (e) {
        if (authFailed(e)) return;
        message(errorText(e), 'error');
        button.disabled = false;
      }
    });
    return button;
  }

  function bookingItem(b) {
    const payments = el('table', { class: 'payments' },
      el('thead', {}, el('tr', {}, ...['Payment', 'Status', 'Amount', 'Provider', 'Created'].map((h) => el('th', {}, h)))),
      el('tbody', {}, ...b.payments.map(paymentRow)));
    return el('li', { class: 'panel booking-item', dataset: { bookingId: String(b.booking_id), status: b.status } },
      el('h3', {}, `Booking #${b.booking_id} · `, el('span', { class: 'booking-status' }, b.status),
        b.confirmation_number ? el('span', { class: 'confirmation' }, ` ${b.confirmation_number}`) : null),
      el('div', { class: 'muted' },
        `${b.buyer_email ?? 'unknown buyer'} · event #${b.event_id} · ${b.seat_ids.length} seat(s) · ${formatPrice(b.amount_cents)} · made ${formatDate(b.created_at)}`
        + (b.refunded_at ? ` · refunded ${formatDate(b.refunded_at)}` : '')),
      b.payments.length ? payments : el('p', { class: 'muted small' }, 'No payments.'),
      b.status === 'CONFIRMED' ? el('div', { class: 'actions' }, refundButton(b)) : null);
  }

  async function search(q, { keepMessage = false } = {}) {
    lastQuery = q;
    if (!keepMessage) message('Searching…');
    try {
      const res = await opsApi(`/admin/bookings?${new URLSearchParams({ q })}`);
      if (q !== lastQuery) return;
      $('ops-results').replaceChildren(...res.bookings.map(bookingItem));
      if (!keepMessage) message(res.bookings.length ? `${res.bookings.length} booking(s).` : 'No booking matches.');
    } catch (e) {
      if (authFailed(e)) return;
      message(errorText(e), 'error');
    }
  }

  $('ops-lookup').addEventListener('submit', (e) => {
    e.preventDefault();
    const q = $('ops-q').value.trim();
    if (q) search(q);
  });
}
