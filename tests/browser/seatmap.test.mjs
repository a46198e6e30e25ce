// Real-browser end-to-end test of the live seat map: Debian's chromium driven
// by playwright-core, against two boxoffice nodes sharing one database and
// Redis. Changes made through node A must show up on pages served by node B,
// over SSE and over WebSocket alike.
//
//   BOXOFFICE_A=http://127.0.0.1:18181 BOXOFFICE_B=http://127.0.0.1:18182 \
//   BOXOFFICE_EVENT_ID=1 node --test tests/browser/
//
// scripts/browser-test.sh sets all of this up. Every wait has a deadline.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { A, B, Browser, call, clickSeat, eventually, expectStatus, guest, waitUntil } from './support.mjs';

const EVENT_ID = Number(process.env.BOXOFFICE_EVENT_ID || 1);
const SCREENSHOT = process.env.BOXOFFICE_SCREENSHOT
  || fileURLToPath(new URL('../../target/browser/seatmap.png', import.meta.url));
const LIVE_DEADLINE = 5_000; // a change must reach every page within this
const LOAD_DEADLINE = 20_000; // page load + layout + first snapshot

const reserve = (token, seatIds) => expectStatus(
  call(A, 'POST', '/bookings', { token, body: { event_id: EVENT_ID, seat_ids: seatIds } }), 201, 'reserve',
);

const seatsOf = (base) => expectStatus(call(base, 'GET', `/events/${EVENT_ID}/seats`), 200, 'seat snapshot');

// --- Browser helpers ---------------------------------------------------------------

const browser = new Browser();
const newPage = (label) => browser.newPage(label, LOAD_DEADLINE);

const waitForSnapshot = (page, label) => waitUntil(page,
  () => window.boxoffice && window.boxoffice.version !== null && window.boxoffice.connected,
  undefined, LOAD_DEADLINE, `${label} page: first snapshot`);

async function openSeatMap(base, query = '', { page, label } = {}) {
  label ??= query.includes('transport=ws') ? 'ws' : 'sse';
  page ??= await newPage(label);
  await page.goto(`${base}/web/event.html?event_id=${EVENT_ID}${query}`);
  await waitForSnapshot(page, label);
  return page;
}

function waitForStatus(page, seatIds, status, what) {
  return waitUntil(page, ([ids, s]) => ids.every((id) => window.boxoffice.statusOf(id) === s),
    [seatIds, status], LIVE_DEADLINE, `${what}: seats ${seatIds} ${status}`);
}

/** Asserts that the page shows exactly the server's seat map and version. */
async function assertMatchesServer(page, server, label) {
  await waitUntil(page, (v) => window.boxoffice.version === v, server.version, LIVE_DEADLINE,
    `${label}: version ${server.version}`);
  const pairs = server.seats.map((s) => [s.seat_id, s.status]);
  const result = await page.evaluate((all) => {
    const wrong = [];
    for (const [id, status] of all) {
      const shown = window.boxoffice.statusOf(id);
      if (shown !== status) wrong.push({ seat_id: id, server: status, page: shown });
    }
    return { wrong: wrong.slice(0, 10), count: wrong.length, version: window.boxoffice.version,
      counts: window.boxoffice.counts(), canvasVersion: document.getElementById('seatmap').dataset.version };
  }, pairs);
  assert.equal(result.count, 0, `${label}: ${result.count} seats differ from the server, e.g. ${JSON.stringify(result.wrong)}`);
  assert.equal(result.version, server.version, `${label}: version`);
  assert.equal(result.canvasVersion, String(server.version), `${label}: canvas data-version`);
  const expected = { AVAILABLE: 0, RESERVED: 0, CONFIRMED: 0 };
  for (const s of server.seats) expected[s.status]++;
  assert.deepEqual(result.counts, expected, `${label}: counts()`);
}

// --- Tests ---------------------------------------------------------------------------

