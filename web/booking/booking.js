// The booking panel of the event page: the buyer's selection (each seat with
// its price), best available ("find me N seats in zone Z", picked by the
// server), the hold with its countdown, payment with safe retries (one
// Idempotency-Key per attempt), release, and a hold restored after a reload.

import { api, errorText, uuid } from '../lib/api.js';
import { byId as $, el, safeUrl } from '../lib/dom.js';
import { countdown, formatPrice, secondsUntil, titleCase } from '../lib/format.js';
import { session } from '../lib/session.js';
import { AVAILABLE, MAX_SEATS } from '../seatmap/model.js';
import { CANCELLED, withToken } from './guest.js';
import { payFailure, selectionSummary, takenText } from './rules.js';

export class Booking {
  /**
   * `view` is the SeatCanvas, `room` the WaitingRoom (it decides whether
   * seats may be held), `hooks` the page's `message(text, kind)`,
   * `legend()` and `announce(i)`.
   */
  constructor(eventId, event, model, view, room, hooks) {
    this.eventId = eventId;
    this.event = event;
    this.model = model;
    this.view = view;
    this.room = room;
    this.hooks = hooks;
    this.selected = new Set(); // seat indices chosen, not yet held
    this.mine = new Set(); // seat indices of our current hold
    this.hold = null; // {booking_id, expires_at, amount_cents, seat_ids}
    this.holding = false; // a POST /bookings is in flight
    this.attempt = null; // {key, paymentToken}: one pay click, reused on retry
    this.busy = false; // a confirm or release is in flight
    this.countdownTimer = 0;
    this.zones = null; // Zones (seatmap/zones.js): each seat's price and zone
  }

  /** Seat i's price in cents. */
  price(i) { return this.zones ? this.zones.price(i) : (this.event?.price_cents ?? 0); }

  get holdKey() { return `boxoffice.hold.${this.eventId}`; }

  message(text, kind = '') { this.hooks.message(text, kind); }

  wire() {
    $('hold').addEventListener('click', () => this.holdSeats());
    $('clear').addEventListener('click', () => {
      const was = [...this.selected];
      this.selected.clear();
      this.view.invalidate(was);
      this.renderSelection();
      this.message('');
    });
    $('pay').addEventListener('click', () => this.pay(false));
    $('retry').addEventListener('click', () => this.pay(true));
    $('release').addEventListener('click', () => this.release());
    $('again').addEventListener('click', () => { this.showView('select'); this.renderSelection(); });
    $('best-form').addEventListener('submit', (e) => {
      e.preventDefault();
      this.findBest(Number($('best-count').value), $('best-zone').value || null);
    });
  }

  // --- Selection ---------------------------------------------------------------

  toggleSeat(i) {
    if (i < 0) return;
    const { model, selected } = this;
    if (selected.has(i)) {
      selected.delete(i);
    } else {
      if (this.hold || this.holding) { this.message('Pay for or release your current hold first.', 'error'); return; }
      if (model.status[i] !== AVAILABLE) {
        this.message(`${model.shortLabel(i)} is ${titleCase(model.statusName(i) ?? 'loading')}.`, 'error');
        return;
      }
      if (selected.size >= MAX_SEATS) { this.message(`You can hold at most ${MAX_SEATS} seats at once.`, 'error'); return; }
      selected.add(i);
      this.message('');
    }
    this.view.invalidate([i]);
    this.renderSelection();
    this.hooks.announce(i, { toggled: true });
  }

  /** Someone else took a seat we had selected: deselect it and say so. */
  dropTakenSelections(indices) {
    if (this.holding) return; // our own hold is landing; its answer decides
    const taken = indices.filter((i) => this.model.status[i] !== AVAILABLE);
    if (!taken.length) return;
    for (const i of taken) this.selected.delete(i);
    this.view.invalidate(taken);
    this.renderSelection();
    this.message(takenText(taken.map((i) => this.model.shortLabel(i))), 'error');
  }

  seatItem(i, removable) {
    const li = el('li', {}, el('span', {}, this.model.shortLabel(i)),
      el('span', { class: 'seat-price' }, formatPrice(this.price(i))));
    if (removable) {
      const b = el('button', { type: 'button', class: 'small', 'aria-label': `Remove ${this.model.label(i)}` }, '×');
      b.addEventListener('click', () => this.toggleSeat(i));
      li.append(b);
    }
    return li;
  }

