// The seat model: a venue layout as flat typed arrays (layout order) plus one
// status byte per seat, and the rules for applying snapshots and deltas.
// Fast enough for 50,000+ seats. Pure (no DOM), unit-tested in
// tests/web/model.test.mjs.

export const STATUSES = ['AVAILABLE', 'RESERVED', 'CONFIRMED'];
export const AVAILABLE = 0, RESERVED = 1, CONFIRMED = 2, UNKNOWN = 255;
const COMPACT = { A: AVAILABLE, R: RESERVED, C: CONFIRMED };

/** Most seats one buyer may select and hold at once. */
export const MAX_SEATS = 8;

// Drawing classes: the three statuses, then these (the canvas's palette order).
export const C_SELECTED = 3, C_MINE = 4, C_UNKNOWN = 5;

/** How seat i is drawn, given the buyer's selection and hold (sets of indices). */
export function seatClass(status, i, selected, mine) {
  if (status === UNKNOWN) return C_UNKNOWN;
  if (status === AVAILABLE && selected.has(i)) return C_SELECTED;
  if (status === RESERVED && mine.has(i)) return C_MINE;
  return status;
}

/** What to do with a delta given the version we have. */
export function deltaAction(current, msg) {
  if (current === null) return 'resync';
  if (msg.version <= current) return 'ignore';
  if (msg.from_version > current + 1) return 'resync';
  return 'apply';
}

export class SeatModel {
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
    this.sections = []; // {name, minX, minY, cx, cy} (cx, cy: the centre of its seats)
    /** The stage of a shaped venue ({x, y, width, height, angle, label}), or null. */
    this.stage = layout.stage ?? null;
    this.index = new Map(); // seat_id -> index
    let i = 0;
    for (const s of layout.sections) {
      const section = { name: s.name, minX: Infinity, minY: Infinity, cx: 0, cy: 0 };
      const first = i;
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
          section.cx += seat.x;
          section.cy += seat.y;
          i++;
        }
        this.rows.push(row);
      }
      const count = Math.max(1, i - first);
      section.cx /= count;
      section.cy /= count;
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

  /** The seat in the row above (step -1) or below (+1) seat i nearest to it horizontally. */
  nearestInRow(i, step) {
    const r = this.rowOf[i] + step;
    if (r < 0 || r >= this.rows.length) return i;
    const { start, end } = this.rows[r];
    let best = start;
    for (let j = start; j < end; j++) {
      if (Math.abs(this.xs[j] - this.xs[i]) < Math.abs(this.xs[best] - this.xs[i])) best = j;
    }
    return best;
  }
}
