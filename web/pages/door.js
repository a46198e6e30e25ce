// door.html: check tickets in at the venue. Door staff (or an operator) sign
// in, pick the event, then scan a ticket's QR code with the camera or type
// its code. The answer fills the screen: green VALID, amber ALREADY USED
// (with the first scan's time), red REFUNDED / FORGED / WRONG EVENT.
// While the server is out of reach, scans are queued in localStorage
// (they survive a reload) and sent, oldest first, as soon as it answers again.
// The door token lives in this device's localStorage and is sent as a bearer
// token with credentials omitted, so it never touches a buyer's cookie.

import { ApiError, api, errorText } from '../lib/api.js';
import { el } from '../lib/dom.js';
import { formatClock, formatDate } from '../lib/format.js';
import { tokenClaims } from '../lib/session.js';
import { startScanner } from '../door/camera.js';
import { ScanQueue, cleanCode, verdict } from '../door/verdict.js';

const TOKEN_KEY = 'boxoffice.door.token';
const EMAIL_KEY = 'boxoffice.door.email';
const EVENT_KEY = 'boxoffice.door.event';
const RETRY_EVERY = 5000;
const HISTORY = 20;

const $ = (id) => document.getElementById(id);
const doorSession = {
  get token() { return localStorage.getItem(TOKEN_KEY); },
  get email() { return localStorage.getItem(EMAIL_KEY); },
  save(token, email) { localStorage.setItem(TOKEN_KEY, token); localStorage.setItem(EMAIL_KEY, email); },
  clear() { localStorage.removeItem(TOKEN_KEY); },
};
const queue = new ScanQueue(localStorage);
let eventId = Number(new URLSearchParams(location.search).get('event_id') || localStorage.getItem(EVENT_KEY)) || null;
let stopCamera = null;
let last = null;
let flushing = false;

/** POST the check-in; {status, body} whatever happens (status 0: unreachable). */
async function send(entry) {
  try {
    const body = await api(`/admin/events/${entry.event_id}/checkin`, {
      method: 'POST', body: { ticket_code: entry.code }, token: doorSession.token, credentials: 'omit',
    });
    return { status: 200, body };
  } catch (e) {
    if (e instanceof ApiError) return { status: e.status, body: e.problem };
    throw e;
  }
}

function setNet(online) {
  $('door-net').dataset.state = online ? 'live' : 'offline';
  $('door-net').textContent = online ? 'Online' : 'Offline: scans are queued';
}

function showQueued() { $('door-queued').textContent = String(queue.size); }

function show(v, code, { queued = false } = {}) {
  last = { ...v, code };
  const box = $('door-verdict');
  box.dataset.kind = v.kind;
  $('door-verdict-title').textContent = v.title;
  $('door-verdict-detail').textContent = v.kind === 'used' && v.at
    ? `First scanned at ${formatClock(v.at)} (${formatDate(v.at)}).`
    : v.detail;
  const item = el('li', { class: `scan scan-${v.kind}` },
    el('strong', {}, v.title), ' ',
    el('span', { class: 'muted' }, `${queued ? 'sent from the queue · ' : ''}${new Date().toLocaleTimeString()} · …${code.slice(-12)}`));
  $('door-history').prepend(item);
  while ($('door-history').children.length > HISTORY) $('door-history').lastChild.remove();
}

async function check(text) {
  const code = cleanCode(text);
  if (!code) return;
  if (!eventId) { show({ kind: 'error', title: 'NO EVENT', detail: 'Choose the event first.' }, code); return; }
  let answer;
  try {
    answer = await send({ event_id: eventId, code });
  } catch {
    answer = { status: 0, body: null };
  }
  const v = verdict(answer.status, answer.body);
  if (v.kind === 'queued') {
    queue.add(eventId, code);
    setNet(false);
  } else {
    setNet(true);
    if (answer.status === 401) { signedOut('Your session expired. Sign in again.'); }
  }
  show(v, code);
  showQueued();
  if (v.kind !== 'queued') flush();
}

