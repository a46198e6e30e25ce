// index.html: browse events with filters and "load more"; with ?admin=1 the
// operator panel instead (./operator.js).

import { api, errorText } from '../lib/api.js';
import { el } from '../lib/dom.js';
import { formatDate, formatPrice, titleCase } from '../lib/format.js';
import { initOperatorPanel } from './operator.js';

const PAGE_SIZE = 12;

function eventCard(event) {
  const href = `/web/event.html?event_id=${encodeURIComponent(event.event_id)}`;
  const onSale = event.status === 'ON_SALE';
  return el('li', {},
    el('article', { class: 'event-card' },
      el('h2', {}, el('a', { href }, event.title)),
      el('div', { class: 'when' }, el('time', { datetime: event.start_time }, formatDate(event.start_time))),
      el('div', { class: 'where' }, `${event.venue_name ?? 'Venue'} · ${event.city}`),
      el('div', { class: 'price' }, `From ${formatPrice(event.price_cents)}`),
      el('div', { class: 'chips' },
        el('span', { class: 'chip' }, event.category),
        el('span', { class: `chip${onSale ? ' on-sale' : ''}` }, titleCase(event.status)))));
}

function initEventList() {
  const form = document.getElementById('filters');
  const list = document.getElementById('events');
  const more = document.getElementById('more');
  const status = document.getElementById('list-status');
  const seen = { city: new Set(), category: new Set() };
  let cursor = null;
  let loading = null;

  // Filters come from (and go back to) the page URL, so a search can be shared.
  const params = new URLSearchParams(location.search);
  for (const name of ['q', 'city', 'category']) form.elements[name].value = params.get(name) ?? '';

  function filters() {
    const out = {};
    for (const name of ['q', 'city', 'category']) {
      const v = form.elements[name].value.trim();
      if (v) out[name] = v;
    }
    return out;
  }

  function remember(kind, value) {
    if (!value || seen[kind].has(value)) return;
    seen[kind].add(value);
    document.getElementById(`${kind}-options`).append(el('option', { value }));
  }

  async function load(reset) {
    loading?.abort();
    const controller = new AbortController();
    loading = controller;
    const query = new URLSearchParams({ ...filters(), limit: String(PAGE_SIZE) });
    if (!reset && cursor) query.set('cursor', cursor);
    more.disabled = true;
    list.setAttribute('aria-busy', 'true');
    status.textContent = reset ? 'Loading events…' : 'Loading more…';
    status.classList.remove('error');
    try {
      const page = await api(`/events?${query}`, { signal: controller.signal });
      if (reset) list.replaceChildren();
      for (const event of page.events) {
        list.append(eventCard(event));
        remember('city', event.city);
        remember('category', event.category);
      }
      cursor = page.next_cursor || null;
      more.hidden = !cursor;
      const count = list.children.length;
      status.textContent = count === 0
        ? 'No events match these filters.'
        : `${count} event${count === 1 ? '' : 's'}${cursor ? ' so far' : ''}.`;
    } catch (e) {
      if (e.name === 'AbortError') return;
      status.textContent = errorText(e);
      status.classList.add('error');
    } finally {
      if (loading === controller) {
        loading = null;
        more.disabled = false;
        list.removeAttribute('aria-busy');
      }
    }
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const q = new URLSearchParams(filters());
    history.replaceState(null, '', q.size ? `?${q}` : location.pathname);
    load(true);
  });
  form.addEventListener('reset', () => setTimeout(() => form.requestSubmit(), 0));
  more.addEventListener('click', () => load(false));
  load(true);
}

if (new URLSearchParams(location.search).has('admin') && document.getElementById('ops')) initOperatorPanel();
else if (document.getElementById('events')) initEventList();
