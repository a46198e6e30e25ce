// Real-browser tests of the operator console: create a venue and an event in
// the panel, watch the event's live dashboard move as fans hold and pay,
// pause and resume admission, and open a sale that was not on sale yet.
// Each test makes its own venue and events, so no other test's seats are touched.
//
// scripts/browser-test.sh sets the environment (BOXOFFICE_A/B, the operator).
// BOXOFFICE_DASHBOARD_SCREENSHOT names where the dashboard's picture goes
// (default target/browser/dashboard.png; the README's is docs/dashboard.png).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { A, Browser, call, eventually, expectStatus, guest, waitUntil, signIn } from './support.mjs';

const ADMIN_EMAIL = process.env.BOXOFFICE_ADMIN_EMAIL;
const ADMIN_PASSWORD = process.env.BOXOFFICE_ADMIN_PASSWORD;
const OUT = fileURLToPath(new URL('../../target/browser/', import.meta.url));
const SCREENSHOT = process.env.BOXOFFICE_DASHBOARD_SCREENSHOT || `${OUT}dashboard.png`;
const UI_DEADLINE = 20_000;
const LIVE_DEADLINE = 8_000;

const browser = new Browser();

/** The operator panel, signed in. */
async function signedInPanel(label) {
  const page = await browser.newPage(label, UI_DEADLINE);
  await page.goto(`${A}/?admin=1`);
  const login = page.getByRole('form', { name: 'Operator sign-in' });
  await login.waitFor({ state: 'visible', timeout: UI_DEADLINE });
  await login.getByLabel('Email').fill(ADMIN_EMAIL);
  await login.getByLabel('Password').fill(ADMIN_PASSWORD);
  await login.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#ops-main').waitFor({ state: 'visible', timeout: UI_DEADLINE });
  return page;
}

