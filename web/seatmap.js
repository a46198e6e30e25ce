// boxoffice live seat map (event.html): draws every seat of the venue on a
// canvas, keeps it live over SSE (default) or WebSocket (?transport=ws), and
// lets a fan select, hold and pay for seats. Plain ES module, no dependencies.

import {
  api, errorText, uuid, formatPrice, formatDate, formatClock, humanDuration, titleCase, el, session,
  guestLogin, tokenClaims,
} from '/web/app.js';

const STATUSES = ['AVAILABLE', 'RESERVED', 'CONFIRMED'];
const AVAILABLE = 0, RESERVED = 1, CONFIRMED = 2, UNKNOWN = 255;
const COMPACT = { A: AVAILABLE, R: RESERVED, C: CONFIRMED };
const MAX_SEATS = 8;

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------------------
// Model: the layout as flat typed arrays (layout order) plus one status byte
// per seat. Fast enough for 50,000+ seats.

class SeatModel {
  constructor(layout) {
    let n = 0;
    for (const s of layout.sections) for (const r of s.rows) n += r.seats.length;
    this.n = n;
    this.ids = new Float64Array(n);
    this.xs = new Float32Array(n);
    this.ys = new Float32Array(n);
    this.numbers = new Int32Array(n);
    this.rowOf = new Uint32Array(n);
    this.rows = []; // {section, name, start, end}
    this.sections = []; // {name, minX, minY}
    this.index = new Map(); // seat_id -> index
    let i = 0;
    for (const s of layout.sections) {
      const section = { name: s.name, minX: Infinity, minY: Infinity };
      for (const r of s.rows) {
        const row = { section: s.name, name: r.name, start: i, end: i + r.seats.length };
        for (const seat of r.seats) {
          this.ids[i] = seat.seat_id;
          this.xs[i] = seat.x;
          this.ys[i] = seat.y;
          this.numbers[i] = seat.number;
          this.rowOf[i] = this.rows.length;
          this.index.set(seat.seat_id, i);
          section.minX = Math.min(section.minX, seat.x);
          section.minY = Math.min(section.minY, seat.y);
          i++;
        }
        this.rows.push(row);
      }
      this.sections.push(section);
    }
    this.status = new Uint8Array(n).fill(UNKNOWN);
    this.counts = [0, 0, 0];
    this.version = null;
  }

  label(i) {
    const row = this.rows[this.rowOf[i]];
    return `Section ${row.section}, row ${row.name}, seat ${this.numbers[i]}`;
  }

  shortLabel(i) {
    const row = this.rows[this.rowOf[i]];
    return `Sec ${row.section} · Row ${row.name} · Seat ${this.numbers[i]}`;
  }

  statusName(i) { return STATUSES[this.status[i]] ?? null; }

  recount() {
    const c = [0, 0, 0];
    for (let i = 0; i < this.n; i++) if (this.status[i] < 3) c[this.status[i]]++;
    this.counts = c;
  }

  /** Replaces the whole state. Returns false when the message does not fit the layout. */
  applySnapshot(msg) {
    if (typeof msg.statuses === 'string') {
      if (msg.statuses.length !== this.n) {
        console.warn(`snapshot has ${msg.statuses.length} seats, layout has ${this.n}`);
        return false;
      }
      for (let i = 0; i < this.n; i++) this.status[i] = COMPACT[msg.statuses[i]] ?? UNKNOWN;
    } else if (Array.isArray(msg.seats)) {
      this.status.fill(UNKNOWN);
      for (const seat of msg.seats) this.set(seat.seat_id, seat.status);
    } else {
      return false;
    }
    this.recount();
    this.version = msg.version;
    return true;
  }

  /** Applies a delta's changes; returns the indices that changed. */
  applyDelta(msg) {
    const changed = [];
    for (const change of msg.changes || []) {
      const i = this.set(change.seat_id, change.status);
      if (i !== null) changed.push(i);
    }
    this.version = msg.version;
    return changed;
  }

  set(seatId, statusName) {
    const i = this.index.get(seatId);
    const status = STATUSES.indexOf(statusName);
    if (i === undefined || status < 0 || this.status[i] === status) return null;
    if (this.status[i] < 3) this.counts[this.status[i]]--;
    this.status[i] = status;
    this.counts[status]++;
    return i;
  }
}

/** What to do with a delta given the version we have. */
export function deltaAction(current, msg) {
  if (current === null) return 'resync';
  if (msg.version <= current) return 'ignore';
  if (msg.from_version > current + 1) return 'resync';
  return 'apply';
}

// ---------------------------------------------------------------------------
// Canvas renderer: fit-to-width view with zoom and pan, batched full redraws
// and per-seat partial redraws for deltas.

const PALETTE = ['available', 'reserved', 'confirmed', 'selected', 'mine', 'unknown'];
const C_SELECTED = 3, C_MINE = 4, C_UNKNOWN = 5;
const LABEL_SPACE = 18; // CSS px above the seats for the first row of section labels

class SeatCanvas {
  constructor(canvas, model, classOf) {
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d', { alpha: false });
    this.model = model;
    this.classOf = classOf;
    this.cursor = -1;
    this.dirty = new Set();
    this.full = true;
    this.frame = 0;
    this.zoom = 1;
    this.measure();
    this.readColors();
    this.fit();
  }

  /** Bounds, seat pitch and a grid index for hit testing. */
  measure() {
    const { xs, ys, n } = this.model;
    let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity, pitch = Infinity;
    for (let i = 0; i < n; i++) {
      minX = Math.min(minX, xs[i]); maxX = Math.max(maxX, xs[i]);
      minY = Math.min(minY, ys[i]); maxY = Math.max(maxY, ys[i]);
      if (i > 0 && this.model.rowOf[i] === this.model.rowOf[i - 1]) {
        const dx = Math.abs(xs[i] - xs[i - 1]);
        if (dx > 0) pitch = Math.min(pitch, dx);
      }
    }
    if (!Number.isFinite(minX)) { minX = minY = 0; maxX = maxY = 1; }
    this.pitch = Number.isFinite(pitch) ? pitch : 1;
    Object.assign(this, { minX, minY, maxX, maxY });
    this.grid = new Map();
    for (let i = 0; i < n; i++) {
      const key = this.gridKey(Math.round((xs[i] - minX) / this.pitch), Math.round((ys[i] - minY) / this.pitch));
      if (!this.grid.has(key)) this.grid.set(key, i);
    }
  }

  gridKey(gx, gy) { return gx * 1048576 + gy; }

  readColors() {
    const style = getComputedStyle(document.documentElement);
    this.colors = PALETTE.map((name) => style.getPropertyValue(`--seat-${name}`).trim() || '#888');
    this.bg = style.getPropertyValue('--map-bg').trim() || '#fff';
    this.labelColor = style.getPropertyValue('--map-label').trim() || '#666';
    this.focusColor = style.getPropertyValue('--text').trim() || '#000';
  }