  renderSelection() {
    const list = [...this.selected];
    $('selected-list').replaceChildren(...list.map((i) => this.seatItem(i, true)));
    $('select-empty').hidden = list.length > 0;
    $('select-total').hidden = list.length === 0;
    $('select-total').textContent = selectionSummary(list.length, formatPrice(list.reduce((sum, i) => sum + this.price(i), 0)));
    const onSale = this.event?.status === 'ON_SALE';
    const turn = this.room.mayHold();
    $('hold').disabled = !list.length || this.holding || !onSale || !turn;
    $('best-find').disabled = this.holding || !onSale || !turn || this.hold !== null;
    $('hold-hint').hidden = turn || !onSale;
    $('hold-hint').textContent = this.room.state === 'waiting'
      ? 'You can hold seats when it is your turn. Meanwhile the map shows what is left.'
      : 'Join the waiting room above: you can hold seats when it is your turn.';
    $('clear').disabled = !list.length || this.holding;
    this.hooks.legend();
  }

  // --- Hold ----------------------------------------------------------------------

  /** The waiting room's pass as a header, {} without a room, or null when the turn has ended. */
  queueHeaders() {
    if (!this.room.enabled) return {};
    const pass = this.room.loadPass();
    if (!pass) {
      this.room.refused({ code: 'queue_token_invalid', problem: { detail: 'your turn has ended' } });
      return null;
    }
    return { 'X-Queue-Token': pass.token };
  }

  /** Best available: the server picks `count` adjacent seats (in `zone`) and holds them. */
  async findBest(count, zone) {
    if (this.holding || this.hold) return;
    const headers = this.queueHeaders();
    if (!headers) return;
    const best = zone ? { count, zone } : { count };
    this.holding = true;
    this.renderSelection();
    $('best-find').classList.add('busy');
    this.message(`Finding ${count} seat${count === 1 ? '' : 's'} together…`);
    try {
      const result = await withToken((token) => api('/bookings', {
        method: 'POST', token, body: { event_id: this.eventId, best_available: best }, headers,
      }));
      if (result === CANCELLED) { this.message(''); return; }
      const was = [...this.selected];
      this.selected.clear();
      this.view.invalidate(was);
      this.startHold(result);
      this.message('We found seats together and are holding them for you. Pay before the timer runs out.', 'ok');
    } catch (e) {
      if (e.code === 'not_enough_seats') {
        this.message(`Sorry, no ${count} seats side by side are left${zone ? ` in ${zone}` : ''}. Try fewer seats or another zone.`, 'error');
      } else if (e.code === 'queue_token_required' || e.code === 'queue_token_invalid') {
        this.room.refused(e);
      } else {
        this.message(errorText(e), 'error');
      }
    } finally {
      this.holding = false;
      $('best-find').classList.remove('busy');
      this.renderSelection();
    }
  }

  async holdSeats() {
    if (!this.selected.size || this.holding) return;
    const { model, view } = this;
    const indices = [...this.selected];
    const seatIds = indices.map((i) => model.ids[i]);
    const headers = this.queueHeaders();
    if (!headers) return;
    this.holding = true;
    this.renderSelection();
    $('hold').classList.add('busy');
    this.message('Holding your seats…');
    try {
      const result = await withToken((token) => api('/bookings', {
        method: 'POST', token, body: { event_id: this.eventId, seat_ids: seatIds }, headers,
      }));
      if (result === CANCELLED) { this.message(''); return; }
      this.selected.clear();
      this.startHold({ ...result, seat_ids: result.seat_ids ?? seatIds });
      this.message('Seats held. Pay before the timer runs out.', 'ok');
      this.hooks.held?.({ ok: true, booking: result });
    } catch (e) {
      if (e.code === 'seat_unavailable') {
        const taken = (e.problem.seat_ids ?? []).map((id) => model.index.get(id)).filter((i) => i !== undefined);
        for (const i of taken) this.selected.delete(i);
        view.invalidate(taken);
        const names = taken.map((i) => model.shortLabel(i)).join(', ');
        this.message(`Sorry, ${names || 'some seats'} ${taken.length === 1 ? 'was' : 'were'} just taken. Pick other seats.`, 'error');
        this.hooks.held?.({ ok: false, taken });
      } else if (e.code === 'queue_token_required' || e.code === 'queue_token_invalid') {
        this.room.refused(e);
      } else {
        this.message(errorText(e), 'error');
        this.hooks.held?.({ ok: false, reason: errorText(e) });
      }
    } finally {
      this.holding = false;
      $('hold').classList.remove('busy');
      view.invalidate(indices);
      this.renderSelection();
      this.dropTakenSelections([...this.selected]);
    }
  }