describe('live seat map', { timeout: 110_000 }, () => {
  before(async () => {
    assert.ok(A && B, 'set BOXOFFICE_A and BOXOFFICE_B to the base URLs of two nodes (see scripts/browser-test.sh)');
    await browser.launch();
  });

  after(async () => {
    await browser.close();
  });

  test('changes made on node A reach SSE and WebSocket pages on node B', { timeout: 60_000 }, async () => {
    const [sse, ws] = await Promise.all([openSeatMap(B), openSeatMap(B, '&transport=ws')]);
    assert.equal(await sse.evaluate(() => window.boxoffice.transport), 'sse');
    assert.equal(await ws.evaluate(() => window.boxoffice.transport), 'ws');

    const initial = await seatsOf(A);
    const seatIds = initial.seats.filter((s) => s.status === 'AVAILABLE').slice(0, 2).map((s) => s.seat_id);
    assert.equal(seatIds.length, 2, 'two available seats');
    const token = await guest(A);
    const pages = [['sse', sse], ['ws', ws]];

    // Reserve on node A: both pages on node B see RESERVED.
    let booking = await reserve(token, seatIds);
    await Promise.all(pages.map(([l, p]) => waitForStatus(p, seatIds, 'RESERVED', `${l} after reserve`)));

    // Release on node A: AVAILABLE again.
    await expectStatus(call(A, 'DELETE', `/bookings/${booking.booking_id}`, { token }), 200, 'release');
    await Promise.all(pages.map(([l, p]) => waitForStatus(p, seatIds, 'AVAILABLE', `${l} after release`)));

    // Reserve and pay on node A: CONFIRMED.
    booking = await reserve(token, seatIds);
    const paid = await expectStatus(call(A, 'POST', `/bookings/${booking.booking_id}/confirm`, {
      token, body: { payment_token: 'tok_visa' }, headers: { 'Idempotency-Key': randomUUID() },
    }), 200, 'confirm');
    assert.ok(paid.confirmation_number, 'a confirmation number');
    await Promise.all(pages.map(([l, p]) => waitForStatus(p, seatIds, 'CONFIRMED', `${l} after confirm`)));

    // Every seat, and the version, as the server has them.
    const server = await seatsOf(A);
    for (const [label, page] of pages) await assertMatchesServer(page, server, label);

    await Promise.all([sse.context().close(), ws.context().close()]);
  });

  test('a fan finds the event, selects a seat on the canvas, holds it as a guest and pays', { timeout: 60_000 }, async () => {
    // From the event list (filtered by the event's title) to its seat map.
    const event = await expectStatus(call(B, 'GET', `/events/${EVENT_ID}`), 200, 'event');
    const page = await newPage('ui');
    await page.goto(`${B}/?q=${encodeURIComponent(event.title)}`);
    const link = page.getByRole('link', { name: event.title, exact: true });
    await link.waitFor({ state: 'visible', timeout: 10_000 });
    assert.equal(await link.getAttribute('href'), `/web/event.html?event_id=${EVENT_ID}`);
    await link.click();
    await page.waitForURL(`**/web/event.html?event_id=${EVENT_ID}`, { timeout: 10_000 });
    await waitForSnapshot(page, 'ui');
    assert.equal(await page.locator('#event-title').textContent(), event.title);

    // An available seat that is drawn inside the viewport, clicked.
    const server = await seatsOf(A);
    const candidates = server.seats.filter((s) => s.status === 'AVAILABLE').slice(100, 400).map((s) => s.seat_id);
    const seat = await clickSeat(page, candidates, 'ui');
    assert.equal(await page.locator('#count-selected').textContent(), '1');

    // Hold: no token yet, so the page asks for an email first.
    await page.getByRole('button', { name: 'Hold seats' }).click();
    const dialog = page.getByRole('dialog', { name: 'Continue as guest' });
    await dialog.waitFor({ state: 'visible', timeout: 5_000 });
    await dialog.getByLabel('Email').fill(`fan-${randomUUID()}@example.com`);
    await dialog.getByRole('button', { name: 'Continue' }).click();
    await page.locator('#hold-view').waitFor({ state: 'visible', timeout: 10_000 });
    await waitForStatus(page, [seat], 'RESERVED', 'held through the UI');
    assert.match(await page.locator('#countdown').textContent(), /^\d\d:\d\d$/);
    assert.ok(await page.evaluate(() => localStorage.getItem('boxoffice.token')), 'token kept in localStorage');

    // Pay with the test card that succeeds.
    await page.getByLabel('Test card').selectOption('tok_visa');
    await page.getByRole('button', { name: 'Pay', exact: true }).click();
    const ticket = page.getByRole('link', { name: 'View your tickets' });
    await ticket.waitFor({ state: 'visible', timeout: 15_000 });
    const href = await ticket.getAttribute('href');
    assert.match(href, /^\/tickets\/\S+$/);
    assert.ok((await page.locator('#confirmation').textContent()).trim(), 'confirmation number shown');
    await waitForStatus(page, [seat], 'CONFIRMED', 'paid through the UI');

    await mkdir(dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    // The ticket link works with the HttpOnly cookie the guest sign-in set.
    const res = await page.goto(B + href);
    assert.equal(res.status(), 200, 'ticket page');
    await page.context().close();
  });

  test('a WebSocket page ignores stale deltas and resyncs on a gap', { timeout: 40_000 }, async () => {
    // The page talks to node A through a man in the middle that forwards
    // everything and lets the test slip forged deltas into the first connection.
    const page = await newPage('ws-gap');
    const urls = [];
    let first = null; // { ws, version } of the first connection, once its snapshot passed
    await page.routeWebSocket(/\/seats\/ws/, (ws) => {
      urls.push(ws.url());
      const server = ws.connectToServer();
      if (urls.length > 1) return; // later connections: plain forwarding
      server.onMessage((message) => {
        ws.send(message);
        const msg = JSON.parse(message);
        if (msg.type === 'snapshot' && !first) first = { ws, version: msg.version };
      });
      ws.onMessage((message) => server.send(message));
    });
    const available = (await seatsOf(A)).seats.filter((s) => s.status === 'AVAILABLE');
    const [x, y] = [available[0].seat_id, available[1].seat_id];
    await openSeatMap(A, '&transport=ws', { page, label: 'ws-gap' });
    await eventually(() => first, LOAD_DEADLINE, 'the first snapshot through the proxy', 25);
    const v = first.version;
    const delta = (version, from, seat, status) => JSON.stringify(
      { type: 'delta', event_id: EVENT_ID, version, from_version: from, changes: [{ seat_id: seat, status }] });

    // A delta the snapshot already covers is ignored; the next one is applied.
    first.ws.send(delta(v, v, x, 'CONFIRMED'));
    first.ws.send(delta(v + 1, v + 1, y, 'RESERVED'));
    await waitUntil(page, (want) => window.boxoffice.version === want, v + 1, LIVE_DEADLINE, 'the in-order delta applied');
    assert.equal(await page.evaluate((id) => window.boxoffice.statusOf(id), x), 'AVAILABLE', 'stale delta ignored');
    assert.equal(await page.evaluate((id) => window.boxoffice.statusOf(id), y), 'RESERVED', 'next delta applied');

    // A delta after missing versions is not applied: the page reconnects for a fresh snapshot.
    first.ws.send(delta(v + 7, v + 5, x, 'CONFIRMED'));
    await eventually(() => urls.length >= 2, LIVE_DEADLINE, () => `a reconnect after the gap (connections: ${urls.length})`, 25);
    assert.ok(!urls[1].includes('last_event_id'), `a resync asks for a fresh snapshot: ${urls[1]}`);
    await waitForSnapshot(page, 'ws-gap');
    await assertMatchesServer(page, await seatsOf(A), 'ws-gap after resync'); // x and y AVAILABLE again
    await page.context().close();
  });

  test('no page raised an error', () => {
    assert.deepEqual(browser.errors, []);
  });
});
