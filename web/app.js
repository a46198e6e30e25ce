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
export async function api(path, {
  method = 'GET', body, headers = {}, token, signal, credentials = 'same-origin',
} = {}) {
  const h = { Accept: 'application/json', ...headers };
  if (body !== undefined) h['Content-Type'] = 'application/json';
  if (token) h.Authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetch(path, {
      method,
      headers: h,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials,
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

/** The claims of one of our bearer tokens ({uid, role, exp}), or null. */
export function tokenClaims(token) {
  try {
    const body = String(token).split('.')[0].replace(/-/g, '+').replace(/_/g, '/');
    const claims = JSON.parse(atob(body + '='.repeat((4 - (body.length % 4)) % 4)));
    return claims && typeof claims === 'object' ? claims : null;
  } catch {
    return null;
  }
}

const clock = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
/** HH:MM in the visitor's time zone. */
export const formatClock = (iso) => clock.format(new Date(iso));

/** "about 3 minutes": a wait in words. */
export function humanDuration(seconds) {
  const s = Math.max(0, Math.round(Number(seconds)));
  if (!Number.isFinite(s)) return 'unknown';
  if (s < 10) return 'a few seconds';
  if (s < 50) return 'less than a minute';
  if (s < 90) return 'about a minute';
  const minutes = Math.round(s / 60);
  if (minutes < 60) return `about ${minutes} minutes`;
  const h = Math.floor(minutes / 60), m = minutes % 60;
  return `about ${h} hour${h === 1 ? '' : 's'}${m ? ` ${m} min` : ''}`;
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

// ---------------------------------------------------------------------------
// index.html?admin=1: the operator panel. Sign in with an admin account, pick
// an event, watch its waiting room (refreshed every second) and steer it.
// The operator's token stays in this tab (sessionStorage) and every call sends
// it as a bearer token with credentials omitted, so signing in here never
// replaces a buyer's session cookie in the same browser.

const OPS_TOKEN_KEY = 'boxoffice.ops.token';
const OPS_EMAIL_KEY = 'boxoffice.ops.email';
const REPORT_EVERY = 1000;

const opsSession = {
  get token() { return sessionStorage.getItem(OPS_TOKEN_KEY); },
  get email() { return sessionStorage.getItem(OPS_EMAIL_KEY); },
  save(token, email) {
    sessionStorage.setItem(OPS_TOKEN_KEY, token);
    sessionStorage.setItem(OPS_EMAIL_KEY, email);
  },
  clear() { sessionStorage.removeItem(OPS_TOKEN_KEY); },
};

/** A datetime-local value (local time, seconds) for an ISO instant. */
function localInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

const rateText = (r) => `${Number(r).toLocaleString(undefined, { maximumFractionDigits: 1 })} / s`;

function initOperatorPanel() {
  const $ = (id) => document.getElementById(id);
  document.title = 'Operators · boxoffice';
  $('browse').hidden = true;
  $('ops').hidden = false;
  $('nav-ops').hidden = true;
  $('nav-events').hidden = false;

  const params = new URLSearchParams(location.search);
  const opsApi = (path, options = {}) => api(path, { ...options, token: opsSession.token, credentials: 'omit' });
  let eventId = Number(params.get('event_id')) || null;
  let timer = 0;
  let generation = 0; // bumps on every event switch or sign-out: stale answers are dropped
  let formFor = null; // the event whose settings fill the form
  let lastReport = null;

  const loginMessage = (text) => { $('ops-login-error').textContent = text; };
  const settingsMessage = (text, kind = '') => {
    $('ops-message').textContent = text;
    $('ops-message').className = `message ${kind}`;
  };
  const setLive = (state, text) => { $('ops-live').dataset.state = state; $('ops-live').textContent = text; };

  function showLogin(text = '') {
    generation++;
    clearTimeout(timer);
    $('ops-main').hidden = true;
    $('ops-login').hidden = false;
    $('ops-email').value = opsSession.email ?? $('ops-email').value;
    loginMessage(text);
  }

  /** A 401/403 while signed in: the token expired or lost its role. */
  function authFailed(e) {
    if (e.status !== 401 && e.status !== 403) return false;
    opsSession.clear();
    showLogin(e.status === 403 ? 'This account is not an operator.' : 'Your session expired. Sign in again.');
    return true;
  }

  $('ops-login').addEventListener('submit', async (e) => {
    e.preventDefault();
    const email = $('ops-email').value.trim();
    const button = $('ops-login-submit');
    button.disabled = true;
    loginMessage('');
    try {
      const res = await api('/auth/login', {
        method: 'POST', body: { email, password: $('ops-password').value }, credentials: 'omit',
      });
      const role = res.role ?? tokenClaims(res.token)?.role;
      if (role !== 'admin') { loginMessage('This account is not an operator.'); return; }
      opsSession.save(res.token, email);
      $('ops-password').value = '';
      showMain();
    } catch (err) {
      loginMessage(errorText(err));
    } finally {
      button.disabled = false;
    }
  });

  $('ops-logout').addEventListener('click', () => {
    opsSession.clear();
    showLogin('Signed out.');
  });

  async function loadEvents() {
    const select = $('ops-event');
    const events = [];
    let cursor = null;
    for (let page = 0; page < 10; page++) {
      const q = new URLSearchParams({ limit: '100' });
      if (cursor) q.set('cursor', cursor);
      const res = await api(`/events?${q}`);
      events.push(...res.events);
      cursor = res.next_cursor;
      if (!cursor) break;
    }
    events.sort((a, b) => a.event_id - b.event_id);
    select.replaceChildren(el('option', { value: '' }, 'Choose an event…'),
      ...events.map((ev) => el('option', { value: String(ev.event_id) },
        `#${ev.event_id} · ${ev.title} · ${formatDate(ev.start_time)}`)));
    if (eventId && !events.some((ev) => ev.event_id === eventId)) {
      select.append(el('option', { value: String(eventId) }, `#${eventId}`));
    }
    select.value = eventId ? String(eventId) : '';
  }

  async function showMain() {
    $('ops-login').hidden = true;
    $('ops-main').hidden = false;
    $('ops-who').textContent = opsSession.email ?? 'operator';
    try {
      await loadEvents();
    } catch (e) {
      settingsMessage(`Could not load the events: ${errorText(e)}`, 'error');
    }
    selectEvent(eventId);
  }

  function selectEvent(id) {
    generation++;
    clearTimeout(timer);
    eventId = id || null;
    formFor = null;
    lastReport = null;
    const q = new URLSearchParams(location.search);
    if (eventId) q.set('event_id', String(eventId)); else q.delete('event_id');
    history.replaceState(null, '', `?${q}`);
    $('ops-event-view').hidden = !eventId;
    settingsMessage('');
    if (!eventId) return;
    $('ops-event-link').href = `/web/event.html?event_id=${eventId}`;
    for (const dd of $('ops-report').querySelectorAll('dd')) dd.textContent = '–';
    setLive('connecting', 'Loading…');
    refresh(generation);
  }

  $('ops-event').addEventListener('change', (e) => selectEvent(Number(e.target.value)));

  function fillForm(report) {
    $('ops-enabled').checked = !!report.enabled;
    $('ops-rate').value = String(report.admission_rate_per_sec);
    $('ops-onsale').value = localInput(report.sale_opens_at);
    $('ops-onsale').dataset.initial = $('ops-onsale').value;
    formFor = eventId;
  }

  function showReport(r) {
    lastReport = r;
    const set = (id, text) => { $(id).textContent = text; };
    set('ops-r-enabled', r.enabled ? 'On' : 'Off');
    set('ops-r-rate', r.paused ? 'Paused (0 / s)' : rateText(r.admission_rate_per_sec));
    set('ops-r-measured', rateText(r.measured_rate_per_sec ?? 0));
    set('ops-r-waiting', Number(r.waiting ?? 0).toLocaleString());
    set('ops-r-admitted', Number(r.admitted_total ?? 0).toLocaleString());
    set('ops-r-minute', Number(r.admitted_last_minute ?? 0).toLocaleString());
    set('ops-r-eta', !r.waiting ? 'nobody waiting' : r.paused ? 'paused' : humanDuration(r.eta_last_seconds));
    set('ops-r-soldout', r.sold_out ? 'Yes — admissions paused' : 'No');
    set('ops-r-opens', r.sale_opens_at
      ? `${formatDate(r.sale_opens_at)}${Date.parse(r.sale_opens_at) > Date.now() ? '' : ' (open)'}`
      : 'Not scheduled (open)');
    set('ops-r-lease', r.lease_holder ?? 'none');
    $('ops-report').dataset.rate = String(r.admission_rate_per_sec);
    $('ops-report').dataset.enabled = String(!!r.enabled);
    $('ops-r-soldout').classList.toggle('error', !!r.sold_out);
    if (formFor !== eventId) fillForm(r);
    setLive('live', `Updated ${new Date().toLocaleTimeString()}`);
  }

  async function refresh(gen) {
    try {
      const r = await opsApi(`/admin/events/${eventId}/queue`);
      if (gen !== generation) return;
      showReport(r);
    } catch (e) {
      if (gen !== generation) return;
      if (authFailed(e)) return;
      setLive(e.status === 0 || e.status >= 500 ? 'reconnecting' : 'offline', errorText(e));
    }
    if (gen === generation) timer = setTimeout(() => refresh(gen), REPORT_EVERY);
  }

  async function save(settings, what) {
    const gen = generation;
    const form = $('ops-settings');
    for (const b of form.querySelectorAll('button')) b.disabled = true;
    settingsMessage('Saving…');
    try {
      const r = await opsApi(`/admin/events/${eventId}/queue`, { method: 'PUT', body: settings });
      if (gen !== generation) return;
      formFor = null; // refill from what the server now has
      showReport(r);
      settingsMessage(`${what} Every node applies it within a second.`, 'ok');
    } catch (e) {
      if (gen !== generation || authFailed(e)) return;
      settingsMessage(errorText(e), 'error');
    } finally {
      for (const b of form.querySelectorAll('button')) b.disabled = false;
    }
  }

  function currentSettings() {
    const rate = Number($('ops-rate').value);
    if (!Number.isInteger(rate) || rate < 0 || rate > 100000) {
      settingsMessage('The admission rate must be a whole number from 0 (paused) to 100,000 per second.', 'error');
      $('ops-rate').focus();
      return null;
    }
    const settings = { enabled: $('ops-enabled').checked, admission_rate_per_sec: rate };
    const onsale = $('ops-onsale').value;
    // Sent only when changed (the input drops the milliseconds); it cannot be cleared.
    if (onsale && onsale !== $('ops-onsale').dataset.initial) {
      const at = new Date(onsale);
      if (Number.isNaN(at.getTime())) { settingsMessage('The on-sale time is not a valid date.', 'error'); return null; }
      settings.onsale_at = at.toISOString();
    }
    return settings;
  }

  $('ops-settings').addEventListener('submit', (e) => {
    e.preventDefault();
    const settings = currentSettings();
    if (settings) save(settings, 'Saved.');
  });
  $('ops-open-now').addEventListener('click', () => {
    const settings = currentSettings();
    if (!settings) return;
    settings.onsale_at = new Date().toISOString();
    save(settings, 'The sale is open.');
  });
  $('ops-reset').addEventListener('click', () => {
    if (lastReport) fillForm(lastReport);
    settingsMessage('');
  });

  // Test and debugging hooks.
  window.boxofficeOps = {
    get eventId() { return eventId; },
    get report() { return lastReport; },
    get signedIn() { return !!opsSession.token; },
  };

  if (opsSession.token) showMain(); else showLogin();
}

if (new URLSearchParams(location.search).has('admin') && document.getElementById('ops')) initOperatorPanel();
else if (document.getElementById('events')) initEventList();