  /** Sizes the backing store to the element; height follows the venue's shape. */
  resize() {
    const width = this.canvas.parentElement.clientWidth;
    if (!width) return;
    const spanX = this.maxX - this.minX + 2 * this.pitch;
    const spanY = this.maxY - this.minY + 2 * this.pitch;
    const top = LABEL_SPACE;
    const height = Math.round(Math.min(window.innerHeight * 0.7, Math.max(260, (width * spanY) / spanX + top)));
    const dpr = window.devicePixelRatio || 1;
    this.W = width; this.H = height; this.dpr = dpr;
    this.oy = (height + top) / 2; // screen y of the view centre, below the label strip
    this.canvas.style.height = `${height}px`;
    this.canvas.width = Math.round(width * dpr);
    this.canvas.height = Math.round(height * dpr);
    this.fitScale = Math.min(width / spanX, (height - top) / spanY);
    this.clampView();
    this.redraw();
  }

  fit() {
    this.zoom = 1;
    this.cx = (this.minX + this.maxX) / 2;
    this.cy = (this.minY + this.maxY) / 2;
    if (this.W) this.redraw();
  }

  get scale() { return this.fitScale * this.zoom; }
  toScreenX(x) { return (x - this.cx) * this.scale + this.W / 2; }
  toScreenY(y) { return (y - this.cy) * this.scale + this.oy; }
  toWorldX(sx) { return (sx - this.W / 2) / this.scale + this.cx; }
  toWorldY(sy) { return (sy - this.oy) / this.scale + this.cy; }

  zoomBy(factor, sx = this.W / 2, sy = this.oy) {
    const wx = this.toWorldX(sx), wy = this.toWorldY(sy);
    this.zoom = Math.min(40, Math.max(1, this.zoom * factor));
    this.cx = wx - (sx - this.W / 2) / this.scale;
    this.cy = wy - (sy - this.oy) / this.scale;
    this.clampView();
    this.redraw();
  }

  panBy(dx, dy) {
    this.cx -= dx / this.scale;
    this.cy -= dy / this.scale;
    this.clampView();
    this.redraw();
  }

  clampView() {
    if (this.zoom <= 1) { this.fit(); return; }
    this.cx = Math.min(this.maxX, Math.max(this.minX, this.cx));
    this.cy = Math.min(this.maxY, Math.max(this.minY, this.cy));
  }

  /** Keeps seat i on screen (keyboard navigation when zoomed in). */
  reveal(i) {
    const sx = this.toScreenX(this.model.xs[i]), sy = this.toScreenY(this.model.ys[i]);
    const m = 20;
    if (sx < m || sx > this.W - m || sy < m || sy > this.H - m) {
      this.cx = this.model.xs[i];
      this.cy = this.model.ys[i];
      this.clampView();
      this.redraw();
    }
  }

  redraw() { this.full = true; this.schedule(); }
  invalidate(indices) {
    for (const i of indices) this.dirty.add(i);
    this.schedule();
  }

  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      const cell = this.pitch * this.scale;
      if (this.full || this.dirty.size > 4000 || cell < 3) this.drawAll();
      else this.drawSeats(this.dirty);
      this.full = false;
      this.dirty.clear();
    });
  }

  drawAll() {
    const { ctx, model, W, H } = this;
    if (!W) return;
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.fillStyle = this.bg;
    ctx.fillRect(0, 0, W, H);
    const cell = this.pitch * this.scale;
    const size = Math.max(1, cell * 0.78);
    const crisp = size >= 3;
    const half = size / 2;
    const { xs, ys, n } = model;
    // Visible world window, for culling when zoomed in.
    const x0 = this.toWorldX(-cell), x1 = this.toWorldX(W + cell);
    const y0 = this.toWorldY(-cell), y1 = this.toWorldY(H + cell);
    const classes = new Uint8Array(n);
    for (let i = 0; i < n; i++) classes[i] = this.classOf(i);
    for (let c = 0; c < PALETTE.length; c++) {
      ctx.fillStyle = this.colors[c];
      for (let i = 0; i < n; i++) {
        if (classes[i] !== c) continue;
        const x = xs[i], y = ys[i];
        if (x < x0 || x > x1 || y < y0 || y > y1) continue;
        let sx = this.toScreenX(x) - half, sy = this.toScreenY(y) - half;
        if (crisp) { sx = Math.round(sx); sy = Math.round(sy); }
        ctx.fillRect(sx, sy, crisp ? Math.round(size) : size, crisp ? Math.round(size) : size);
      }
    }
    if (cell >= 2.5) this.drawLabels(cell);
    if (this.cursor >= 0) this.drawCursor(this.cursor);
  }

  drawLabels(cell) {
    const { ctx } = this;
    ctx.fillStyle = this.labelColor;
    ctx.font = `600 ${Math.round(Math.min(14, Math.max(10, cell * 1.4)))}px system-ui, sans-serif`;
    ctx.textBaseline = 'bottom';
    for (const s of this.model.sections) {
      ctx.fillText(s.name, this.toScreenX(s.minX) - cell / 2, this.toScreenY(s.minY) - cell / 2 - 2);
    }
  }

  /** Redraws single seats in place (cells do not overlap when cell >= 3px). */
  drawSeats(indices) {
    const { ctx, model } = this;
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    const cell = this.pitch * this.scale;
    const size = Math.round(cell * 0.78);
    for (const i of indices) {
      const cx = this.toScreenX(model.xs[i]), cy = this.toScreenY(model.ys[i]);
      if (cx < -cell || cx > this.W + cell || cy < -cell || cy > this.H + cell) continue;
      ctx.fillStyle = this.bg;
      ctx.fillRect(Math.floor(cx - cell / 2), Math.floor(cy - cell / 2), Math.ceil(cell), Math.ceil(cell));
      ctx.fillStyle = this.colors[this.classOf(i)];
      ctx.fillRect(Math.round(cx - size / 2), Math.round(cy - size / 2), size, size);
      if (i === this.cursor) this.drawCursor(i);
    }
  }

  drawCursor(i) {
    const { ctx } = this;
    const cell = Math.max(6, this.pitch * this.scale);
    const cx = this.toScreenX(this.model.xs[i]), cy = this.toScreenY(this.model.ys[i]);
    ctx.strokeStyle = this.focusColor;
    ctx.lineWidth = 1.5;
    ctx.strokeRect(cx - cell / 2 + 0.75, cy - cell / 2 + 0.75, cell - 1.5, cell - 1.5);
  }

  setCursor(i) {
    const old = this.cursor;
    this.cursor = i;
    if (this.pitch * this.scale < 6) this.redraw(); // outline is wider than a cell
    else this.invalidate([old, i].filter((x) => x >= 0));
  }

  /** The seat under a point in CSS pixels relative to the canvas, or -1. */
  hit(sx, sy) {
    const wx = this.toWorldX(sx), wy = this.toWorldY(sy);
    const gx = Math.round((wx - this.minX) / this.pitch), gy = Math.round((wy - this.minY) / this.pitch);
    let best = -1, bestD = (0.75 * this.pitch) ** 2;
    for (let dx = -1; dx <= 1; dx++) {
      for (let dy = -1; dy <= 1; dy++) {
        const i = this.grid.get(this.gridKey(gx + dx, gy + dy));
        if (i === undefined) continue;
        const d = (this.model.xs[i] - wx) ** 2 + (this.model.ys[i] - wy) ** 2;
        if (d < bestD) { best = i; bestD = d; }
      }
    }
    return best;
  }

  /** Where seat i is drawn, in CSS pixels relative to the canvas, or null when off screen. */
  point(i) {
    const x = this.toScreenX(this.model.xs[i]), y = this.toScreenY(this.model.ys[i]);
    return x >= 0 && x <= this.W && y >= 0 && y <= this.H ? { x, y } : null;
  }
}

