// boxoffice browser client: shared helpers (API calls, problem details,
// formatting, the guest session) and the event list of index.html.
// Plain ES module, no dependencies.

/** An HTTP failure carrying the server's RFC 9457 problem object. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
    this.code = problem.code || null;
  }
}

/**
 * Calls the API and returns the parsed JSON body, or throws an ApiError.
 * A network failure is an ApiError with status 0 and code "network_error".
 */
export async function api(path, { method = 'GET', body, headers = {}, token, signal } = {}) {
  const h = { Accept: 'application/json', ...headers };
  if (body !== undefined) h['Content-Type'] = 'application/json';
  if (token) h.Authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetch(path, {
      method,
      headers: h,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      signal,
    });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, {
      code: 'network_error',
      title: 'Network error',
      detail: 'Could not reach the server. Check your connection and try again.',
    });
  }
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!res.ok) {
    const problem = data && typeof data === 'object'
      ? data
      : { title: res.statusText || 'Error', detail: `The server answered ${res.status}.` };
    throw new ApiError(res.status, problem);
  }
  return data;
}

/** A human sentence for any error. */
export function errorText(error) {
  if (error instanceof ApiError) {
    const { title, detail } = error.problem;
    const text = String(detail || title || `Request failed (${error.status})`).trim();
    return sentence(text);
  }
  return error?.message || String(error);
}

/** Capitalised, with a full stop: the server's details are lower-case phrases. */
const sentence = (text) => {
  const t = text.charAt(0).toUpperCase() + text.slice(1);
  return /[.!?)]$/.test(t) ? t : `${t}.`;
};

/** A random UUID (v4), also outside secure contexts. */
export function uuid() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const money = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
export const formatPrice = (cents) => money.format(Number(cents) / 100);

const dateFormat = new Intl.DateTimeFormat(undefined, {
  weekday: 'short', day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit',
});
export const formatDate = (iso) => dateFormat.format(new Date(iso));

export const titleCase = (s) => String(s || '').toLowerCase().replace(/(^|[\s_])\w/g, (m) => m.toUpperCase()).replace(/_/g, ' ');

/** Creates an element: el('a', {href: '/'}, 'text', child). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? '' : v);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

// ---------------------------------------------------------------------------
// Guest session: the token lives in localStorage (the server also sets an
// HttpOnly cookie, which EventSource and plain links use).

const TOKEN_KEY = 'boxoffice.token';
const EMAIL_KEY = 'boxoffice.email';

export const session = {
  get token() { return localStorage.getItem(TOKEN_KEY); },
  get email() { return localStorage.getItem(EMAIL_KEY); },
  save(token, email) {
    localStorage.setItem(TOKEN_KEY, token);
    if (email) localStorage.setItem(EMAIL_KEY, email);
  },
  clear() { localStorage.removeItem(TOKEN_KEY); },
};

/** POST /auth/guest and remember the token. */
export async function guestLogin(email) {
  const { token } = await api('/auth/guest', { method: 'POST', body: { email } });
  session.save(token, email);
  return token;
}

// ---------------------------------------------------------------------------
// index.html: browse events with filters and "load more".

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

if (document.getElementById('events')) initEventList();
