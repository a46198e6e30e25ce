// Real-browser tests of the accessible seat map: seats chosen with the
// keyboard alone (arrow keys, Space), what the screen-reader region says
// (selection, hold succeeded, hold failed), and the page at phone width.
// The test makes its own small venue and event, so no other test's seats
// are touched.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { A, Browser, call, eventually, expectStatus, guest, waitUntil, signIn } from './support.mjs';

const ADMIN_EMAIL = process.env.BOXOFFICE_ADMIN_EMAIL;
const ADMIN_PASSWORD = process.env.BOXOFFICE_ADMIN_PASSWORD;
const OUT = fileURLToPath(new URL('../../target/browser/', import.meta.url));
const UI_DEADLINE = 20_000;

const browser = new Browser();

/** A two-section venue (2 rows × 4 seats each) and an event on sale: {eventId, seats}. */
async function smallEvent(admin) {
  const venue = await expectStatus(call(A, 'POST', '/admin/venues', {
    token: admin,
    body: {
      name: `Keys ${randomUUID().slice(0, 8)}`, city: 'Tromsø',
      layout: { sections: ['A', 'B'].map((name) => ({ name, rows: [{ name: '1', seats: 4 }, { name: '2', seats: 4 }] })) },
    },
  }), 201, 'venue');
  const event = await expectStatus(call(A, 'POST', '/admin/events', {
    token: admin,
    body: { title: 'Keyboard night', venue_id: venue.venue_id, category: 'concert', start_time: '2031-05-01T19:00:00Z', price_cents: 2500 },
  }), 201, 'event');
  const map = await expectStatus(call(A, 'GET', `/events/${event.event_id}/seats`), 200, 'seats');
  return { eventId: event.event_id, seats: map.seats };
}

const said = (page, pattern, what) => waitUntil(page, (p) => new RegExp(p).test(window.boxoffice.announced), pattern.source,
  UI_DEADLINE, `announced: ${what}`);

describe('accessible seat map', { timeout: 120_000 }, () => {
  let admin;
  before(async () => {
    assert.ok(A && ADMIN_EMAIL && ADMIN_PASSWORD, 'set BOXOFFICE_A and the operator (see scripts/browser-test.sh)');
    await mkdir(OUT, { recursive: true });
    await browser.launch();
    admin = await signIn(A);
  });
  after(async () => {
    await browser.close();
    // The one hold refused on purpose (the sale closed) is logged by Chromium.
    const unexpected = browser.errors.filter((e) => !/status of 409 \(Conflict\) \(http:\/\/[^)]+\/bookings\)$/.test(e));
    assert.deepEqual(unexpected, [], 'no page errors');
  });

  test('a fan selects seats with the keyboard and hears the selection and the hold', { timeout: 60_000 }, async () => {
    const { eventId, seats } = await smallEvent(admin);
    const page = await browser.newPage('keyboard', UI_DEADLINE);
    await page.goto(`${A}/web/event.html?event_id=${eventId}`);
    await waitUntil(page, () => window.boxoffice?.connected && window.boxoffice.counts().AVAILABLE === 16, undefined, UI_DEADLINE,
      'the map is live');

    // Focus lands on the first available seat; arrows move, Space selects.
    await page.locator('#seatmap').focus();
    await said(page, /^Seat A-1-1, available\.$/, 'the first seat on focus');
    await page.keyboard.press('ArrowRight');
    await said(page, /^Seat A-1-2, available\.$/, 'the next seat');
    await page.keyboard.press('Space');
    await said(page, /^Seat A-1-2 selected\. 1 seat selected\.$/, 'the selection');
    await page.keyboard.press('ArrowDown');
    await said(page, /^Seat A-2-2, available\.$/, 'the seat below');
    await page.keyboard.press('Space');
    await said(page, /^Seat A-2-2 selected\. 2 seats selected\.$/, 'the second selection');
    await page.keyboard.press('Space');
    await said(page, /^Seat A-2-2 deselected\. 1 seat selected\.$/, 'a deselection');
    const wanted = seats.find((s) => s.section === 'A' && s.row === '1' && s.number === 2).seat_id;
    assert.deepEqual(await page.evaluate(() => window.boxoffice.selected), [wanted]);

    // The sale closes before the hold is sent: the hold fails, and says why.
    const rival = await guest(A);
    const rivalHold = (seat) => call(A, 'POST', '/bookings', { token: rival, body: { event_id: eventId, seat_ids: [seat] } });
    const spare = seats.find((s) => s.section === 'B' && s.row === '2' && s.number === 4).seat_id;
    await expectStatus(call(A, 'PATCH', `/admin/events/${eventId}`, { token: admin, body: { status: 'SCHEDULED' } }), 200, 'close');
    const notOnSale = async () => (await rivalHold(spare)).body?.code === 'event_not_on_sale';
    await eventually(notOnSale, 5_000, 'the node sees the sale closed');
    await page.getByRole('button', { name: 'Hold seats' }).focus();
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog', { name: 'Continue as guest' });
    await dialog.waitFor({ state: 'visible', timeout: 5_000 });
    await dialog.getByLabel('Email').fill(`keys-${randomUUID()}@example.com`);
    await dialog.getByLabel('Email').press('Enter');
    await said(page, /^Hold failed: The event is SCHEDULED\.$/, 'the failed hold');

    // Open again: the same seat, held, and said.
    await expectStatus(call(A, 'PATCH', `/admin/events/${eventId}`, { token: admin, body: { status: 'ON_SALE' } }), 200, 'open');
    await eventually(async () => !(await notOnSale()), 5_000, 'the node sees the sale open');
    await page.getByRole('button', { name: 'Hold seats' }).focus();
    await page.keyboard.press('Enter');
    await said(page, /^Hold succeeded: seat A-1-2 is yours for (9|10) minutes\./, 'the hold');
    assert.equal(await page.evaluate((id) => window.boxoffice.statusOf(id), wanted), 'RESERVED');
    await page.context().close();
  });

  test('the event page and the operator panel fit a phone screen', { timeout: 40_000 }, async () => {
    const { eventId } = await smallEvent(admin);
    const page = await browser.newPage('phone', UI_DEADLINE);
    await page.setViewportSize({ width: 375, height: 740 });
    await page.goto(`${A}/web/event.html?event_id=${eventId}`);
    await waitUntil(page, () => window.boxoffice?.connected, undefined, UI_DEADLINE, 'the map is live');
    const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(await overflow() <= 0, `the event page is no wider than the phone (${await overflow()} px over)`);
    const canvas = await page.locator('#seatmap').boundingBox();
    assert.ok(canvas.width <= 375 && canvas.width > 250, `the map uses the width (${canvas.width})`);
    await page.screenshot({ path: `${OUT}phone-event.png`, fullPage: true });
    await page.goto(`${A}/?admin=1`);
    await page.getByRole('form', { name: 'Operator sign-in' }).waitFor({ state: 'visible', timeout: UI_DEADLINE });
    assert.ok(await overflow() <= 0, `the operator sign-in is no wider than the phone (${await overflow()} px over)`);
    await page.context().close();
  });
});