// ---------------------------------------------------------------------------
// Live feed: SSE (EventSource reconnects by itself, sending Last-Event-ID) or
// WebSocket (reconnects with backoff, resuming with last_event_id).

class LiveFeed {
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

// ---------------------------------------------------------------------------
// The page.

const params = new URLSearchParams(location.search);
const eventId = Number(params.get('event_id'));
const transport = params.get('transport') === 'ws' ? 'ws' : 'sse';
const canvas = $('seatmap');

let event = null;
let model = null;
let view = null;
let feed = null;

const selected = new Set(); // seat indices chosen, not yet held
const mine = new Set(); // seat indices of our current hold
let hold = null; // {booking_id, expires_at, amount_cents, seat_ids}
let holding = false; // a POST /bookings is in flight
let attempt = null; // {key, paymentToken}: one pay click, reused on retry
let busy = false;
let countdownTimer = 0;

// Test and debugging hooks.
window.boxoffice = {
  eventId,
  transport,
  get version() { return model?.version ?? null; },
  get connected() { return feed?.connected ?? false; },
  statusOf(seatId) {
    const i = model?.index.get(Number(seatId));
    return i === undefined ? null : model.statusName(i);
  },
  counts() {
    const c = model?.counts ?? [0, 0, 0];
    return { AVAILABLE: c[0], RESERVED: c[1], CONFIRMED: c[2] };
  },
  /** Where a seat is drawn, in CSS pixels relative to the canvas (null when off screen). */
  seatPoint(seatId) {
    const i = model?.index.get(Number(seatId));
    return i === undefined || !view ? null : view.point(i);
  },
  get selected() { return [...selected].map((i) => model.ids[i]); },
  get booking() { return hold; },
  /** The waiting room as this page sees it. */
  get queue() {
    return {
      enabled: queue.enabled, state: queue.state, position: queue.position, eta_seconds: queue.eta,
      sold_out: queue.soldOut, paused: queue.paused, shown: [...queue.shown], streaming: !!queue.source,
      expires_at: queue.pass?.expires_at ?? null, has_token: !!queue.pass,
    };
  },
};

function classOf(i) {
  const s = model.status[i];
  if (s === UNKNOWN) return C_UNKNOWN;
  if (s === AVAILABLE && selected.has(i)) return C_SELECTED;
  if (s === RESERVED && mine.has(i)) return C_MINE;
  return s;
}

function setMessage(text, kind = '') {
  const m = $('booking-message');
  m.textContent = text;
  m.className = `message ${kind}`;
}

function setConnState(state) {
  const conn = $('conn');
  const name = transport === 'ws' ? 'WebSocket' : 'SSE';
  conn.dataset.state = state;
  conn.textContent = {
    connecting: 'Connecting…',
    live: `Live · ${name}`,
    reconnecting: 'Reconnecting…',
    offline: 'Offline — retrying',
  }[state] ?? state;
}

let legendFrame = 0;
function updateLegend() {
  if (legendFrame) return;
  legendFrame = requestAnimationFrame(() => {
    legendFrame = 0;
    const [a, r, c] = model.counts;
    $('count-available').textContent = a.toLocaleString();
    $('count-reserved').textContent = r.toLocaleString();
    $('count-confirmed').textContent = c.toLocaleString();
    $('count-selected').textContent = String(selected.size);
    $('version').textContent = `v${model.version ?? '–'}`;
  });
}

function onMessage(msg) {
  if (msg.event_id !== undefined && Number(msg.event_id) !== eventId) return;
  if (msg.type === 'snapshot') {
    if (!model.applySnapshot(msg)) { feed.resync(); return; }
    view.redraw();
    dropTakenSelections([...selected]);
  } else {
    const action = deltaAction(model.version, msg);
    if (action === 'ignore') return;
    if (action === 'resync') { feed.resync(); return; }
    const changed = model.applyDelta(msg);
    view.invalidate(changed);
    dropTakenSelections(changed.filter((i) => selected.has(i)));
  }
  canvas.dataset.version = String(model.version);
  if (feed.connected) setConnState('live');
  updateLegend();
}

/** Someone else took a seat we had selected: deselect it and say so. */
function dropTakenSelections(indices) {
  if (holding) return; // our own hold is landing; its answer decides
  const taken = indices.filter((i) => model.status[i] !== AVAILABLE);
  if (!taken.length) return;
  for (const i of taken) selected.delete(i);
  view.invalidate(taken);
  renderSelection();
  setMessage(`${taken.map((i) => model.shortLabel(i)).join(', ')} ${taken.length === 1 ? 'was' : 'were'} just taken.`, 'error');
}

// --- Selection ---------------------------------------------------------------

function toggleSeat(i) {
  if (i < 0) return;
  if (selected.has(i)) {
    selected.delete(i);
  } else {
    if (hold || holding) { setMessage('Pay for or release your current hold first.', 'error'); return; }
    if (model.status[i] !== AVAILABLE) {
      setMessage(`${model.shortLabel(i)} is ${titleCase(model.statusName(i) ?? 'loading')}.`, 'error');
      return;
    }
    if (selected.size >= MAX_SEATS) { setMessage(`You can hold at most ${MAX_SEATS} seats at once.`, 'error'); return; }
    selected.add(i);
    setMessage('');
  }
  view.invalidate([i]);
  renderSelection();
  announce(i);
}

function seatItem(i, removable) {
  const li = el('li', {}, el('span', {}, model.shortLabel(i)));
  if (removable) {
    const b = el('button', { type: 'button', class: 'small', 'aria-label': `Remove ${model.label(i)}` }, '×');
    b.addEventListener('click', () => toggleSeat(i));
    li.append(b);
  }
  return li;
}

function renderSelection() {
  const list = [...selected];
  $('selected-list').replaceChildren(...list.map((i) => seatItem(i, true)));
  $('select-empty').hidden = list.length > 0;
  $('select-total').hidden = list.length === 0;
  $('select-total').textContent = `${list.length} seat${list.length === 1 ? '' : 's'} · ${formatPrice(list.length * (event?.price_cents ?? 0))}`;
  const onSale = event?.status === 'ON_SALE';
  const turn = queueClear();
  $('hold').disabled = !list.length || holding || !onSale || !turn;
  $('hold-hint').hidden = turn || !onSale;
  $('hold-hint').textContent = queue.state === 'waiting'
    ? 'You can hold seats when it is your turn. Meanwhile the map shows what is left.'
    : 'Join the waiting room above: you can hold seats when it is your turn.';
  $('clear').disabled = !list.length || holding;
  updateLegend();
}

// --- Guest sign-in ------------------------------------------------------------

const CANCELLED = Symbol('cancelled');

function askForGuest() {
  const dialog = $('guest-dialog');
  const form = $('guest-form');
  const input = $('guest-email');
  const error = $('guest-error');
  input.value = session.email ?? '';
  error.textContent = '';
  return new Promise((resolve) => {
    let done = false;
    const finish = (token) => {
      if (done) return;
      done = true;
      form.removeEventListener('submit', submit);
      $('guest-cancel').removeEventListener('click', cancel);
      dialog.removeEventListener('close', cancel);
      if (dialog.open) dialog.close();
      resolve(token);
    };
    const cancel = () => finish(CANCELLED);
    async function submit(e) {
      e.preventDefault();
      $('guest-submit').disabled = true;
      error.textContent = '';
      try {
        finish(await guestLogin(input.value.trim()));
      } catch (err) {
        error.textContent = errorText(err);
      } finally {
        $('guest-submit').disabled = false;
      }
    }
    form.addEventListener('submit', submit);
    $('guest-cancel').addEventListener('click', cancel);
    dialog.addEventListener('close', cancel);
    dialog.showModal();
    input.focus();
  });
}

/** Runs fn(token), signing in as a guest first if needed (and again on a 401). */
async function withToken(fn) {
  let token = session.token;
  if (!token) token = await askForGuest();
  if (token === CANCELLED) return CANCELLED;
  try {
    return await fn(token);
  } catch (e) {
    if (e.status !== 401) throw e;
    session.clear();
    token = await askForGuest();
    if (token === CANCELLED) return CANCELLED;
    return fn(token);
  }
}

// --- Waiting room ------------------------------------------------------------------
// For an event with queue_enabled: join (POST), then follow the position stream
// (SSE, the HttpOnly cookie authenticates it) until it says `admitted`. The
// queue token is kept per event in localStorage with its expiry and sent as
// X-Queue-Token when holding seats. A dropped stream is reconnected after a
// GET of the standing (also a sign of life); a stream that keeps failing
// degrades to polling that GET.

const QUEUE_STALL_MS = 7000; // positions come at least every 2 s
const QUEUE_POLL_MS = 2000;

const queue = {
  enabled: false,
  state: 'off', // off | idle | joining | waiting | admitted | expired | rejected
  position: null,
  eta: null,
  soldOut: false,
  paused: false, // the organiser paused admission (rate 0): places are kept
  opensAt: null,
  first: null, // the largest position seen while waiting, for the progress bar
  shown: [], // every position shown (test hook)
  pass: null, // {token, expires_at}
  source: null,
  failures: 0,
  retryTimer: 0,
  stallTimer: 0,
  ticker: 0,
  fairness: null,
  fairnessAt: 0,
  checkedAt: 0, // when we last asked whether the event still has a waiting room
};

const passKey = () => `boxoffice.queue.${eventId}`;

/** The stored queue token if it admits the signed-in buyer to this event now. */
function loadPass() {
  let pass = null;
  try { pass = JSON.parse(localStorage.getItem(passKey()) || 'null'); } catch { pass = null; }
  if (!pass?.token || !pass.expires_at) return null;
  const [kind, ev, user, exp] = String(pass.token).split('.');
  const uid = tokenClaims(session.token)?.uid;
  const valid = kind === 'Q1' && Number(ev) === eventId && (uid === undefined || Number(user) === uid)
    && Number(exp) * 1000 > Date.now() + 1000 && Date.parse(pass.expires_at) > Date.now() + 1000;
  if (!valid) { localStorage.removeItem(passKey()); return null; }
  return pass;
}

function savePass(body) {
  queue.pass = { token: body.queue_token, expires_at: body.expires_at };
  localStorage.setItem(passKey(), JSON.stringify(queue.pass));
}

function dropPass() {
  queue.pass = null;
  localStorage.removeItem(passKey());
}

/** May seats be held now? */
const queueClear = () => !queue.enabled || (queue.state === 'admitted' && !!loadPass());

function setQueueState(state, status = null) {
  queue.state = state;
  const panel = $('queue-panel');
  panel.dataset.state = state;
  if (status !== null) {
    $('queue-status').textContent = status;
    $('queue-status').classList.remove('error');
  }
  renderQueue();
  renderSelection();
}

function renderQueue() {
  const s = queue.state;
  $('queue-idle').hidden = !['idle', 'joining', 'expired', 'rejected'].includes(s);
  $('queue-intro').hidden = s !== 'idle' && s !== 'joining';
  $('queue-join').disabled = s === 'joining';
  $('queue-join').classList.toggle('busy', s === 'joining');
  $('queue-join').textContent = s === 'expired' || s === 'rejected' ? 'Join the waiting room again' : 'Join the waiting room';
  $('queue-waiting').hidden = s !== 'waiting';
  $('queue-admitted').hidden = s !== 'admitted';
  $('queue-soldout').hidden = !(queue.soldOut && (s === 'waiting' || s === 'admitted'));
  $('queue-paused').hidden = !(queue.paused && s === 'waiting');
  const status = $('queue-status');
  status.classList.toggle('turn', s === 'admitted');
  if (s === 'admitted' && queue.pass && !status.querySelector('time')) {
    status.classList.remove('error');
    status.replaceChildren("It's your turn — you have until ",
      el('time', { datetime: queue.pass.expires_at }, formatClock(queue.pass.expires_at)), '.');
  }
  if (s !== 'waiting') return;
  const presale = queue.position === null;
  const headline = presale ? 'You are in the waiting room. The sale has not opened yet.' : 'You are in the waiting room.';
  if (status.textContent !== headline) status.textContent = headline;
  $('queue-position').textContent = presale ? 'Drawn when the sale opens' : `#${queue.position.toLocaleString()}`;
  $('queue-position').classList.toggle('pending', presale);
  const bar = $('queue-progress');
  if (presale) {
    bar.removeAttribute('value');
  } else {
    queue.first = Math.max(queue.first ?? 0, queue.position);
    bar.value = Math.round((100 * (queue.first - queue.position + 1)) / (queue.first + 1));
  }
  $('queue-eta').hidden = presale;
  $('queue-eta').textContent = presale ? '' : queue.paused
    ? 'Paused: nobody is let in for now.'
    : queue.soldOut
    ? 'The line is paused while no seats are left.'
    : queue.eta <= 1
    ? 'Estimated wait: any moment now.'
    : `Estimated wait: ${humanDuration(queue.eta)}.`;
  renderOpens();
}

/** "The sale opens at …, in 2 minutes": a presale line that counts down. */
function renderOpens() {
  const opens = $('queue-opens');
  const at = queue.opensAt ? Date.parse(queue.opensAt) : NaN;
  const waiting = queue.state === 'waiting' && queue.position === null;
  opens.hidden = !waiting || Number.isNaN(at);
  if (opens.hidden) return;
  const left = Math.round((at - Date.now()) / 1000);
  opens.textContent = left > 0
    ? `The sale opens at ${formatClock(queue.opensAt)} (in ${humanDuration(left)}). Everyone who joins before then gets a place drawn at random.`
    : 'The sale is opening: places are being drawn…';
}

function showPosition(body) {
  queue.position = body.position ?? null;
  queue.eta = body.eta_seconds ?? null;
  if (body.sale_opens_at !== undefined) queue.opensAt = body.sale_opens_at;
  if (typeof body.sold_out === 'boolean') queue.soldOut = body.sold_out;
  if (typeof body.paused === 'boolean') queue.paused = body.paused;
  if (queue.position !== null && queue.shown.at(-1) !== queue.position) queue.shown.push(queue.position);
  if (queue.state !== 'waiting') {
    queue.first = null;
    setQueueState('waiting', ''); // renderQueue writes the headline
  } else {
    renderQueue();
  }
}

/** Acts on an answer of POST/GET /events/{id}/queue. */
function applyStanding(body) {
  if (body.admitted) { admit(body); return; }
  if (body.position != null || body.sale_opens_at != null) {
    showPosition(body);
    if (!queue.source && !queue.retryTimer) openQueueStream();
    return;
  }
  // Not (or no longer) in line: the place lapsed, or the turn ended.
  closeQueueStream();
  const was = queue.state;
  if (was === 'waiting') setQueueState('idle', 'You lost your place in line (the page was away too long). Join again.');
  else if (was === 'admitted') setQueueState('expired', 'Your turn has ended. Join the waiting room again to book.');
  else if (was !== 'expired' && was !== 'rejected') setQueueState('idle', '');
}

function admit(body) {
  closeQueueStream();
  queue.failures = 0;
  savePass(body);
  queue.soldOut = false; // nobody is admitted while nothing is left
  queue.paused = false; // nor while admission is paused
  queue.shown.push(0);
  setQueueState('admitted', ''); // renderQueue says until when
  fetchFairness(); // the seed may be public by now
}

function closeQueueStream() {
  clearTimeout(queue.retryTimer);
  clearTimeout(queue.stallTimer);
  queue.retryTimer = 0;
  queue.stallTimer = 0;
  const es = queue.source;
  queue.source = null;
  es?.close();
}

function setQueueLink(state, text) {
  const link = $('queue-link');
  link.dataset.state = state;
  link.textContent = text;
}

function armStallTimer(es) {
  clearTimeout(queue.stallTimer);
  queue.stallTimer = setTimeout(() => { if (queue.source === es) queueStreamFailed(es); }, QUEUE_STALL_MS);
}

function openQueueStream() {
  closeQueueStream();
  if (queue.failures >= 4) { pollQueueLater(); return; } // the stream keeps failing: poll instead
  const es = new EventSource(`/events/${eventId}/queue/stream`);
  queue.source = es;
  setQueueLink('connecting', 'Connecting…');
  armStallTimer(es);
  const parse = (e) => { try { return JSON.parse(e.data); } catch { return null; } };
  const alive = () => {
    queue.failures = 0;
    armStallTimer(es);
    setQueueLink('live', 'Live');
  };
  es.addEventListener('position', (e) => {
    if (queue.source !== es) return;
    const body = parse(e);
    if (!body) return;
    alive();
    if (body.admitted) admit(body); else showPosition(body);
  });
  es.addEventListener('sold_out', (e) => {
    if (queue.source !== es) return;
    const body = parse(e);
    if (!body) return;
    alive();
    queue.soldOut = !!body.sold_out;
    renderQueue();
  });
  es.addEventListener('admitted', (e) => {
    if (queue.source !== es) return;
    const body = parse(e);
    if (body?.queue_token) admit(body);
  });
  es.onopen = () => { if (queue.source === es) setQueueLink('live', 'Live'); };
  // An error, an end of stream, or a refusal (409 not_in_queue, 401): ask
  // where we stand, then reconnect (EventSource's own retry is not used).
  es.onerror = () => { if (queue.source === es) queueStreamFailed(es); };
}

function queueStreamFailed(es) {
  es.close();
  if (queue.source !== es) return;
  queue.source = null;
  clearTimeout(queue.stallTimer);
  queue.failures++;
  setQueueLink('reconnecting', 'Reconnecting…');
  const delay = Math.min(8000, 250 * 2 ** queue.failures) * (0.5 + Math.random() / 2);
  clearTimeout(queue.retryTimer);
  queue.retryTimer = setTimeout(() => { queue.retryTimer = 0; refreshQueue(); }, delay);
}

/** Polling mode: GET the standing every two seconds (a sign of life too). */
function pollQueueLater() {
  setQueueLink('reconnecting', 'Updating every few seconds');
  clearTimeout(queue.retryTimer);
  queue.retryTimer = setTimeout(() => {
    queue.retryTimer = 0;
    queue.failures = 3; // try the stream again after this poll
    refreshQueue();
  }, QUEUE_POLL_MS);
}

/** GET /events/{id}/queue and act on it. */
async function refreshQueue() {
  const token = session.token;
  if (!token) { setQueueState('idle', ''); return; }
  try {
    applyStanding(await api(`/events/${eventId}/queue`, { token }));
  } catch (e) {
    if (e.code === 'queue_not_enabled') { queueDisabled(); return; }
    if (e.status === 401) {
      session.clear();
      closeQueueStream();
      setQueueState('idle', 'Your session expired. Join again.');
      return;
    }
    // Network trouble or the waiting room is briefly unavailable: keep trying.
    if (queue.state === 'waiting') {
      setQueueLink('reconnecting', e.status === 503 ? 'Waiting room busy — retrying…' : 'Reconnecting…');
      queue.failures++;
      clearTimeout(queue.retryTimer);
      queue.retryTimer = setTimeout(() => { queue.retryTimer = 0; refreshQueue(); },
        Math.min(8000, 250 * 2 ** queue.failures));
    } else if (queue.state === 'off' || queue.state === 'joining') {
      setQueueState('idle', errorText(e));
    }
  }
}

async function joinQueue() {
  if (queue.state === 'joining' || queue.state === 'waiting') return;
  const previous = queue.state;
  setQueueState('joining', 'Joining the waiting room…');
  try {
    const result = await withToken((token) => api(`/events/${eventId}/queue`, { method: 'POST', token, body: {} }));
    if (result === CANCELLED) { setQueueState(previous === 'joining' ? 'idle' : previous, ''); return; }
    queue.failures = 0;
    queue.state = 'idle'; // so the standing below is shown as a fresh wait
    applyStanding(result);
  } catch (e) {
    if (e.code === 'queue_not_enabled') { queueDisabled(); setMessage('This event has no waiting room now: book directly.', 'ok'); return; }
    const text = e.status === 429
      ? 'Too many attempts from your network. Wait a moment and try again.'
      : e.status === 503 ? 'The waiting room is briefly unavailable. Try again in a moment.' : errorText(e);
    setQueueState(previous === 'joining' ? 'idle' : previous, text);
    $('queue-status').classList.add('error');
    return;
  }
  $('queue-status').classList.remove('error');
}

/** The operator switched the waiting room off: book directly. */
function queueDisabled() {
  closeQueueStream();
  queue.enabled = false;
  if (event) event.queue_enabled = false;
  queue.state = 'off';
  $('queue-panel').hidden = true;
  $('queue-panel').dataset.state = 'off';
  renderSelection();
}

/** A booking answered 403 queue_token_*: the pass is gone; offer to join again. */
function queueRefused(e) {
  dropPass();
  closeQueueStream();
  if (!queue.enabled) initQueue(false);
  const detail = String(e.problem?.detail ?? '');
  const why = e.code === 'queue_token_required'
    ? 'This event has a waiting room: join it, and you can hold seats when it is your turn.'
    : /expire|ended/.test(detail)
      ? 'Your turn has ended (your waiting-room pass expired). Join the waiting room again to book.'
      : 'Your waiting-room pass is not valid for this account and event. Join the waiting room again to book.';
  setQueueState('rejected', why);
  $('queue-status').classList.add('error');
  setMessage(why, 'error');
  $('queue-join').focus();
}

/** One second tick: presale countdown, the end of a turn, fresh fairness. */
function queueTick() {
  if (!queue.enabled) return;
  if (queue.state === 'waiting') renderOpens();
  if (queue.state === 'admitted' && !loadPass()) {
    queue.pass = null;
    setQueueState('expired', 'Your turn has ended. Join the waiting room again to book.');
  }
  // The operator may switch the waiting room off (nobody is admitted then): look now and then.
  if (queue.state !== 'admitted' && queue.state !== 'joining' && Date.now() - queue.checkedAt > 10000) {
    queue.checkedAt = Date.now();
    checkStillQueued();
  }
  // The proof changes once, when the sale opens: look again until it shows the seed.
  const opens = queue.fairness?.sale_opens_at ? Date.parse(queue.fairness.sale_opens_at) : NaN;
  if (queue.fairness && !queue.fairness.shuffled && opens <= Date.now() && Date.now() - queue.fairnessAt > 5000) fetchFairness();
}

async function checkStillQueued() {
  try {
    const fresh = await api(`/events/${eventId}`);
    if (fresh.queue_enabled || !queue.enabled) return;
    queueDisabled();
    setMessage('The waiting room has closed: you can hold seats directly.', 'ok');
  } catch {
    // Try again at the next look.
  }
}

async function fetchFairness() {
  queue.fairnessAt = Date.now();
  try {
    const f = await api(`/events/${eventId}/queue/fairness`);
    queue.fairness = f;
    $('fair-opens').textContent = f.sale_opens_at
      ? `${formatDate(f.sale_opens_at)}${Date.parse(f.sale_opens_at) <= Date.now() ? ' (open)' : ''}`
      : 'Open now (no scheduled on-sale time)';
    $('fair-hash').textContent = f.seed_sha256 ?? '–';
    $('fair-seed').textContent = f.seed ?? 'revealed when the sale opens';
    $('fair-rule').textContent = f.rule ? `Rule: ${f.rule}. The seed's hash is published before the sale, so the draw cannot be changed afterwards.` : '';
    if (f.sale_opens_at && !queue.opensAt) { queue.opensAt = f.sale_opens_at; renderOpens(); }
  } catch {
    // Informational only.
  }
}

/** Shows the waiting room for a queue-enabled event and finds where we stand. */
function initQueue(lookUp = true) {
  queue.enabled = true;
  $('queue-panel').hidden = false;
  queue.pass = loadPass();
  queue.checkedAt = Date.now();
  fetchFairness();
  clearInterval(queue.ticker);
  queue.ticker = setInterval(queueTick, 1000);
  if (queue.pass) setQueueState('admitted', '');
  else setQueueState('idle', '');
  if (lookUp && !queue.pass && session.token) refreshQueue();
}

// --- Hold, pay, release ---------------------------------------------------------

const holdKey = () => `boxoffice.hold.${eventId}`;

async function holdSeats() {
  if (!selected.size || holding) return;
  const indices = [...selected];
  const seatIds = indices.map((i) => model.ids[i]);
  const headers = {};
  if (queue.enabled) {
    const pass = loadPass();
    if (!pass) {
      queueRefused({ code: 'queue_token_invalid', problem: { detail: 'your turn has ended' } });
      return;
    }
    headers['X-Queue-Token'] = pass.token;
  }
  holding = true;
  renderSelection();
  $('hold').classList.add('busy');
  setMessage('Holding your seats…');
  try {
    const result = await withToken((token) => api('/bookings', {
      method: 'POST', token, body: { event_id: eventId, seat_ids: seatIds }, headers,
    }));
    if (result === CANCELLED) { setMessage(''); return; }
    selected.clear();
    startHold({ ...result, seat_ids: result.seat_ids ?? seatIds });
    setMessage('Seats held. Pay before the timer runs out.', 'ok');
  } catch (e) {
    if (e.code === 'seat_unavailable') {
      const taken = (e.problem.seat_ids ?? []).map((id) => model.index.get(id)).filter((i) => i !== undefined);
      for (const i of taken) selected.delete(i);
      view.invalidate(taken);
      const names = taken.map((i) => model.shortLabel(i)).join(', ');
      setMessage(`Sorry, ${names || 'some seats'} ${taken.length === 1 ? 'was' : 'were'} just taken. Pick other seats.`, 'error');
    } else if (e.code === 'queue_token_required' || e.code === 'queue_token_invalid') {
      queueRefused(e);
    } else {
      setMessage(errorText(e), 'error');
    }
  } finally {
    holding = false;
    $('hold').classList.remove('busy');
    view.invalidate(indices);
    renderSelection();
    dropTakenSelections([...selected]);
  }
}

function startHold(booking) {
  hold = booking;
  attempt = null;
  localStorage.setItem(holdKey(), JSON.stringify(booking));
  mine.clear();
  for (const id of booking.seat_ids) {
    const i = model.index.get(id);
    if (i !== undefined) mine.add(i);
  }
  view.redraw();
  showView('hold');
  $('held-list').replaceChildren(...[...mine].map((i) => seatItem(i, false)));
  $('hold-total').textContent = `Total ${formatPrice(booking.amount_cents ?? mine.size * event.price_cents)}`;
  renderPayButtons();
  tick();
  clearInterval(countdownTimer);
  countdownTimer = setInterval(tick, 1000);
}

function endHold() {
  clearInterval(countdownTimer);
  localStorage.removeItem(holdKey());
  hold = null;
  attempt = null;
  const was = [...mine];
  mine.clear();
  view.invalidate(was);
  renderSelection();
}

function tick() {
  if (!hold) return;
  const left = Math.max(0, Math.round((Date.parse(hold.expires_at) - Date.now()) / 1000));
  const cd = $('countdown');
  cd.textContent = `${String(Math.floor(left / 60)).padStart(2, '0')}:${String(left % 60).padStart(2, '0')}`;
  cd.classList.toggle('urgent', left < 60);
  cd.setAttribute('aria-label', `${Math.floor(left / 60)} minutes ${left % 60} seconds left`);
  if (left === 0 && !busy) {
    endHold();
    showView('select');
    setMessage('Your hold expired and the seats were released.', 'error');
  }
}

function showView(name) {
  $('select-view').hidden = name !== 'select';
  $('hold-view').hidden = name !== 'hold';
  $('done-view').hidden = name !== 'done';
}

function renderPayButtons() {
  const retrying = attempt !== null;
  $('pay').hidden = retrying;
  $('retry').hidden = !retrying;
  $('card').disabled = retrying || busy;
  for (const id of ['pay', 'retry', 'release']) $(id).disabled = busy;
}

const RETRYABLE = new Set(['payment_timeout', 'payment_in_progress', 'network_error']);

async function pay(retry) {
  if (!hold || busy) return;
  if (!retry || !attempt) attempt = { key: uuid(), paymentToken: $('card').value };
  busy = true;
  renderPayButtons();
  const button = retry ? $('retry') : $('pay');
  button.classList.add('busy');
  setMessage('Processing payment…');
  try {
    const result = await withToken((token) => api(`/bookings/${hold.booking_id}/confirm`, {
      method: 'POST', token, body: { payment_token: attempt.paymentToken },
      headers: { 'Idempotency-Key': attempt.key },
    }));
    if (result === CANCELLED) { attempt = null; setMessage(''); return; }
    endHold();
    $('confirmation').textContent = result.confirmation_number;
    $('ticket-link').href = result.ticket_url;
    showView('done');
    setMessage('');
    $('ticket-link').focus();
  } catch (e) {
    if (RETRYABLE.has(e.code) || e.status === 504 || e.status === 503 || e.status === 0) {
      const what = e.status === 0 ? 'The connection dropped' : (e.problem.title || 'Payment not confirmed');
      setMessage(`${what}. Retry: you will not be charged twice.`, 'error');
    } else if (e.code === 'hold_expired') {
      endHold();
      showView('select');
      setMessage(errorText(e), 'error');
    } else {
      attempt = null; // a definite answer: the next click is a new attempt
      setMessage(errorText(e), 'error');
    }
  } finally {
    busy = false;
    button.classList.remove('busy');
    if (hold) renderPayButtons();
  }
}

async function release() {
  if (!hold || busy) return;
  busy = true;
  renderPayButtons();
  setMessage('Releasing…');
  try {
    const result = await withToken((token) => api(`/bookings/${hold.booking_id}`, { method: 'DELETE', token }));
    if (result === CANCELLED) { setMessage(''); return; }
    endHold();
    showView('select');
    setMessage('Your seats were released.', 'ok');
  } catch (e) {
    setMessage(errorText(e), 'error');
  } finally {
    busy = false;
    if (hold) renderPayButtons();
  }
}

/** A hold from before a reload, if it is still pending. */
async function restoreHold() {
  const saved = localStorage.getItem(holdKey());
  if (!saved || !session.token) return;
  try {
    const { booking_id } = JSON.parse(saved);
    const b = await api(`/bookings/${booking_id}`, { token: session.token });
    if (b.status === 'PENDING' && Date.parse(b.expires_at) > Date.now()) startHold(b);
    else localStorage.removeItem(holdKey());
  } catch {
    localStorage.removeItem(holdKey());
  }
}

// --- Canvas interaction ----------------------------------------------------------

function announce(i) {
  const status = model.statusName(i);
  const extra = selected.has(i) ? ', selected' : mine.has(i) ? ', held by you' : '';
  $('seat-announce').textContent = `${model.label(i)}: ${titleCase(status ?? 'loading')}${extra}.`;
}

function showTooltip(i, x, y) {
  const tip = $('tooltip');
  if (i < 0) { tip.hidden = true; return; }
  tip.textContent = `${model.shortLabel(i)} — ${titleCase(model.statusName(i) ?? 'loading')}`;
  tip.style.left = `${x}px`;
  tip.style.top = `${y}px`;
  tip.hidden = false;
}

function wireCanvas() {
  const pointers = new Map(); // pointerId -> {x, y}
  let drag = null; // one pointer down: a click, or a pan when zoomed in
  let pinch = null; // two pointers down: {dist, mid}
  const pos = (e) => {
    const r = canvas.getBoundingClientRect();
    return { x: e.clientX - r.left, y: e.clientY - r.top };
  };
  const twoFingers = () => {
    const [a, b] = [...pointers.values()];
    return { dist: Math.hypot(a.x - b.x, a.y - b.y) || 1, mid: { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 } };
  };
  canvas.addEventListener('pointerdown', (e) => {
    if (e.pointerType === 'mouse' && e.button !== 0) return;
    pointers.set(e.pointerId, pos(e));
    canvas.setPointerCapture(e.pointerId);
    if (pointers.size === 1) drag = { ...pos(e), moved: false };
    else if (pointers.size === 2) { drag = null; pinch = twoFingers(); }
  });
  canvas.addEventListener('pointermove', (e) => {
    const p = pos(e);
    if (pointers.has(e.pointerId)) pointers.set(e.pointerId, p);
    if (pinch && pointers.size >= 2) {
      const now = twoFingers();
      view.zoomBy(now.dist / pinch.dist, now.mid.x, now.mid.y);
      view.panBy(now.mid.x - pinch.mid.x, now.mid.y - pinch.mid.y);
      pinch = now;
      return;
    }
    if (drag) {
      const dx = p.x - drag.x, dy = p.y - drag.y;
      if (!drag.moved && Math.hypot(dx, dy) < 5) return;
      drag.moved = true;
      if (view.zoom > 1) {
        canvas.classList.add('grabbing');
        view.panBy(dx, dy);
        drag.x = p.x; drag.y = p.y;
      }
      $('tooltip').hidden = true;
      return;
    }
    if (pointers.size) return;
    const i = view.hit(p.x, p.y);
    canvas.style.cursor = i >= 0 && model.status[i] === AVAILABLE ? 'pointer' : '';
    showTooltip(i, p.x, p.y);
  });
  const lift = (e, cancelled) => {
    pointers.delete(e.pointerId);
    canvas.classList.remove('grabbing');
    if (pinch) { if (pointers.size < 2) pinch = null; drag = null; return; }
    const click = drag && !drag.moved && !cancelled;
    drag = null;
    if (!click) return;
    const p = pos(e);
    const i = view.hit(p.x, p.y);
    if (i >= 0) { view.setCursor(i); toggleSeat(i); }
  };
  canvas.addEventListener('pointerup', (e) => lift(e, false));
  canvas.addEventListener('pointercancel', (e) => lift(e, true));
  canvas.addEventListener('pointerleave', () => { $('tooltip').hidden = true; });
  canvas.addEventListener('wheel', (e) => {
    if (!e.ctrlKey && !e.metaKey) return;
    e.preventDefault();
    const p = pos(e);
    view.zoomBy(e.deltaY < 0 ? 1.25 : 0.8, p.x, p.y);
  }, { passive: false });

  canvas.addEventListener('focus', () => {
    if (view.cursor < 0 && model.n) {
      let i = model.status.indexOf(AVAILABLE);
      if (i < 0) i = 0;
      view.setCursor(i);
      announce(i);
    }
  });
  canvas.addEventListener('keydown', (e) => {
    const i = view.cursor;
    let next = -1;
    switch (e.key) {
      case 'ArrowRight': next = Math.min(model.n - 1, i + 1); break;
      case 'ArrowLeft': next = Math.max(0, i - 1); break;
      case 'ArrowUp': next = nearestInRow(i, -1); break;
      case 'ArrowDown': next = nearestInRow(i, 1); break;
      case 'Home': next = model.rows[model.rowOf[i]].start; break;
      case 'End': next = model.rows[model.rowOf[i]].end - 1; break;
      case 'Enter': case ' ': toggleSeat(i); e.preventDefault(); return;
      case '+': case '=': view.zoomBy(1.5); break;
      case '-': view.zoomBy(1 / 1.5); break;
      case '0': view.fit(); break;
      default: return;
    }
    e.preventDefault();
    if (next >= 0 && next !== i) {
      view.setCursor(next);
      view.reveal(next);
      announce(next);
    }
  });

  $('zoom-in').addEventListener('click', () => view.zoomBy(1.5));
  $('zoom-out').addEventListener('click', () => view.zoomBy(1 / 1.5));
  $('zoom-fit').addEventListener('click', () => view.fit());
}

/** The seat in the row above/below seat i that is nearest to it horizontally. */
function nearestInRow(i, step) {
  const r = model.rowOf[i] + step;
  if (r < 0 || r >= model.rows.length) return i;
  const { start, end } = model.rows[r];
  let best = start;
  for (let j = start; j < end; j++) {
    if (Math.abs(model.xs[j] - model.xs[i]) < Math.abs(model.xs[best] - model.xs[i])) best = j;
  }
  return best;
}

// --- Boot ------------------------------------------------------------------------

function showEvent() {
  document.title = `${event.title} · boxoffice`;
  $('event-title').textContent = event.title;
  const meta = $('event-meta');
  meta.replaceChildren(
    el('time', { datetime: event.start_time }, formatDate(event.start_time)),
    ` · ${event.venue_name ?? 'Venue'}, ${event.city} · ${formatPrice(event.price_cents)} per seat · `,
    el('span', { class: 'chip' + (event.status === 'ON_SALE' ? ' on-sale' : '') }, titleCase(event.status)),
  );
  if (event.status !== 'ON_SALE') setMessage(`Tickets for this event are not on sale (${titleCase(event.status)}).`);
}

async function boot() {
  setConnState('connecting');
  if (!Number.isSafeInteger(eventId) || eventId <= 0) {
    $('event-title').textContent = 'No event selected';
    $('event-meta').replaceChildren('Pick an event from ', el('a', { href: '/' }, 'the list'), '.');
    setConnState('offline');
    return;
  }
  let layout;
  try {
    event = await api(`/events/${eventId}`);
    showEvent();
    layout = await api(`/venues/${event.venue_id}/layout`);
  } catch (e) {
    $('event-title').textContent = 'This event could not be loaded';
    $('event-meta').textContent = errorText(e);
    setConnState('offline');
    return;
  }
  model = new SeatModel(layout);
  view = new SeatCanvas(canvas, model, classOf);
  view.resize();
  let lastWidth = 0;
  new ResizeObserver(() => {
    const w = canvas.parentElement.clientWidth;
    if (w !== lastWidth) { lastWidth = w; view.resize(); }
  }).observe(canvas.parentElement);
  matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => { view.readColors(); view.redraw(); });
  wireCanvas();

  $('hold').addEventListener('click', holdSeats);
  $('clear').addEventListener('click', () => {
    const was = [...selected];
    selected.clear();
    view.invalidate(was);
    renderSelection();
    setMessage('');
  });
  $('pay').addEventListener('click', () => pay(false));
  $('retry').addEventListener('click', () => pay(true));
  $('release').addEventListener('click', release);
  $('again').addEventListener('click', () => { showView('select'); renderSelection(); });
  $('queue-join').addEventListener('click', joinQueue);
  if (event.queue_enabled) initQueue();
  renderSelection();

  feed = new LiveFeed(eventId, transport, {
    onMessage,
    onState: setConnState,
    version: () => model.version,
  });
  feed.start();
  window.addEventListener('online', () => feed.kick());
  restoreHold();
}

boot();
