// Draws the live dashboard in plain SVG (no chart library): one small line
// chart per metric with its current value, and a bar per zone of sold, held
// and available seats (held is hatched, sold solid, so colour is not the
// only signal). Geometry comes from ./dashboard-model.js.

import { el } from '../lib/dom.js';
import { formatPrice } from '../lib/format.js';
import { METRICS, linePoints, zoneRows } from './dashboard-model.js';

const SVG = 'http://www.w3.org/2000/svg';
const W = 300, H = 80;
/** The time axis: what the series covers, between one and five minutes. */
const MIN_SPAN_MS = 60 * 1000, MAX_SPAN_MS = 5 * 60 * 1000;

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  node.append(...children);
  return node;
}

const number = (v, digits = 0) => Number(v).toLocaleString(undefined, { maximumFractionDigits: digits });

function valueText(metric, v) {
  if (v === null || v === undefined) return '–';
  if (metric.unit === 'money') return formatPrice(v);
  if (metric.unit === '/s') return `${number(v, 1)} / s`;
  return number(v);
}

/** Builds the chart cards into `container`; answers a draw(series, zones) function. */
export function dashboardCharts(container, zonesContainer) {
  const cards = METRICS.map((metric) => {
    const line = svg('polyline', { class: 'chart-line', fill: 'none', points: '' });
    const axis = svg('text', { x: 2, y: 10, class: 'chart-axis' });
    const chart = svg('svg', { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', 'aria-hidden': 'true' },
      svg('line', { x1: 0, y1: H - 0.5, x2: W, y2: H - 0.5, class: 'chart-base' }), line);
    const value = el('strong', { class: 'chart-value' }, '–');
    const figure = el('figure', { class: 'chart', dataset: { metric: metric.key } },
      el('figcaption', {}, el('span', {}, metric.label), value), chart);
    chart.append(axis);
    container.append(figure);
    return { metric, figure, line, value, axis };
  });

  return function draw(series, zones) {
    const latest = series.latest;
    const now = latest ? Date.parse(latest.at) : Date.now();
    const first = series.points.length ? Date.parse(series.points[0].at) : now;
    const spanMs = Math.min(MAX_SPAN_MS, Math.max(MIN_SPAN_MS, now - first));
    for (const card of cards) {
      const values = series.values(card.metric.key);
      const { points, max } = linePoints(values, { width: W, height: H, now, spanMs });
      card.line.setAttribute('points', points);
      card.axis.textContent = card.metric.unit === 'money' ? formatPrice(max) : number(max, 1);
      const v = latest ? latest[card.metric.key] : null;
      card.value.textContent = valueText(card.metric, v);
      card.figure.dataset.value = v === null || v === undefined ? '' : String(v);
    }
    zonesContainer.replaceChildren(...zoneRows(series.seats, zones).map(zoneBar));
  };
}

function zoneBar(row) {
  const total = row.sold + row.held + row.available || 1;
  const part = (kind, n) => el('span', {
    class: `zone-part ${kind}`, style: { 'flex-grow': n / total }, title: `${number(n)} ${kind}`,
  });
  return el('div', {
    class: 'zone-row',
    dataset: { zone: row.name, sold: String(row.sold), held: String(row.held), available: String(row.available) },
  },
  el('div', { class: 'zone-name' }, row.name),
  el('div', { class: 'zone-bar', 'aria-hidden': 'true' }, part('sold', row.sold), part('held', row.held), part('available', row.available)),
  el('div', { class: 'zone-counts' }, `${number(row.sold)} sold · ${number(row.held)} held · ${number(row.available)} available`));
}
