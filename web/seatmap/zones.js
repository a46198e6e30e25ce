// Price zones on the seat map: which zone and price each seat has (from the
// event's `zones` and the layout's sections), the zone colours, the price
// filter, and how an available seat is drawn under them. Pure (no DOM),
// unit-tested in tests/web/zones.test.mjs.

import { AVAILABLE } from './model.js';

/** Zone colours, in the event's zone order (repeating past the end). */
export const ZONE_COLORS = ['#2a9d8f', '#6a994e', '#3d5a80', '#9c6644', '#7b2cbf', '#4d908e', '#bc4749', '#577590'];

/** Drawing classes after the model's (0..5): a seat above the price filter, then zone z at C_ZONE + z. */
export const C_FILTERED = 6, C_ZONE = 7;

export class Zones {
  /** `event` has `price_cents` and `zones: [{name, price_cents, sections}]`; `model` is a SeatModel. */
  constructor(event, model) {
    this.list = (event.zones ?? []).map((z, k) => ({
      name: z.name, price_cents: z.price_cents, sections: z.sections, color: ZONE_COLORS[k % ZONE_COLORS.length],
    }));
    const bySection = new Map();
    this.list.forEach((z, k) => { for (const s of z.sections) bySection.set(s, k); });
    const rowZone = model.rows.map((r) => bySection.get(r.section) ?? -1);
    this.zoneOf = new Int16Array(model.n);
    this.prices = new Float64Array(model.n);
    for (let i = 0; i < model.n; i++) {
      const z = rowZone[model.rowOf[i]];
      this.zoneOf[i] = z;
      this.prices[i] = z >= 0 ? this.list[z].price_cents : event.price_cents;
    }
    /** Seats above this price are drawn dimmed; null: no filter. */
    this.maxPrice = null;
  }

  price(i) { return this.prices[i]; }

  /** Sum of the seats' prices. */
  total(indices) {
    let sum = 0;
    for (const i of indices) sum += this.prices[i];
    return sum;
  }

  /** The distinct seat prices, lowest first (the filter's choices). */
  priceLevels() {
    return [...new Set(this.prices)].sort((a, b) => a - b);
  }

  /** The zone name of seat i, or null. */
  zoneName(i) {
    const z = this.zoneOf[i];
    return z >= 0 ? this.list[z].name : null;
  }

  /** The canvas colours of the extra classes: filtered, then each zone. */
  colors(filteredColor) {
    return [filteredColor, ...this.list.map((z) => z.color)];
  }

  /**
   * How seat i is drawn given the model's class `cls` (model.seatClass):
   * an available seat takes its zone's colour, or the filtered class when
   * it costs more than the filter allows; every other class is kept.
   */
  classOf(cls, i) {
    if (cls !== AVAILABLE) return cls;
    if (this.maxPrice !== null && this.prices[i] > this.maxPrice) return C_FILTERED;
    const z = this.zoneOf[i];
    return z >= 0 ? C_ZONE + z : AVAILABLE;
  }
}
