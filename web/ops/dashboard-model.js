// The live dashboard's pure parts: the series kept in the browser, seats
// grouped by zone, and chart geometry. Unit-tested in
// tests/web/dashboard.test.mjs; drawn by ./charts.js.

/** Points kept: five minutes at one a second (the server's snapshot size). */
export const KEEP = 300;

/** The charts, in order: which point field each one plots. */
export const METRICS = [
  { key: 'waiting', label: 'Waiting', unit: '' },
  { key: 'admitted_per_sec', label: 'Admitted / s', unit: '/s' },
  { key: 'holds_per_sec', label: 'Holds / s', unit: '/s' },
  { key: 'sales_per_sec', label: 'Sales / s', unit: '/s' },
  { key: 'revenue_cents', label: 'Revenue', unit: 'money' },
];

/** The dashboard's state: points (oldest first) and the latest seats by section. */
export class DashboardSeries {
  constructor(keep = KEEP) {
    this.keep = keep;
    this.points = [];
    this.seats = [];
  }

  /** Replaces everything with a `snapshot` message's body. */
  snapshot({ points = [], seats = [] }) {
    this.points = points.slice(-this.keep);
    this.seats = seats;
  }

  /** Appends a `sample` message's body. */
  sample(body) {
    const { seats, ...point } = body;
    this.points.push(point);
    if (this.points.length > this.keep) this.points.splice(0, this.points.length - this.keep);
    if (seats) this.seats = seats;
  }

  get latest() { return this.points.at(-1) ?? null; }

  /** [{t (ms), v}] of one metric; unknown values (null) left out. */
  values(key) {
    const out = [];
    for (const p of this.points) {
      const v = p[key];
      if (v !== null && v !== undefined && Number.isFinite(Number(v))) out.push({ t: Date.parse(p.at), v: Number(v) });
    }
    return out;
  }
}

/**
 * Seats by zone: one row per zone of the event (its sections summed), plus
 * "Other sections" for sections in no zone; one "Whole event" row when the
 * event has no zones.
 */
export function zoneRows(seats, zones) {
  const sum = (rows) => rows.reduce((t, s) => ({
    available: t.available + (s.available ?? 0), held: t.held + (s.held ?? 0), sold: t.sold + (s.sold ?? 0),
  }), { available: 0, held: 0, sold: 0 });
  if (!zones || zones.length === 0) return [{ name: 'Whole event', ...sum(seats) }];
  const zoneOf = new Map();
  for (const z of zones) for (const section of z.sections ?? []) if (!zoneOf.has(section)) zoneOf.set(section, z.name);
  const rows = zones.map((z) => ({ name: z.name, ...sum(seats.filter((s) => zoneOf.get(s.section) === z.name)) }));
  const other = seats.filter((s) => !zoneOf.has(s.section));
  if (other.length) rows.push({ name: 'Other sections', ...sum(other) });
  return rows;
}

/** A "nice" upper bound for a y axis: 1, 2, 2.5 or 5 times a power of ten. */
export function niceMax(max) {
  if (!(max > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * power >= max) return step * power;
  return 10 * power;
}

/**
 * The polyline of `values` ([{t, v}]) in a width × height box, time running
 * over the last `spanMs` before `now`, values from 0 to niceMax: {points, max}.
 */
export function linePoints(values, { width, height, now, spanMs }) {
  const max = niceMax(Math.max(0, ...values.map((p) => p.v)));
  const x = (t) => width - ((now - t) / spanMs) * width;
  const y = (v) => height - (v / max) * height;
  const points = values
    .filter((p) => now - p.t <= spanMs)
    .map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`)
    .join(' ');
  return { points, max };
}