/** Creates a venue and an event through the Manage forms; the new event's id. */
async function createInPanel(page, { title, onSale }) {
  await page.locator('#ops-venue-name').fill(`Hall ${randomUUID().slice(0, 8)}`);
  await page.locator('#ops-venue-city').fill('Bergen');
  await page.getByLabel(/^Sections, one a line/).fill('Floor: 2 x 5\nBalcony: 2 x 5');
  await page.getByRole('button', { name: 'Create venue' }).click();
  await waitUntil(page, () => /created with 20 seats/.test(document.getElementById('ops-venue-message').textContent),
    undefined, UI_DEADLINE, 'the venue is created');
  await page.getByLabel('Title', { exact: true }).fill(title);
  await page.getByLabel(/^Starts/).fill('2031-06-01T20:00');
  await page.getByLabel('Price of seats in no zone').fill('40');
  await page.locator('#ops-new-onsale').setChecked(onSale);
  await page.getByRole('button', { name: 'Create event' }).click();
  await waitUntil(page, () => /^Event #\d+ created/.test(document.getElementById('ops-new-event-message').textContent),
    undefined, UI_DEADLINE, 'the event is created');
  const id = Number(/#(\d+)/.exec(await page.locator('#ops-new-event-message').textContent())[1]);
  await waitUntil(page, (e) => window.boxofficeOps.eventId === e, id, UI_DEADLINE, 'the new event is selected');
  return id;
}

/** A zone row's counts as the page shows them. */
const zoneCounts = (page) => page.evaluate(() => {
  const row = document.querySelector('#ops-zones .zone-row');
  return row && { zone: row.dataset.zone, sold: +row.dataset.sold, held: +row.dataset.held, available: +row.dataset.available };
});

/** The largest value a chart has plotted so far. */
const plottedMax = (page, key) => page.evaluate((k) => Math.max(0, ...window.boxofficeOps.dashboard.values(k).map((p) => p.v)), key);

describe('operator console', { timeout: 150_000 }, () => {
  let admin;
  before(async () => {
    assert.ok(A && ADMIN_EMAIL && ADMIN_PASSWORD, 'set BOXOFFICE_A and the operator (see scripts/browser-test.sh)');
    await mkdir(OUT, { recursive: true });
    await browser.launch();
    admin = await signIn(A);
  });
  after(async () => {
    await browser.close();
    assert.deepEqual(browser.errors, [], 'no page errors');
  });

  test('the dashboard moves live as fans hold and pay, and admission pauses and resumes from the panel', { timeout: 90_000 }, async () => {
    const page = await signedInPanel('dashboard');
    const eventId = await createInPanel(page, { title: 'Dashboard night', onSale: true });
    await waitUntil(page, () => document.getElementById('ops-dash-live').dataset.state === 'live', undefined, UI_DEADLINE,
      'the dashboard is live');
    assert.deepEqual(await zoneCounts(page), { zone: 'Whole event', sold: 0, held: 0, available: 20 });

    // Fans hold seats a second or so apart, and one pays.
    const map = await expectStatus(call(A, 'GET', `/events/${eventId}/seats`), 200, 'seats');
    const seats = map.seats.map((s) => s.seat_id);
    const fan = await guest(A);
    const holds = [];
    for (const seat of seats.slice(0, 4)) {
      holds.push(await expectStatus(call(A, 'POST', '/bookings', { token: fan, body: { event_id: eventId, seat_ids: [seat] } }), 201, 'hold'));
      await sleep(700);
    }
    await expectStatus(call(A, 'POST', `/bookings/${holds[0].booking_id}/confirm`, {
      token: fan, body: { payment_token: 'tok_visa' }, headers: { 'Idempotency-Key': randomUUID() },
    }), 200, 'pay');
    await waitUntil(page, () => {
      const row = document.querySelector('#ops-zones .zone-row');
      return row && row.dataset.sold === '1' && row.dataset.held === '3' && row.dataset.available === '16';
    }, undefined, LIVE_DEADLINE, 'the seats by zone follow the holds and the sale');
    await waitUntil(page, () => Number(document.querySelector('[data-metric="revenue_cents"]').dataset.value) === 4000,
      undefined, LIVE_DEADLINE, 'the revenue shows the sale');
    assert.ok(await plottedMax(page, 'holds_per_sec') > 0, 'holds per second were plotted');
    assert.ok(await plottedMax(page, 'sales_per_sec') > 0, 'sales per second were plotted');

    // Pause and resume admission from the panel.
    await page.getByLabel('Waiting room enabled').setChecked(true);
    await page.getByLabel('Admission rate').fill('2');
    await page.getByRole('button', { name: 'Apply' }).click();
    await waitUntil(page, () => document.getElementById('ops-report').dataset.rate === '2', undefined, UI_DEADLINE, 'rate 2 saved');
    await page.getByRole('button', { name: 'Pause admission' }).click();
    await waitUntil(page, () => document.getElementById('ops-report').dataset.rate === '0', undefined, UI_DEADLINE, 'paused');
    assert.equal((await expectStatus(call(A, 'GET', `/admin/events/${eventId}/queue`, { token: admin }), 200, 'report')).paused, true);
    // The admitting node picks a rate change up within a second: until a
    // waiter reads `paused` (which that node writes), it may still admit at 2/s.
    const probe = await guest(A);
    await expectStatus(call(A, 'POST', `/events/${eventId}/queue`, { token: probe }), 201, 'probe join');
    const pauseDeadline = Date.now() + LIVE_DEADLINE;
    let standing;
    for (;;) {
      standing = await expectStatus(call(A, 'GET', `/events/${eventId}/queue`, { token: probe }), 200, 'probe standing');
      if (standing.paused === true || standing.admitted) break;
      assert.ok(Date.now() < pauseDeadline, `the admitting node did not pause within ${LIVE_DEADLINE} ms`);
      await sleep(100);
    }
    for (let i = 0; i < 4; i++) {
      await expectStatus(call(A, 'POST', `/events/${eventId}/queue`, { token: await guest(A) }), 201, 'join');
    }
    const waiting = standing.admitted ? 4 : 5;
    await waitUntil(page, (n) => document.querySelector('[data-metric="waiting"]').dataset.value === String(n), waiting, LIVE_DEADLINE,
      `the dashboard shows ${waiting} waiting while paused`);
    await page.getByRole('button', { name: 'Resume admission' }).click();
    await waitUntil(page, () => document.getElementById('ops-report').dataset.rate === '2', undefined, UI_DEADLINE,
      'resumed at the rate before the pause');
    await waitUntil(page, () => document.querySelector('[data-metric="waiting"]').dataset.value === '0', undefined, 15_000,
      'the waiters are admitted after the resume');
    await waitUntil(page, () => Math.max(0, ...window.boxofficeOps.dashboard.values('admitted_per_sec').map((p) => p.v)) > 0,
      undefined, LIVE_DEADLINE, 'admissions per second were plotted');
    const report = await expectStatus(call(A, 'GET', `/admin/events/${eventId}/queue`, { token: admin }), 200, 'report');
    assert.equal(report.admission_rate_per_sec, 2);
    assert.equal(report.admitted_total, 5);

    await sleep(1500); // one more point on every chart for the picture
    await page.locator('#ops-dashboard').screenshot({ path: SCREENSHOT });
    await page.context().close();
  });

  test('an event created not on sale opens from the panel', { timeout: 40_000 }, async () => {
    const page = await signedInPanel('open sale');
    const eventId = await createInPanel(page, { title: 'Opening night', onSale: false });
    assert.equal((await expectStatus(call(A, 'GET', `/events/${eventId}`), 200, 'event')).status, 'SCHEDULED');
    const map = await expectStatus(call(A, 'GET', `/events/${eventId}/seats`), 200, 'seats');
    const fan = await guest(A);
    const early = await call(A, 'POST', '/bookings', { token: fan, body: { event_id: eventId, seat_ids: [map.seats[0].seat_id] } });
    assert.equal(early.status, 409, JSON.stringify(early.body));

    await page.getByRole('button', { name: 'Open the sale now' }).click();
    await waitUntil(page, () => /The sale is open/.test(document.getElementById('ops-message').textContent), undefined, UI_DEADLINE,
      'the operator is told the sale is open');
    assert.equal((await expectStatus(call(A, 'GET', `/events/${eventId}`), 200, 'event')).status, 'ON_SALE');
    // Every node's event gate re-reads the status within a second.
    await eventually(async () => (await call(A, 'POST', '/bookings', {
      token: fan, body: { event_id: eventId, seat_ids: [map.seats[0].seat_id] },
    })).status === 201, 5_000, 'a hold once the sale is open');
    await page.context().close();
  });
});
