// event.html: one event's live seat map and booking panel. Loads the event
// and its venue layout, draws every seat (seatmap/canvas.js), keeps them live
// over SSE (default) or WebSocket (?transport=ws, seatmap/feed.js), and wires
// the booking panel (booking/) and the waiting room (queue/). This file only
// boots and connects them; each part holds its own state.

import { api, errorText } from '../lib/api.js';
import { byId as $, el } from '../lib/dom.js';
import { formatDate, formatPrice, titleCase } from '../lib/format.js';
import { SeatCanvas } from '../seatmap/canvas.js';
import { LiveFeed } from '../seatmap/feed.js';
import { wireCanvas } from '../seatmap/input.js';
import { SeatModel, deltaAction, seatClass } from '../seatmap/model.js';
import { Zones } from '../seatmap/zones.js';
import { Announcer, holdFailed, holdSucceeded, seatName, seatPhrase, selectionPhrase } from '../lib/announce.js';
import { WaitingRoom } from '../queue/waiting-room.js';
import { Booking } from '../booking/booking.js';
import { CANCELLED, withToken } from '../booking/guest.js';

const params = new URLSearchParams(location.search);
const eventId = Number(params.get('event_id'));
const transport = params.get('transport') === 'ws' ? 'ws' : 'sse';
const canvas = $('seatmap');

/** Everything this page built; filled in by boot(). */
const page = {
  event: null,
  model: null, // SeatModel
  zones: null, // Zones: each seat's zone and price, the price filter
  view: null, // SeatCanvas
  feed: null, // LiveFeed
  booking: null, // Booking
  legendFrame: 0, // a legend update is scheduled for the next frame
};

/** The waiting room exists from the start (switched off until the event says otherwise). */
const room = new WaitingRoom(eventId, null, {
  onChange: () => page.booking?.renderSelection(), message: setMessage, withToken, cancelled: CANCELLED,
});

// Test and debugging hooks.
window.boxoffice = {
  eventId,
  transport,
  get version() { return page.model?.version ?? null; },
  get connected() { return page.feed?.connected ?? false; },
  statusOf(seatId) {
    const i = page.model?.index.get(Number(seatId));
    return i === undefined ? null : page.model.statusName(i);
  },
  counts() {
    const c = page.model?.counts ?? [0, 0, 0];
    return { AVAILABLE: c[0], RESERVED: c[1], CONFIRMED: c[2] };
  },
  /** Where a seat is drawn, in CSS pixels relative to the canvas (null when off screen). */
  seatPoint(seatId) {
    const i = page.model?.index.get(Number(seatId));
    return i === undefined || !page.view ? null : page.view.point(i);
  },
  get selected() { return page.booking ? [...page.booking.selected].map((i) => page.model.ids[i]) : []; },
  get booking() { return page.booking?.hold ?? null; },
  /** The waiting room as this page sees it. */
  get queue() { return room.snapshot(); },
  /** Seat's zone and price as the map shows them. */
  priceOf(seatId) {
    const i = page.model?.index.get(Number(seatId));
    return i === undefined || !page.zones ? null : { zone: page.zones.zoneName(i), price_cents: page.zones.price(i) };
  },
  /** The last full redraw's duration (ms) and how many there were. */
  get draws() { return { lastMs: page.view?.lastDrawMs ?? null, count: page.view?.fullDraws ?? 0 }; },
  /** Redraws the whole map now and answers how long it took (ms). */
  drawNow() { page.view.drawAll(); return page.view.lastDrawMs; },
  zoomBy(factor) { page.view.zoomBy(factor); },
  panBy(dx, dy) { page.view.panBy(dx, dy); },
  /** What the screen-reader region says now. */
  get announced() { return $('seat-announce').textContent; },
};

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

function updateLegend() {
  if (page.legendFrame) return;
  page.legendFrame = requestAnimationFrame(() => {
    page.legendFrame = 0;
    const [a, r, c] = page.model.counts;
    $('count-available').textContent = a.toLocaleString();
    $('count-reserved').textContent = r.toLocaleString();
    $('count-confirmed').textContent = c.toLocaleString();
    $('count-selected').textContent = String(page.booking.selected.size);
    $('version').textContent = `v${page.model.version ?? '–'}`;
  });
}

/** A snapshot or delta from the live feed. */
function onMessage(msg) {
  const { model, view, feed, booking } = page;
  if (msg.event_id !== undefined && Number(msg.event_id) !== eventId) return;
  if (msg.type === 'snapshot') {
    if (!model.applySnapshot(msg)) { feed.resync(); return; }
    view.redraw();
    booking.dropTakenSelections([...booking.selected]);
  } else {
    const action = deltaAction(model.version, msg);
    if (action === 'ignore') return;
    if (action === 'resync') { feed.resync(); return; }
    const changed = model.applyDelta(msg);
    view.invalidate(changed);
    booking.dropTakenSelections(changed.filter((i) => booking.selected.has(i)));
  }
  canvas.dataset.version = String(model.version);
  if (feed.connected) setConnState('live');
  updateLegend();
}

const announcer = new Announcer($('seat-announce'));
const nameOf = (i) => {
  const row = page.model.rows[page.model.rowOf[i]];
  return seatName(row.section, row.name, page.model.numbers[i]);
};

