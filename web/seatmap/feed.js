// The live feed of a seat map: SSE (EventSource reconnects by itself, sending
// Last-Event-ID) or WebSocket (reconnects with backoff, resuming with
// last_event_id). Delivers parsed snapshot and delta messages; what they mean
// is the caller's business (seatmap/model.js).

export class LiveFeed {
  constructor(eventId, transport, { onMessage, onState, version }) {
    this.eventId = eventId;
    this.transport = transport;
    this.onMessage = onMessage;
    this.onState = onState;
    this.version = version;
    this.connected = false;
    this.attempts = 0;
    this.source = null;
    this.timer = 0;
  }

  start() { this.open(false); }

  /** Drops the connection and starts over with a fresh snapshot (at most once a second). */
  resync() {
    const now = Date.now();
    const soon = now - (this.lastResync ?? 0) < 1000;
    this.lastResync = now;
    this.close();
    if (soon) this.retryLater(() => this.open(true));
    else this.open(true);
  }

  close() {
    clearTimeout(this.timer);
    this.timer = 0;
    const source = this.source;
    this.source = null;
    if (source) {
      if (source instanceof WebSocket) { source.onclose = null; source.close(); } else source.close();
    }
    this.setConnected(false, 'reconnecting');
  }

  open(fresh) {
    if (this.transport === 'ws') this.openWs(fresh); else this.openSse();
  }

  setConnected(connected, state) {
    this.connected = connected;
    this.onState(state);
  }

  deliver(data) {
    let msg;
    try { msg = JSON.parse(data); } catch { return; }
    if (msg && (msg.type === 'snapshot' || msg.type === 'delta')) {
      this.attempts = 0;
      this.onMessage(msg);
    }
  }

  openSse() {
    const es = new EventSource(`/events/${this.eventId}/seats/stream?format=compact`);
    this.source = es;
    es.onopen = () => this.setConnected(true, 'live');
    es.addEventListener('snapshot', (e) => this.deliver(e.data));
    es.addEventListener('delta', (e) => this.deliver(e.data));
    es.onmessage = (e) => this.deliver(e.data); // unnamed messages carry their type too
    es.onerror = () => {
      if (this.source !== es) return;
      if (es.readyState === EventSource.CLOSED) {
        // The browser gave up (for example a non-200 answer): retry ourselves.
        this.source = null;
        this.setConnected(false, 'reconnecting');
        this.retryLater(() => this.openSse());
      } else {
        this.setConnected(false, 'reconnecting');
      }
    };
  }

  openWs(fresh) {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    let url = `${proto}//${location.host}/events/${this.eventId}/seats/ws?format=compact`;
    const version = this.version();
    if (!fresh && version !== null) url += `&last_event_id=${version}`;
    const ws = new WebSocket(url);
    this.source = ws;
    ws.onopen = () => this.setConnected(true, 'live');
    ws.onmessage = (e) => { if (typeof e.data === 'string') this.deliver(e.data); };
    ws.onclose = () => {
      if (this.source !== ws) return;
      this.source = null;
      this.setConnected(false, 'reconnecting');
      this.retryLater(() => this.openWs(false));
    };
  }

  retryLater(fn) {
    const delay = Math.min(10000, 500 * 2 ** this.attempts) * (0.5 + Math.random() / 2);
    this.attempts++;
    if (this.attempts > 6) this.onState('offline');
    clearTimeout(this.timer);
    this.timer = setTimeout(() => { this.timer = 0; fn(); }, delay);
  }

  /** Back online: retry a waiting WebSocket now rather than after the backoff. */
  kick() {
    if (this.timer && !this.source) {
      clearTimeout(this.timer);
      this.timer = 0;
      this.attempts = 0;
      this.open(false);
    }
  }
}