async function flush() {
  if (flushing || !queue.size || !doorSession.token) return;
  flushing = true;
  try {
    await queue.flush(send, (entry, v) => { setNet(true); show(v, entry.code, { queued: true }); });
    if (queue.size) setNet(false);
  } finally {
    flushing = false;
    showQueued();
  }
}

async function loadEvents() {
  const select = $('door-event');
  try {
    const res = await api('/events?limit=100');
    select.replaceChildren(el('option', { value: '' }, 'Choose an event…'),
      ...res.events.map((ev) => el('option', { value: String(ev.event_id) }, `${ev.title} · ${formatDate(ev.start_time)}`)));
    if (eventId && !res.events.some((ev) => ev.event_id === eventId)) {
      select.append(el('option', { value: String(eventId) }, `Event #${eventId}`));
    }
  } catch {
    // Offline at start: keep the remembered event so scans can still be queued.
    select.replaceChildren(el('option', { value: eventId ? String(eventId) : '' }, eventId ? `Event #${eventId}` : 'Offline'));
  }
  select.value = eventId ? String(eventId) : '';
}

function signedOut(text = '') {
  doorSession.clear();
  stopCamera?.();
  stopCamera = null;
  $('door-main').hidden = true;
  $('door-login').hidden = false;
  $('door-email').value = doorSession.email ?? '';
  $('door-login-error').textContent = text;
}

async function signedIn() {
  $('door-login').hidden = true;
  $('door-main').hidden = false;
  $('door-who').textContent = doorSession.email ?? 'door staff';
  await loadEvents();
  showQueued();
  flush();
  $('door-code').focus();
}

$('door-login').addEventListener('submit', async (e) => {
  e.preventDefault();
  const email = $('door-email').value.trim();
  $('door-login-submit').disabled = true;
  $('door-login-error').textContent = '';
  try {
    const res = await api('/auth/login', { method: 'POST', body: { email, password: $('door-password').value }, credentials: 'omit' });
    const role = res.role ?? tokenClaims(res.token)?.role;
    if (role !== 'door' && role !== 'admin') { $('door-login-error').textContent = 'This account cannot check tickets in.'; return; }
    doorSession.save(res.token, email);
    $('door-password').value = '';
    signedIn();
  } catch (err) {
    $('door-login-error').textContent = errorText(err);
  } finally {
    $('door-login-submit').disabled = false;
  }
});
$('door-logout').addEventListener('click', () => signedOut('Signed out.'));
$('door-event').addEventListener('change', (e) => {
  eventId = Number(e.target.value) || null;
  if (eventId) localStorage.setItem(EVENT_KEY, String(eventId)); else localStorage.removeItem(EVENT_KEY);
});
$('door-manual').addEventListener('submit', async (e) => {
  e.preventDefault();
  const input = $('door-code');
  const code = input.value;
  input.value = '';
  await check(code);
  input.focus();
});
$('door-camera').addEventListener('click', async () => {
  if (stopCamera) {
    stopCamera();
    stopCamera = null;
    $('door-camera').textContent = 'Start camera';
    return;
  }
  if (!navigator.mediaDevices?.getUserMedia) {
    $('door-camera-note').textContent = 'This browser has no camera access here (it needs HTTPS): type the code instead.';
    return;
  }
  try {
    stopCamera = await startScanner($('door-video'), (code) => check(code), {
      onDecoder: (name) => { $('door-camera-note').textContent = `Reading QR codes with ${name}.`; },
    });
    $('door-camera').textContent = 'Stop camera';
  } catch (err) {
    $('door-camera-note').textContent = `No camera: ${err.message}. Type the code instead.`;
  }
});
window.addEventListener('online', flush);
setInterval(flush, RETRY_EVERY);

// Test and debugging hooks.
window.boxofficeDoor = {
  get last() { return last; },
  get queued() { return queue.size; },
  check,
  flush,
};

if (doorSession.token) signedIn(); else signedOut();