/** Says what the keyboard cursor is on, or (toggled) what selecting it did. */
function announce(i, { toggled = false } = {}) {
  const { model, booking } = page;
  if (toggled && model.status[i] === 0) {
    announcer.say(selectionPhrase(nameOf(i), booking.selected.has(i), booking.selected.size));
    return;
  }
  if (toggled) {
    announcer.say($('booking-message').textContent || seatPhrase(nameOf(i), model.statusName(i)));
    return;
  }
  announcer.say(seatPhrase(nameOf(i), model.statusName(i), { selected: booking.selected.has(i), mine: booking.mine.has(i) }));
}

/** Says how a hold ended. */
function announceHold({ ok, booking, taken = [], reason }) {
  if (ok) {
    const minutes = Math.round((Date.parse(booking.expires_at) - Date.now()) / 60000);
    const names = (booking.seat_ids ?? []).map((id) => page.model.index.get(id)).filter((i) => i !== undefined).map(nameOf);
    announcer.say(holdSucceeded(names, minutes));
  } else {
    announcer.say(holdFailed({ taken: taken.map(nameOf), reason }));
  }
}

function showTooltip(i, x, y) {
  const tip = $('tooltip');
  if (i < 0) { tip.hidden = true; return; }
  const zone = page.zones.zoneName(i);
  tip.textContent = `${page.model.shortLabel(i)}${zone ? ` · ${zone}` : ''} · ${formatPrice(page.zones.price(i))} — ${titleCase(page.model.statusName(i) ?? 'loading')}`;
  tip.style.left = `${x}px`;
  tip.style.top = `${y}px`;
  tip.hidden = false;
}

/** "49.00 per seat", or "from 29.00" when zones price seats differently. */
function priceText(event) {
  const prices = [event.price_cents, ...(event.zones ?? []).map((z) => z.price_cents)];
  const low = Math.min(...prices), high = Math.max(...prices);
  return low === high ? `${formatPrice(low)} per seat` : `${formatPrice(low)}–${formatPrice(high)} per seat`;
}

/** The zone legend, the price filter and the best-available zone choice. */
function showZones(zones, view) {
  $('zones').hidden = zones.list.length === 0;
  $('zone-legend').replaceChildren(...zones.list.map((z) => el('li', {},
    el('span', { class: 'swatch', style: { 'background-color': z.color } }), `${z.name} `,
    el('span', { class: 'count' }, formatPrice(z.price_cents)))));
  const filter = $('price-filter');
  filter.replaceChildren(el('option', { value: '' }, 'any price'),
    ...zones.priceLevels().map((p) => el('option', { value: String(p) }, `up to ${formatPrice(p)}`)));
  filter.addEventListener('change', () => {
    zones.maxPrice = filter.value === '' ? null : Number(filter.value);
    view.redraw();
  });
  $('best-zone').replaceChildren(el('option', { value: '' }, 'any zone'),
    ...zones.list.map((z) => el('option', { value: z.name }, `${z.name} (${formatPrice(z.price_cents)})`)));
}

function showEvent(event) {
  document.title = `${event.title} · boxoffice`;
  $('event-title').textContent = event.title;
  const meta = $('event-meta');
  meta.replaceChildren(
    el('time', { datetime: event.start_time }, formatDate(event.start_time)),
    ` · ${event.venue_name ?? 'Venue'}, ${event.city} · ${priceText(event)} · `,
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
  let event, layout;
  try {
    event = await api(`/events/${eventId}`);
    page.event = event;
    showEvent(event);
    layout = await api(`/venues/${event.venue_id}/layout`);
  } catch (e) {
    $('event-title').textContent = 'This event could not be loaded';
    $('event-meta').textContent = errorText(e);
    setConnState('offline');
    return;
  }
  const model = new SeatModel(layout);
  page.model = model;
  const zones = new Zones(event, model);
  page.zones = zones;
  const classOf = (i) => zones.classOf(seatClass(model.status[i], i, page.booking.selected, page.booking.mine), i);
  const filtered = getComputedStyle(document.documentElement).getPropertyValue('--seat-unknown').trim() || '#ddd';
  const view = new SeatCanvas(canvas, model, classOf, zones.colors(filtered));
  page.view = view;
  showZones(zones, view);
  room.event = event;
  const booking = new Booking(eventId, event, model, view, room, { message: setMessage, legend: updateLegend, announce, held: announceHold });
  page.booking = booking;
  booking.zones = zones;

  view.resize();
  let lastWidth = 0;
  new ResizeObserver(() => {
    const w = canvas.parentElement.clientWidth;
    if (w !== lastWidth) { lastWidth = w; view.resize(); }
  }).observe(canvas.parentElement);
  matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => { view.readColors(); view.redraw(); });
  wireCanvas(canvas, view, model, {
    toggle: (i) => booking.toggleSeat(i),
    announce,
    tooltip: showTooltip,
    zoom: { in: $('zoom-in'), out: $('zoom-out'), fit: $('zoom-fit') },
  });

  booking.wire();
  $('queue-join').addEventListener('click', () => room.join());
  if (event.queue_enabled) room.start();
  booking.renderSelection();

  const feed = new LiveFeed(eventId, transport, {
    onMessage,
    onState: setConnState,
    version: () => model.version,
  });
  page.feed = feed;
  feed.start();
  window.addEventListener('online', () => feed.kick());
  booking.restore();
}

boot();
