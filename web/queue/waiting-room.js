// The waiting room on an event page. For an event with queue_enabled: join
// (POST), then follow the position stream (SSE, the HttpOnly cookie
// authenticates it) until it says `admitted`. The queue token is kept per
// event in localStorage with its expiry and sent as X-Queue-Token when holding
// seats. A dropped stream is reconnected after a GET of the standing (also a
// sign of life); a stream that keeps failing degrades to polling that GET.
// The rules (pass validity, texts, backoff) are in ./standing.js, the
// drawing of the panel in ./panel.js.

import { api, errorText } from '../lib/api.js';
import { byId as $ } from '../lib/dom.js';
import { session, tokenClaims } from '../lib/session.js';
import { renderOpens, renderPanel, showFairness } from './panel.js';
import { joinErrorText, passAdmits, refusalText, retryDelay } from './standing.js';

const STALL_MS = 7000; // positions come at least every 2 s
const POLL_MS = 2000;

export class WaitingRoom {
  /**
   * `event` is the event as loaded (its queue_enabled is kept current);
   * `onChange()` runs after every state change (the booking panel asks
   * `mayHold()`); `message(text, kind)` writes the page's booking message;
   * `withToken(fn)` runs fn(token) after a guest sign-in if needed.
   */
  constructor(eventId, event, { onChange, message, withToken, cancelled }) {
    this.eventId = eventId;
    this.event = event;
    this.onChange = onChange;
    this.message = message;
    this.withToken = withToken;
    this.cancelled = cancelled;
    /** Whether this event has a waiting room (the operator may switch it off). */
    this.enabled = false;
    /** off | idle | joining | waiting | admitted | expired | rejected */
    this.state = 'off';
    this.position = null; // null while waiting before the sale opens
    this.eta = null;
    this.soldOut = false;
    this.paused = false; // the organiser paused admission (rate 0): places are kept
    this.opensAt = null;
    this.first = null; // the largest position seen while waiting, for the progress bar
    this.shown = []; // every position shown (test hook)
    this.pass = null; // {token, expires_at}
    this.source = null; // the position stream (EventSource) while open
    this.failures = 0; // stream or GET failures in a row: the backoff
    this.retryTimer = 0;
    this.stallTimer = 0;
    this.ticker = 0;
    this.fairness = null;
    this.fairnessAt = 0;
    this.checkedAt = 0; // when we last asked whether the event still has a waiting room
  }

  /** What the page sees (test hook). */
  snapshot() {
    return {
      enabled: this.enabled, state: this.state, position: this.position, eta_seconds: this.eta,
      sold_out: this.soldOut, paused: this.paused, shown: [...this.shown], streaming: !!this.source,
      expires_at: this.pass?.expires_at ?? null, has_token: !!this.pass,
    };
  }

  // --- The pass ----------------------------------------------------------------

  get passKey() { return `boxoffice.queue.${this.eventId}`; }

  /** The stored queue token if it admits the signed-in buyer to this event now. */
  loadPass() {
    let pass = null;
    try { pass = JSON.parse(localStorage.getItem(this.passKey) || 'null'); } catch { pass = null; }
    if (!pass?.token || !pass.expires_at) return null;
    if (!passAdmits(pass, this.eventId, tokenClaims(session.token)?.uid, Date.now())) {
      localStorage.removeItem(this.passKey);
      return null;
    }
    return pass;
  }

  savePass(body) {
    this.pass = { token: body.queue_token, expires_at: body.expires_at };
    localStorage.setItem(this.passKey, JSON.stringify(this.pass));
  }

  dropPass() {
    this.pass = null;
    localStorage.removeItem(this.passKey);
  }

  /** May seats be held now? */
  mayHold() { return !this.enabled || (this.state === 'admitted' && !!this.loadPass()); }

  // --- Rendering -----------------------------------------------------------------

  setState(state, status = null) {
    this.state = state;
    $('queue-panel').dataset.state = state;
    if (status !== null) {
      $('queue-status').textContent = status;
      $('queue-status').classList.remove('error');
    }
    this.render();
    this.onChange();
  }

  render() {
    if (this.state === 'waiting' && this.position !== null) this.first = Math.max(this.first ?? 0, this.position);
    renderPanel(this);
  }

  /** The presale line, counting down. */
  renderOpens() { renderOpens(this); }

