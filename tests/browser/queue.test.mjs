// Real-browser end-to-end test of the virtual waiting room and the operator
// panel: Debian's chromium driven by playwright-core, against two boxoffice
// nodes sharing one database and Redis.
//
//   BOXOFFICE_A=http://127.0.0.1:18181 BOXOFFICE_B=http://127.0.0.1:18182 \
//   BOXOFFICE_QUEUE_EVENT_ID=4 BOXOFFICE_ADMIN_EMAIL=... BOXOFFICE_ADMIN_PASSWORD=... \
//   node --test tests/browser/
//
// scripts/browser-test.sh sets all of this up (it creates the operator account
// with a random password per run). The event must be one no other test uses:
// this test switches its waiting room on. Every wait has a deadline.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { A, B, Browser, call, clickSeat, eventually, expectStatus, guest, waitUntil, signIn } from './support.mjs';

const EVENT_ID = Number(process.env.BOXOFFICE_QUEUE_EVENT_ID || 4);
const ADMIN_EMAIL = process.env.BOXOFFICE_ADMIN_EMAIL;
const ADMIN_PASSWORD = process.env.BOXOFFICE_ADMIN_PASSWORD;
const LOAD_DEADLINE = 20_000; // page load + layout + first snapshot
const ADMIT_DEADLINE = 20_000; // join -> admitted at 2 buyers per second
const UI_DEADLINE = 10_000;

const seatsOf = (base) => expectStatus(call(base, 'GET', `/events/${EVENT_ID}/seats`), 200, 'seat snapshot');

// --- Browser helpers ---------------------------------------------------------------

const browser = new Browser();
let adminToken;
const newPage = (label) => browser.newPage(label, LOAD_DEADLINE);

async function openEventPage(base, label) {
  const page = await newPage(label);
  await page.goto(`${base}/web/event.html?event_id=${EVENT_ID}`);
  await waitUntil(page, () => window.boxoffice && window.boxoffice.version !== null && window.boxoffice.connected,
    undefined, LOAD_DEADLINE, `${label}: first snapshot`);
  // Record everything the waiting-room panel shows, as it is shown.
  await page.evaluate(() => {
    const seen = { positions: [], states: [document.getElementById('queue-panel').dataset.state] };
    window.__queueSeen = seen;
    const position = document.getElementById('queue-position');
    const panel = document.getElementById('queue-panel');
    new MutationObserver(() => {
      const text = position.textContent.trim();
      if (!position.closest('[hidden]') && seen.positions.at(-1) !== text) seen.positions.push(text);
      const state = panel.dataset.state;
      if (seen.states.at(-1) !== state) seen.states.push(state);
    }).observe(panel, { subtree: true, childList: true, characterData: true, attributes: true });
  });
  return page;
}

// --- Tests ---------------------------------------------------------------------------

