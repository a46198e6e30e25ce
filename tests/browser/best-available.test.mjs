// Real-browser test of price zones and best available on the demo arena (a
// bowl of 20,000+ seats around a stage, three price zones): a fan asks for
// "2 seats in Lower bowl", gets two adjacent seats in one row held, sees each
// seat's price and pays. Also measures the map's full-redraw time at the
// arena's size and at a 50,000-seat venue (frame times printed, and bounded).
//
// scripts/browser-test.sh sets BOXOFFICE_A/B; BOXOFFICE_ZONED_EVENT_ID names
// a demo arena event no other test books from (default 3, "Swan Lake").

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { A, Browser, call, expectStatus, waitUntil, signIn } from './support.mjs';

const EVENT_ID = Number(process.env.BOXOFFICE_ZONED_EVENT_ID || 3);
const LOAD_DEADLINE = 30_000;
const SCREENSHOT = fileURLToPath(new URL('../../target/browser/best-available.png', import.meta.url));

const browser = new Browser();

const waitForSnapshot = (page, label) => waitUntil(page,
  () => window.boxoffice && window.boxoffice.version !== null && window.boxoffice.connected,
  undefined, LOAD_DEADLINE, `${label} page: first snapshot`);

/** Full redraws of the open map: median and worst of `n`, in ms. */
async function drawTimes(page, n) {
  return page.evaluate((count) => {
    const times = [];
    for (let k = 0; k < count; k++) {
      window.boxoffice.zoomBy(k % 2 ? 0.8 : 1.25);
      times.push(window.boxoffice.drawNow());
    }
    times.sort((a, b) => a - b);
    return { median: times[Math.floor(times.length / 2)], worst: times[times.length - 1] };
  }, n);
}

describe('price zones and best available', { timeout: 150_000 }, () => {
  before(async () => {
    assert.ok(A, 'set BOXOFFICE_A (see scripts/browser-test.sh)');
    await browser.launch();
  });
  after(() => browser.close());

  test('a fan asks for two seats in a zone, gets them side by side with their prices, and pays', { timeout: 90_000 }, async () => {
    const event = await expectStatus(call(A, 'GET', `/events/${EVENT_ID}`), 200, 'event');
    const lower = event.zones.find((z) => z.name === 'Lower bowl');
    assert.ok(lower, `the demo arena event has a Lower bowl zone: ${JSON.stringify(event.zones)}`);
    const page = await browser.newPage('best', LOAD_DEADLINE);
    await page.goto(`${A}/web/event.html?event_id=${EVENT_ID}`);
    await waitForSnapshot(page, 'best');

    // The zones are on the page: a legend entry each, the price filter, the zone choice.
    assert.equal(await page.locator('#zone-legend li').count(), event.zones.length);
    assert.ok(await page.locator('#price-filter option').count() >= 3, 'price filter choices');
    await page.locator('#price-filter').selectOption(String(lower.price_cents));
    await page.locator('#price-filter').selectOption('');

    // "Find me 2 seats in Lower bowl", as a guest.
    await page.getByLabel('Find me').fill('2');
    await page.locator('#best-zone').selectOption('Lower bowl');
    await page.getByRole('button', { name: 'Find seats' }).click();
    const dialog = page.getByRole('dialog', { name: 'Continue as guest' });
    await dialog.waitFor({ state: 'visible', timeout: 5_000 });
    await dialog.getByLabel('Email').fill(`fan-${randomUUID()}@example.com`);
    await dialog.getByRole('button', { name: 'Continue' }).click();
    await page.locator('#hold-view').waitFor({ state: 'visible', timeout: 15_000 });

    const hold = await page.evaluate(() => window.boxoffice.booking);
    assert.equal(hold.seat_ids.length, 2);
    assert.equal(hold.amount_cents, 2 * lower.price_cents, 'the hold costs two Lower bowl seats');
    const seats = (await expectStatus(call(A, 'GET', `/events/${EVENT_ID}/seats`), 200, 'seats')).seats;
    const held = hold.seat_ids.map((id) => seats.find((s) => s.seat_id === id));
    assert.ok(held.every((s) => s.zone === 'Lower bowl' && s.status === 'RESERVED'), JSON.stringify(held));
    assert.equal(held[0].section, held[1].section);
    assert.equal(held[0].row, held[1].row);
    assert.equal(Math.abs(held[0].number - held[1].number), 1, 'side by side');
    // The hold summary lists each seat with its price.
    const items = await page.locator('#held-list li').allTextContents();
    assert.equal(items.length, 2);
    for (const text of items) assert.ok(text.includes((lower.price_cents / 100).toFixed(2)), `price shown: ${text}`);
    await waitUntil(page, (ids) => ids.every((id) => window.boxoffice.statusOf(id) === 'RESERVED'),
      hold.seat_ids, 5_000, 'the map shows the hold');

    await mkdir(dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    await page.getByLabel('Test card').selectOption('tok_visa');
    await page.getByRole('button', { name: 'Pay', exact: true }).click();
    await page.getByRole('link', { name: 'View your tickets' }).waitFor({ state: 'visible', timeout: 15_000 });
    await waitUntil(page, (ids) => ids.every((id) => window.boxoffice.statusOf(id) === 'CONFIRMED'),
      hold.seat_ids, 5_000, 'the map shows the sale');

    const arena = await drawTimes(page, 20);
    console.log(`# full redraw, ${seats.length} seats: median ${arena.median.toFixed(1)} ms, worst ${arena.worst.toFixed(1)} ms`);
    await page.context().close();
  });

  test('the map of a 50,000-seat bowl redraws within a frame budget', { timeout: 90_000 }, async () => {
    // An operator's 50,000-seat venue: 40 arc sections of 50 rows of 25.
    const admin = await signIn(A);
    const sections = Array.from({ length: 40 }, (_, s) => ({
      name: `S${s + 1}`,
      rows: Array.from({ length: 50 }, (_, r) => ({ name: `${r + 1}`, seats: 25 })),
      shape: { type: 'arc', cx: 0, cy: 0, radius: 60 + (s % 2) * 70, angle: (s >> 1) * 18, seat_spacing: 1, row_spacing: 1.2 },
    }));
    const venue = await expectStatus(call(A, 'POST', '/admin/venues', {
      token: admin,
      body: { name: 'Mega Bowl', city: 'Oslo', layout: { stage: { x: 0, y: 0, width: 30, height: 30 }, sections } },
    }), 201, 'venue');
    assert.equal(venue.seat_count, 50_000);
    const event = await expectStatus(call(A, 'POST', '/admin/events', {
      token: admin,
      body: { title: 'Mega Show', venue_id: venue.venue_id, category: 'concert', start_time: '2031-01-01T19:00:00Z', price_cents: 5000 },
    }), 201, 'event');
    const page = await browser.newPage('mega', LOAD_DEADLINE);
    await page.goto(`${A}/web/event.html?event_id=${event.event_id}`);
    await waitForSnapshot(page, 'mega');
    await waitUntil(page, () => window.boxoffice.counts().AVAILABLE === 50000, undefined, 10_000, 'all seats shown');
    const times = await drawTimes(page, 20);
    console.log(`# full redraw, 50,000 seats: median ${times.median.toFixed(1)} ms, worst ${times.worst.toFixed(1)} ms`);
    // Measured 6.9 ms median (headless Chromium, software rendering, a
    // shared 2-core machine); a redraw over 33 ms would drop below 30 fps.
    assert.ok(times.median < 33, `median full redraw ${times.median} ms`);
    await page.context().close();
  });

  test('no page raised an error', () => {
    assert.deepEqual(browser.errors, []);
  });
});