  showPosition(body) {
    this.position = body.position ?? null;
    this.eta = body.eta_seconds ?? null;
    if (body.sale_opens_at !== undefined) this.opensAt = body.sale_opens_at;
    if (typeof body.sold_out === 'boolean') this.soldOut = body.sold_out;
    if (typeof body.paused === 'boolean') this.paused = body.paused;
    if (this.position !== null && this.shown.at(-1) !== this.position) this.shown.push(this.position);
    if (this.state !== 'waiting') {
      this.first = null;
      this.setState('waiting', ''); // render writes the headline
    } else {
      this.render();
    }
  }

  /** Acts on an answer of POST/GET /events/{id}/queue. */
  applyStanding(body) {
    if (body.admitted) { this.admit(body); return; }
    if (body.position != null || body.sale_opens_at != null) {
      this.showPosition(body);
      if (!this.source && !this.retryTimer) this.openStream();
      return;
    }
    // Not (or no longer) in line: the place lapsed, or the turn ended.
    this.closeStream();
    const was = this.state;
    if (was === 'waiting') this.setState('idle', 'You lost your place in line (the page was away too long). Join again.');
    else if (was === 'admitted') this.setState('expired', 'Your turn has ended. Join the waiting room again to book.');
    else if (was !== 'expired' && was !== 'rejected') this.setState('idle', '');
  }

  admit(body) {
    this.closeStream();
    this.failures = 0;
    this.savePass(body);
    this.soldOut = false; // nobody is admitted while nothing is left
    this.paused = false; // nor while admission is paused
    this.shown.push(0);
    this.setState('admitted', ''); // render says until when
    this.fetchFairness(); // the seed may be public by now
  }

  // --- The position stream ----------------------------------------------------------

  closeStream() {
    clearTimeout(this.retryTimer);
    clearTimeout(this.stallTimer);
    this.retryTimer = 0;
    this.stallTimer = 0;
    const es = this.source;
    this.source = null;
    es?.close();
  }

  setLink(state, text) {
    const link = $('queue-link');
    link.dataset.state = state;
    link.textContent = text;
  }

  armStallTimer(es) {
    clearTimeout(this.stallTimer);
    this.stallTimer = setTimeout(() => { if (this.source === es) this.streamFailed(es); }, STALL_MS);
  }

  openStream() {
    this.closeStream();
    if (this.failures >= 4) { this.pollLater(); return; } // the stream keeps failing: poll instead
    const es = new EventSource(`/events/${this.eventId}/queue/stream`);
    this.source = es;
    this.setLink('connecting', 'Connecting…');
    this.armStallTimer(es);
    const parse = (e) => { try { return JSON.parse(e.data); } catch { return null; } };
    const alive = () => {
      this.failures = 0;
      this.armStallTimer(es);
      this.setLink('live', 'Live');
    };
    es.addEventListener('position', (e) => {
      if (this.source !== es) return;
      const body = parse(e);
      if (!body) return;
      alive();
      if (body.admitted) this.admit(body); else this.showPosition(body);
    });
    es.addEventListener('sold_out', (e) => {
      if (this.source !== es) return;
      const body = parse(e);
      if (!body) return;
      alive();
      this.soldOut = !!body.sold_out;
      this.render();
    });
    es.addEventListener('admitted', (e) => {
      if (this.source !== es) return;
      const body = parse(e);
      if (body?.queue_token) this.admit(body);
    });
    es.onopen = () => { if (this.source === es) this.setLink('live', 'Live'); };
    // An error, an end of stream, or a refusal (409 not_in_queue, 401): ask
    // where we stand, then reconnect (EventSource's own retry is not used).
    es.onerror = () => { if (this.source === es) this.streamFailed(es); };
  }

