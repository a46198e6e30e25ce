// index.html?admin=1: the operator panel. Sign in with an admin account, pick
// an event, watch its live dashboard (./ops-dashboard.js) and its waiting
// room (refreshed every second) and steer it;
// find bookings and refund them (./ops-bookings.js).
// The operator's token stays in this tab (sessionStorage) and every call sends
// it as a bearer token with credentials omitted, so signing in here never
// replaces a buyer's session cookie in the same browser.

import { api, errorText } from '../lib/api.js';
import { el } from '../lib/dom.js';
import { formatDate, humanDuration, localInput, rateText } from '../lib/format.js';
import { tokenClaims } from '../lib/session.js';
import { initBookingLookup } from './ops-bookings.js';
import { initDashboard } from './ops-dashboard.js';
import { initManage } from './ops-manage.js';
import { resumeRate } from '../ops/manage-model.js';

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

export function initOperatorPanel() {
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
  let dashboard = null; // the live charts (./ops-dashboard.js), made below

  const loginMessage = (text) => { $('ops-login-error').textContent = text; };
  const settingsMessage = (text, kind = '') => {
    $('ops-message').textContent = text;
    $('ops-message').className = `message ${kind}`;
  };
  const setLive = (state, text) => { $('ops-live').dataset.state = state; $('ops-live').textContent = text; };

  function showLogin(text = '') {
    generation++;
    clearTimeout(timer);
    dashboard?.show(null);
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
    dashboard.show(eventId);
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
  // Opening the sale: the event goes ON_SALE (bookings need it) and the
  // waiting room's on-sale time becomes now.
  $('ops-open-now').addEventListener('click', async () => {
    const settings = currentSettings();
    if (!settings) return;
    const gen = generation;
    try {
      await opsApi(`/admin/events/${eventId}`, { method: 'PATCH', body: { status: 'ON_SALE' } });
    } catch (e) {
      if (gen !== generation || authFailed(e)) return;
      settingsMessage(errorText(e), 'error');
      return;
    }
    settings.onsale_at = new Date().toISOString();
    save(settings, 'The sale is open.');
  });
  // Pause is a rate of 0; the rate before it is kept (per event, this tab) for Resume.
  const rateKey = () => `boxoffice.ops.rate.${eventId}`;
  $('ops-pause').addEventListener('click', () => {
    const settings = currentSettings();
    if (!settings || !lastReport) return;
    if (lastReport.admission_rate_per_sec > 0) sessionStorage.setItem(rateKey(), String(lastReport.admission_rate_per_sec));
    save({ ...settings, enabled: !!lastReport.enabled, admission_rate_per_sec: 0 }, 'Admission paused: waiters keep their places.');
  });
  $('ops-resume').addEventListener('click', () => {
    const settings = currentSettings();
    if (!settings || !lastReport) return;
    const rate = resumeRate(sessionStorage.getItem(rateKey()), settings.admission_rate_per_sec);
    save({ ...settings, enabled: !!lastReport.enabled, admission_rate_per_sec: rate }, `Admission resumed at ${rateText(rate)}.`);
  });
  $('ops-reset').addEventListener('click', () => {
    if (lastReport) fillForm(lastReport);
    settingsMessage('');
  });

  initBookingLookup({ opsApi, authFailed });
  dashboard = initDashboard({ token: () => opsSession.token, authFailed });
  initManage({
    opsApi,
    authFailed,
    async onEventCreated(id) {
      await loadEvents().catch(() => {});
      $('ops-event').value = String(id);
      selectEvent(id);
    },
  });

  // Test and debugging hooks.
  window.boxofficeOps = {
    get eventId() { return eventId; },
    get report() { return lastReport; },
    get signedIn() { return !!opsSession.token; },
    get dashboard() { return dashboard?.series ?? null; },
  };

  if (opsSession.token) showMain(); else showLogin();
}
