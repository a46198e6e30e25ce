// The API reference at /docs works with the network off: Chromium resolves
// no host name but the server's address and any request elsewhere is
// aborted and recorded; the page, under the server's Content-Security-Policy
// (no inline script), renders the operations of /openapi.json from the
// vendored Swagger UI alone.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { A, Browser, call, expectStatus, waitUntil } from './support.mjs';

const UI_DEADLINE = 20_000;
// Every host name fails to resolve except 127.0.0.1, where the server is.
const OFFLINE = ['--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'];

const browser = new Browser();
before(() => browser.launch(OFFLINE));
after(() => browser.close());

test('the API reference renders every operation offline, under the CSP', async () => {
  const spec = await expectStatus(call(A, 'GET', '/openapi.json'), 200, 'the OpenAPI document');
  const methods = ['get', 'put', 'post', 'delete', 'patch'];
  const operations = Object.values(spec.paths)
    .reduce((n, ops) => n + Object.keys(ops).filter((m) => methods.includes(m)).length, 0);

  const page = await browser.newPage('docs', UI_DEADLINE);
  const elsewhere = [];
  await page.context().route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(`${A}/`)) return route.continue();
    elsewhere.push(url);
    return route.abort('internetdisconnected');
  });

  await page.addInitScript(() => {
    window.cspViolations = [];
    document.addEventListener('securitypolicyviolation',
      (e) => window.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
  });

  const response = await page.goto(`${A}/docs`);
  assert.equal(response.status(), 200);
  const csp = response.headers()['content-security-policy'];
  assert.match(csp, /script-src 'self';/, `the page is served under the CSP: ${csp}`);

  await waitUntil(page, (n) => document.querySelectorAll('.opblock').length === n, operations, UI_DEADLINE,
    `the reference shows all ${operations} operations`);
  const paths = await page.locator('.opblock-summary-path').allTextContents();
  for (const path of ['/auth/guest', '/bookings/{booking_id}/confirm', '/events/{event_id}/queue']) {
    assert.ok(paths.some((p) => p.replace(/\u200b/g, '') === path), `${path} is listed (${paths.length} paths)`);
  }

  // An operation opens to its parameters and responses.
  await page.locator('.opblock-summary', { hasText: '/auth/guest' }).first().click();
  await waitUntil(page, () => document.querySelectorAll('.opblock.is-open .responses-table').length > 0, null,
    UI_DEADLINE, 'the opened operation lists its responses');

  assert.deepEqual(elsewhere, [], 'the reference asked for nothing beyond the server');
  assert.deepEqual(await page.evaluate(() => window.cspViolations), [], 'nothing the CSP refused');
  assert.deepEqual(browser.errors, [], 'no page error and no CSP violation');
});

test('every page of the web client links to the reference from its footer', async () => {
  const page = await browser.newPage('footer', UI_DEADLINE);
  for (const path of ['/', '/web/event.html', '/web/bookings.html', '/web/door.html']) {
    await page.goto(`${A}${path}`);
    const link = page.locator('footer a[href="/docs"]');
    assert.equal(await link.count(), 1, `${path}: a footer link to /docs`);
  }
});