  streamFailed(es) {
    es.close();
    if (this.source !== es) return;
    this.source = null;
    clearTimeout(this.stallTimer);
    this.failures++;
    this.setLink('reconnecting', 'Reconnecting…');
    const delay = retryDelay(this.failures, Math.random());
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => { this.retryTimer = 0; this.refresh(); }, delay);
  }

  /** Polling mode: GET the standing every two seconds (a sign of life too). */
  pollLater() {
    this.setLink('reconnecting', 'Updating every few seconds');
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = 0;
      this.failures = 3; // try the stream again after this poll
      this.refresh();
    }, POLL_MS);
  }

  /** GET /events/{id}/queue and act on it. */
  async refresh() {
    const token = session.token;
    if (!token) { this.setState('idle', ''); return; }
    try {
      this.applyStanding(await api(`/events/${this.eventId}/queue`, { token }));
    } catch (e) {
      if (e.code === 'queue_not_enabled') { this.disabled(); return; }
      if (e.status === 401) {
        session.clear();
        this.closeStream();
        this.setState('idle', 'Your session expired. Join again.');
        return;
      }
      // Network trouble or the waiting room is briefly unavailable: keep trying.
      if (this.state === 'waiting') {
        this.setLink('reconnecting', e.status === 503 ? 'Waiting room busy — retrying…' : 'Reconnecting…');
        this.failures++;
        clearTimeout(this.retryTimer);
        this.retryTimer = setTimeout(() => { this.retryTimer = 0; this.refresh(); }, retryDelay(this.failures, 1));
      } else if (this.state === 'off' || this.state === 'joining') {
        this.setState('idle', errorText(e));
      }
    }
  }

  // --- Joining, refusals, the operator's switch --------------------------------------

  async join() {
    if (this.state === 'joining' || this.state === 'waiting') return;
    const previous = this.state;
    this.setState('joining', 'Joining the waiting room…');
    try {
      const result = await this.withToken((token) => api(`/events/${this.eventId}/queue`, { method: 'POST', token, body: {} }));
      if (result === this.cancelled) { this.setState(previous === 'joining' ? 'idle' : previous, ''); return; }
      this.failures = 0;
      this.state = 'idle'; // so the standing below is shown as a fresh wait
      this.applyStanding(result);
    } catch (e) {
      if (e.code === 'queue_not_enabled') { this.disabled(); this.message('This event has no waiting room now: book directly.', 'ok'); return; }
      this.setState(previous === 'joining' ? 'idle' : previous, joinErrorText(e));
      $('queue-status').classList.add('error');
      return;
    }
    $('queue-status').classList.remove('error');
  }

  /** The operator switched the waiting room off: book directly. */
  disabled() {
    this.closeStream();
    this.enabled = false;
    if (this.event) this.event.queue_enabled = false;
    this.state = 'off';
    $('queue-panel').hidden = true;
    $('queue-panel').dataset.state = 'off';
    this.onChange();
  }

  /** A booking answered 403 queue_token_*: the pass is gone; offer to join again. */
  refused(e) {
    this.dropPass();
    this.closeStream();
    if (!this.enabled) this.start(false);
    const why = refusalText(e.code, e.problem?.detail);
    this.setState('rejected', why);
    $('queue-status').classList.add('error');
    this.message(why, 'error');
    $('queue-join').focus();
  }

  /** One second tick: presale countdown, the end of a turn, fresh fairness. */
  tick() {
    if (!this.enabled) return;
    if (this.state === 'waiting') this.renderOpens();
    if (this.state === 'admitted' && !this.loadPass()) {
      this.pass = null;
      this.setState('expired', 'Your turn has ended. Join the waiting room again to book.');
    }
    // The operator may switch the waiting room off (nobody is admitted then): look now and then.
    if (this.state !== 'admitted' && this.state !== 'joining' && Date.now() - this.checkedAt > 10000) {
      this.checkedAt = Date.now();
      this.checkStillQueued();
    }
    // The proof changes once, when the sale opens: look again until it shows the seed.
    const opens = this.fairness?.sale_opens_at ? Date.parse(this.fairness.sale_opens_at) : NaN;
    if (this.fairness && !this.fairness.shuffled && opens <= Date.now() && Date.now() - this.fairnessAt > 5000) this.fetchFairness();
  }

  async checkStillQueued() {
    try {
      const fresh = await api(`/events/${this.eventId}`);
      if (fresh.queue_enabled || !this.enabled) return;
      this.disabled();
      this.message('The waiting room has closed: you can hold seats directly.', 'ok');
    } catch {
      // Try again at the next look.
    }
  }

  async fetchFairness() {
    this.fairnessAt = Date.now();
    try {
      const f = await api(`/events/${this.eventId}/queue/fairness`);
      this.fairness = f;
      showFairness(f);
      if (f.sale_opens_at && !this.opensAt) { this.opensAt = f.sale_opens_at; this.renderOpens(); }
    } catch {
      // Informational only.
    }
  }

  /** Shows the waiting room for a queue-enabled event and finds where we stand. */
  start(lookUp = true) {
    this.enabled = true;
    $('queue-panel').hidden = false;
    this.pass = this.loadPass();
    this.checkedAt = Date.now();
    this.fetchFairness();
    clearInterval(this.ticker);
    this.ticker = setInterval(() => this.tick(), 1000);
    if (this.pass) this.setState('admitted', '');
    else this.setState('idle', '');
    if (lookUp && !this.pass && session.token) this.refresh();
  }
}
