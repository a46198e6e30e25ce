// Shared helpers of the browser tests: the Chromium launch, plain-fetch API
// calls, pages that record their errors, and waits with deadlines.
// scripts/browser-test.sh sets the environment (BOXOFFICE_A, BOXOFFICE_B…).

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium } from 'playwright-core';

/** Base URLs of the two nodes under test. */
export const A = process.env.BOXOFFICE_A;
export const B = process.env.BOXOFFICE_B;

const LAUNCH = {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  timeout: 30_000,
};

// --- HTTP helpers (plain fetch, no browser) -------------------------------------

/** One API call; answers {status, body} (body parsed when JSON). */
export async function call(base, method, path, { token, body, headers = {} } = {}) {
  const h = { Accept: 'application/json', ...headers };
  if (body !== undefined) h['Content-Type'] = 'application/json';
  if (token) h.Authorization = `Bearer ${token}`;
  const res = await fetch(base + path, {
    method, headers: h, body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = text; }
  return { status: res.status, body: json };
}

/** The body of a call that must answer `status`. */
export async function expectStatus(promise, status, what) {
  const res = await promise;
  assert.equal(res.status, status, `${what}: expected ${status}, got ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

/** The bearer token of an account made by scripts/browser-test.sh (the operator's by default). */
export const signIn = (base, email = process.env.BOXOFFICE_ADMIN_EMAIL, password = process.env.BOXOFFICE_ADMIN_PASSWORD) =>
  expectStatus(call(base, 'POST', '/auth/login', { body: { email, password } }), 200, `sign-in of ${email}`)
    .then((b) => b.token);

/** A fresh guest's bearer token. */
export const guest = (base) => expectStatus(
  call(base, 'POST', '/auth/guest', { body: { email: `e2e-${randomUUID()}@example.com` } }), 201, 'guest sign-in',
).then((b) => b.token);

/** Polls a (sync or async) condition until it returns a truthy value, or fails after timeout ms. */
export async function eventually(condition, timeout, what, every = 50) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await condition();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`${typeof what === 'function' ? what() : what}: not within ${timeout} ms`);
    await sleep(every);
  }
}

// --- Browser helpers ---------------------------------------------------------------

/** One Chromium for a test file; every page it opens records its errors in `errors`. */
export class Browser {
  constructor() {
    this.browser = null;
    this.errors = [];
  }

  /** Starts Chromium; `args` are flags on top of the usual ones. */
  async launch(args = []) { this.browser = await chromium.launch({ ...LAUNCH, args: [...LAUNCH.args, ...args] }); }

  async close() { await this.browser?.close(); }

  /** A page in a fresh context (its own cookies and storage). */
  async newPage(label, defaultTimeout) {
    const context = await this.browser.newContext({ viewport: { width: 1280, height: 1000 } });
    const page = await context.newPage();
    page.setDefaultTimeout(defaultTimeout);
    page.on('pageerror', (e) => this.errors.push(`[${label}] ${e.message}`));
    page.on('console', (m) => {
      // A page that names no icon (the ticket page) makes Chromium ask for /favicon.ico (404).
      if (m.type() === 'error' && !/\/favicon\.ico$/.test(m.location()?.url ?? '')) {
        this.errors.push(`[${label}] console: ${m.text()} (${m.location()?.url ?? ''})`);
      }
    });
    return page;
  }
}

/** Polls a predicate in the page until it holds, or fails with the page's state. */
export async function waitUntil(page, predicate, arg, timeout, what) {
  try {
    await page.waitForFunction(predicate, arg, { timeout, polling: 50 });
  } catch (e) {
    const state = await page.evaluate(() => window.boxoffice && {
      version: window.boxoffice.version, connected: window.boxoffice.connected,
      transport: window.boxoffice.transport, counts: window.boxoffice.counts(), queue: window.boxoffice.queue,
      status: document.getElementById('queue-status')?.textContent,
      message: document.getElementById('booking-message')?.textContent,
    }).catch(() => null);
    throw new Error(`${what}: not within ${timeout} ms (page state ${JSON.stringify(state)}): ${e.message.split('\n')[0]}`);
  }
}

/** Clicks an available seat drawn on the canvas, from the candidates, and returns its id. */
export async function clickSeat(page, candidates, label) {
  const pick = await page.evaluate((ids) => {
    for (const id of ids) {
      const p = window.boxoffice.seatPoint(id);
      if (p && window.boxoffice.statusOf(id) === 'AVAILABLE') return { id, ...p };
    }
    return null;
  }, candidates);
  assert.ok(pick, `${label}: an available seat on screen`);
  const canvas = page.locator('#seatmap');
  await canvas.scrollIntoViewIfNeeded();
  const box = await canvas.boundingBox();
  await page.mouse.click(box.x + pick.x, box.y + pick.y);
  await waitUntil(page, (id) => window.boxoffice.selected.includes(id), pick.id, 2_000, `${label}: seat selected by a click`);
  return pick.id;
}