describe('waiting room', { timeout: 100_000 }, () => {
  before(async () => {
    assert.ok(A && B, 'set BOXOFFICE_A and BOXOFFICE_B to the base URLs of two nodes (see scripts/browser-test.sh)');
    assert.ok(ADMIN_EMAIL && ADMIN_PASSWORD, 'set BOXOFFICE_ADMIN_EMAIL and BOXOFFICE_ADMIN_PASSWORD (see scripts/browser-test.sh)');
    adminToken = await signIn(A);
    await browser.launch();
  });

  after(async () => {
    await browser.close();
  });

  test('two guests join through the page, wait their turn and hold seats with their queue tokens', { timeout: 60_000 }, async () => {
    // The operator switches the waiting room on (node A) at 2 buyers a second.
    const report = await expectStatus(call(A, 'PUT', `/admin/events/${EVENT_ID}/queue`, {
      token: adminToken, body: { enabled: true, admission_rate_per_sec: 2 },
    }), 200, 'enable the waiting room');
    assert.equal(report.enabled, true);
    assert.equal(report.admission_rate_per_sec, 2);
    for (const base of [A, B]) {
      await eventually(async () => (await call(base, 'GET', `/events/${EVENT_ID}`)).body?.queue_enabled === true,
        5_000, `${base}: the event shows queue_enabled`, 100);
    }

    // Booking without a queue token is refused.
    const seats = (await seatsOf(A)).seats.filter((s) => s.status === 'AVAILABLE').map((s) => s.seat_id);
    assert.ok(seats.length >= 40, 'available seats');
    const plain = await call(A, 'POST', '/bookings', {
      token: await guest(A), body: { event_id: EVENT_ID, seat_ids: [seats[0]] },
    });
    assert.equal(plain.status, 403, `booking without a queue token: ${JSON.stringify(plain.body)}`);
    assert.equal(plain.body.code, 'queue_token_required');

    // Two fans, on different nodes, each in their own browser context.
    const fans = [['fan-a', A, seats.slice(0, 20)], ['fan-b', B, seats.slice(-20)]];
    const pages = await Promise.all(fans.map(([label, base]) => openEventPage(base, label)));
    const fairness = await expectStatus(call(A, 'GET', `/events/${EVENT_ID}/queue/fairness`), 200, 'fairness');

    await Promise.all(fans.map(async ([label, , candidates], n) => {
      const page = pages[n];
      const panel = page.getByRole('region', { name: 'Waiting room' });
      await panel.waitFor({ state: 'visible', timeout: UI_DEADLINE });
      await waitUntil(page, () => window.boxoffice.queue.state === 'idle', undefined, UI_DEADLINE, `${label}: waiting room offered`);
      await waitUntil(page, (hash) => document.getElementById('fair-hash').textContent === hash,
        fairness.seed_sha256, UI_DEADLINE, `${label}: the seed hash is published`);

      // Before joining, a selected seat cannot be held.
      const seat = await clickSeat(page, candidates, label);
      assert.equal(await page.getByRole('button', { name: 'Hold seats' }).isDisabled(), true, `${label}: hold waits for the turn`);

      // Join: not signed in yet, so the page asks for an email first.
      await page.getByRole('button', { name: 'Join the waiting room' }).click();
      const dialog = page.getByRole('dialog', { name: 'Continue as guest' });
      await dialog.waitFor({ state: 'visible', timeout: UI_DEADLINE });
      await dialog.getByLabel('Email').fill(`${label}-${randomUUID()}@example.com`);
      await dialog.getByRole('button', { name: 'Continue' }).click();

      // A place in line is shown, then the turn comes.
      await waitUntil(page, () => window.boxoffice.queue.state === 'admitted', undefined, ADMIT_DEADLINE, `${label}: admitted`);
      const seen = await page.evaluate(() => window.__queueSeen);
      assert.ok(seen.positions.some((p) => /^#\d+$/.test(p)), `${label}: a position was shown (${JSON.stringify(seen)})`);
      assert.ok(seen.states.indexOf('waiting') >= 0 && seen.states.indexOf('waiting') < seen.states.indexOf('admitted'),
        `${label}: waiting, then admitted (${JSON.stringify(seen.states)})`);
      const turn = await page.locator('#queue-status').textContent();
      assert.match(turn, /It's your turn — you have until \d{1,2}:\d{2}/, `${label}: the turn's end is shown`);
      const stored = await page.evaluate((id) => JSON.parse(localStorage.getItem(`boxoffice.queue.${id}`)), EVENT_ID);
      assert.match(stored?.token ?? '', new RegExp(`^Q1\\.${EVENT_ID}\\.`), `${label}: queue token stored`);
      assert.ok(Date.parse(stored.expires_at) > Date.now(), `${label}: with its expiry`);

      // Hold the selected seat: the request carries the queue token.
      const hold = page.getByRole('button', { name: 'Hold seats' });
      await waitUntil(page, () => !document.getElementById('hold').disabled, undefined, UI_DEADLINE, `${label}: hold enabled`);
      const [request] = await Promise.all([
        page.waitForRequest((r) => r.method() === 'POST' && new URL(r.url()).pathname === '/bookings', { timeout: UI_DEADLINE }),
        hold.click(),
      ]);
      assert.equal(request.headers()['x-queue-token'], stored.token, `${label}: X-Queue-Token sent`);
      const response = await request.response();
      assert.equal(response?.status(), 201, `${label}: hold accepted`);
      await page.locator('#hold-view').waitFor({ state: 'visible', timeout: UI_DEADLINE });
      await waitUntil(page, (id) => window.boxoffice.statusOf(id) === 'RESERVED', seat, 5_000, `${label}: seat shown held`);
    }));

    const final = await expectStatus(call(B, 'GET', `/admin/events/${EVENT_ID}/queue`, { token: adminToken }), 200, 'report');
    assert.ok(final.admitted_total >= 2, `both fans admitted: ${JSON.stringify(final)}`);
    await Promise.all(pages.map((p) => p.context().close()));
  });

  test('a waiter sees the line paused, keeps the place and is let in when admission resumes', { timeout: 40_000 }, async () => {
    // The operator pauses admission (rate 0); the waiting room stays on.
    const paused = await expectStatus(call(A, 'PUT', `/admin/events/${EVENT_ID}/queue`, {
      token: adminToken, body: { enabled: true, admission_rate_per_sec: 0 },
    }), 200, 'pause admission');
    assert.equal(paused.admission_rate_per_sec, 0);
    assert.equal(paused.paused, true);

    const page = await openEventPage(B, 'fan-paused');
    await waitUntil(page, () => window.boxoffice.queue.state === 'idle', undefined, UI_DEADLINE, 'waiting room offered');
    await page.getByRole('button', { name: 'Join the waiting room' }).click();
    const dialog = page.getByRole('dialog', { name: 'Continue as guest' });
    await dialog.waitFor({ state: 'visible', timeout: UI_DEADLINE });
    await dialog.getByLabel('Email').fill(`fan-paused-${randomUUID()}@example.com`);
    await dialog.getByRole('button', { name: 'Continue' }).click();

    // In line, told the line is paused, with no estimate.
    await waitUntil(page, () => window.boxoffice.queue.state === 'waiting' && window.boxoffice.queue.paused === true,
      undefined, UI_DEADLINE, 'the page shows the line paused');
    await page.locator('#queue-paused').waitFor({ state: 'visible', timeout: UI_DEADLINE });
    assert.match(await page.locator('#queue-eta').textContent(), /^Paused/);
    assert.equal((await page.evaluate(() => window.boxoffice.queue)).eta_seconds, null, 'no estimate while paused');
    const place = await page.locator('#queue-position').textContent();
    assert.match(place, /^#\d+$/, 'a place in line is shown');
    // Still paused a moment later: nobody is let in, the place is kept.
    await sleep(1500);
    assert.equal((await page.evaluate(() => window.boxoffice.queue)).state, 'waiting');
    assert.equal(await page.locator('#queue-position').textContent(), place);

    // Resumed (at the rate the next test expects): the turn comes.
    await expectStatus(call(A, 'PUT', `/admin/events/${EVENT_ID}/queue`, {
      token: adminToken, body: { enabled: true, admission_rate_per_sec: 2 },
    }), 200, 'resume admission');
    await waitUntil(page, () => window.boxoffice.queue.state === 'admitted', undefined, ADMIT_DEADLINE, 'admitted after resuming');
    assert.equal(await page.locator('#queue-paused').isHidden(), true, 'the pause notice is gone');
    await page.context().close();
  });

  test('an operator signs in on the panel and changes the admission rate live', { timeout: 40_000 }, async () => {
    const page = await newPage('ops');
    await page.goto(`${B}/`);
    await page.getByRole('link', { name: 'Operators' }).click();
    await page.waitForURL('**/?admin=1', { timeout: UI_DEADLINE });

    const login = page.getByRole('form', { name: 'Operator sign-in' });
    await login.waitFor({ state: 'visible', timeout: UI_DEADLINE });
    await login.getByLabel('Email').fill(ADMIN_EMAIL);
    await login.getByLabel('Password').fill(ADMIN_PASSWORD);
    await login.getByRole('button', { name: 'Sign in' }).click();

    const picker = page.getByRole('combobox', { name: 'Event', exact: true });
    await page.locator(`#ops-event option[value="${EVENT_ID}"]`).waitFor({ state: 'attached', timeout: UI_DEADLINE });
    await picker.selectOption(String(EVENT_ID));
    // The report arrives and keeps refreshing.
    const report = page.locator('#ops-report');
    await waitUntil(page, () => document.getElementById('ops-report').dataset.enabled === 'true', undefined, UI_DEADLINE,
      'the report shows the waiting room on');
    const first = await page.locator('#ops-live').textContent();
    await waitUntil(page, (t) => document.getElementById('ops-live').textContent !== t, first, 5_000, 'the report refreshes');
    assert.equal(await page.getByLabel('Admission rate').inputValue(), '2');
    assert.equal(await page.getByLabel('Waiting room enabled').isChecked(), true);

    await page.getByLabel('Admission rate').fill('5');
    await page.getByRole('button', { name: 'Apply' }).click();
    await waitUntil(page, () => /Saved/.test(document.getElementById('ops-message').textContent), undefined, UI_DEADLINE,
      'the change is saved');
    assert.equal(await report.getAttribute('data-rate'), '5');

    const server = await expectStatus(call(A, 'GET', `/admin/events/${EVENT_ID}/queue`, { token: adminToken }), 200, 'report');
    assert.equal(server.admission_rate_per_sec, 5);
    assert.equal(server.enabled, true);
    // The operator's sign-in left no session cookie behind in this browser.
    const cookies = await page.context().cookies();
    assert.deepEqual(cookies.filter((c) => c.name === 'boxoffice_token'), [], 'no operator cookie');
    await page.context().close();
  });

  test('no page raised an error', () => {
    assert.deepEqual(browser.errors, []);
  });
});