  startHold(booking) {
    this.hold = booking;
    this.attempt = null;
    localStorage.setItem(this.holdKey, JSON.stringify(booking));
    this.mine.clear();
    for (const id of booking.seat_ids) {
      const i = this.model.index.get(id);
      if (i !== undefined) this.mine.add(i);
    }
    this.view.redraw();
    this.showView('hold');
    $('held-list').replaceChildren(...[...this.mine].map((i) => this.seatItem(i, false)));
    $('hold-total').textContent = `Total ${formatPrice(booking.amount_cents ?? this.zonesTotal())}`;
    this.renderPayButtons();
    this.tick();
    clearInterval(this.countdownTimer);
    this.countdownTimer = setInterval(() => this.tick(), 1000);
  }

  zonesTotal() { return [...this.mine].reduce((sum, i) => sum + this.price(i), 0); }

  endHold() {
    clearInterval(this.countdownTimer);
    localStorage.removeItem(this.holdKey);
    this.hold = null;
    this.attempt = null;
    const was = [...this.mine];
    this.mine.clear();
    this.view.invalidate(was);
    this.renderSelection();
  }

  tick() {
    if (!this.hold) return;
    const left = secondsUntil(this.hold.expires_at, Date.now());
    const cd = $('countdown');
    const { text, label } = countdown(left);
    cd.textContent = text;
    cd.classList.toggle('urgent', left < 60);
    cd.setAttribute('aria-label', label);
    if (left === 0 && !this.busy) {
      this.endHold();
      this.showView('select');
      this.message('Your hold expired and the seats were released.', 'error');
    }
  }

  showView(name) {
    $('select-view').hidden = name !== 'select';
    $('hold-view').hidden = name !== 'hold';
    $('done-view').hidden = name !== 'done';
  }

  // --- Pay, release ------------------------------------------------------------------

  renderPayButtons() {
    const retrying = this.attempt !== null;
    $('pay').hidden = retrying;
    $('retry').hidden = !retrying;
    $('card').disabled = retrying || this.busy;
    for (const id of ['pay', 'retry', 'release']) $(id).disabled = this.busy;
  }

  async pay(retry) {
    if (!this.hold || this.busy) return;
    if (!retry || !this.attempt) this.attempt = { key: uuid(), paymentToken: $('card').value };
    this.busy = true;
    this.renderPayButtons();
    const button = retry ? $('retry') : $('pay');
    button.classList.add('busy');
    this.message('Processing payment…');
    try {
      const { attempt } = this;
      const result = await withToken((token) => api(`/bookings/${this.hold.booking_id}/confirm`, {
        method: 'POST', token, body: { payment_token: attempt.paymentToken },
        headers: { 'Idempotency-Key': attempt.key },
      }));
      if (result === CANCELLED) { this.attempt = null; this.message(''); return; }
      this.endHold();
      $('confirmation').textContent = result.confirmation_number;
      $('ticket-link').href = safeUrl(result.ticket_url);
      this.showView('done');
      this.message('');
      $('ticket-link').focus();
    } catch (e) {
      const failure = payFailure(e);
      if (failure === 'retry') {
        const what = e.status === 0 ? 'The connection dropped' : (e.problem.title || 'Payment not confirmed');
        this.message(`${what}. Retry: you will not be charged twice.`, 'error');
      } else if (failure === 'expired') {
        this.endHold();
        this.showView('select');
        this.message(errorText(e), 'error');
      } else {
        this.attempt = null; // a definite answer: the next click is a new attempt
        this.message(errorText(e), 'error');
      }
    } finally {
      this.busy = false;
      button.classList.remove('busy');
      if (this.hold) this.renderPayButtons();
    }
  }

  async release() {
    if (!this.hold || this.busy) return;
    this.busy = true;
    this.renderPayButtons();
    this.message('Releasing…');
    try {
      const result = await withToken((token) => api(`/bookings/${this.hold.booking_id}`, { method: 'DELETE', token }));
      if (result === CANCELLED) { this.message(''); return; }
      this.endHold();
      this.showView('select');
      this.message('Your seats were released.', 'ok');
    } catch (e) {
      this.message(errorText(e), 'error');
    } finally {
      this.busy = false;
      if (this.hold) this.renderPayButtons();
    }
  }

  /** A hold from before a reload, if it is still pending. */
  async restore() {
    const saved = localStorage.getItem(this.holdKey);
    if (!saved || !session.token) return;
    try {
      const { booking_id } = JSON.parse(saved);
      const b = await api(`/bookings/${booking_id}`, { token: session.token });
      if (b.status === 'PENDING' && Date.parse(b.expires_at) > Date.now()) this.startHold(b);
      else localStorage.removeItem(this.holdKey);
    } catch {
      localStorage.removeItem(this.holdKey);
    }
  }
}
