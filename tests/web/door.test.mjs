// The door page's rules: verdicts for every check-in answer, and the offline
// scan queue (a Map-backed stand-in for localStorage).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ScanQueue, cleanCode, verdict } from '../../web/door/verdict.js';

class MemoryStorage {
  constructor() { this.map = new Map(); }
  getItem(k) { return this.map.has(k) ? this.map.get(k) : null; }
  setItem(k, v) { this.map.set(k, String(v)); }
}

test('every check-in answer has its verdict', () => {
  assert.equal(verdict(200, { status: 'ADMITTED', seat_id: 7, booking_id: 3 }).kind, 'valid');
  const used = verdict(409, { code: 'already_checked_in', first_scan_at: '2030-01-01T19:00:00Z' });
  assert.equal(used.kind, 'used');
  assert.equal(used.at, '2030-01-01T19:00:00Z');
  assert.equal(verdict(410, { code: 'ticket_refunded' }).title, 'REFUNDED');
  assert.equal(verdict(422, { code: 'invalid_ticket' }).title, 'FORGED');
  assert.equal(verdict(409, { code: 'wrong_event', detail: 'for event 2' }).kind, 'wrong_event');
  assert.equal(verdict(404, { code: 'ticket_not_valid' }).kind, 'not_valid');
  for (const status of [0, 502, 503, 429]) assert.equal(verdict(status, null).kind, 'queued', String(status));
  assert.equal(verdict(401, { code: 'unauthorized', detail: 'sign in' }).kind, 'error');
});

test('codes are trimmed and empty or huge ones refused', () => {
  assert.equal(cleanCode('  T1.abc \n'), 'T1.abc');
  assert.equal(cleanCode('   '), null);
  assert.equal(cleanCode(undefined), null);
  assert.equal(cleanCode('x'.repeat(1001)), null);
});

test('queued scans survive a reload, are kept once, and flush in order until the server is out of reach again', async () => {
  const storage = new MemoryStorage();
  const queue = new ScanQueue(storage);
  assert.equal(queue.add(1, 'a'), true);
  assert.equal(queue.add(1, 'a'), false, 'the same code again adds nothing');
  queue.add(1, 'b');
  queue.add(2, 'a');
  const reloaded = new ScanQueue(storage);
  assert.deepEqual(reloaded.all().map((s) => [s.event_id, s.code]), [[1, 'a'], [1, 'b'], [2, 'a']]);

  const results = [];
  const answers = [{ status: 200, body: {} }, { status: 0, body: null }];
  const sent = await reloaded.flush(async () => answers.shift(), (entry, v) => results.push([entry.code, v.kind]));
  assert.equal(sent, 1);
  assert.deepEqual(results, [['a', 'valid']]);
  assert.deepEqual(reloaded.all().map((s) => [s.event_id, s.code]), [[1, 'b'], [2, 'a']]);

  const thrown = await reloaded.flush(async () => { throw new Error('offline'); });
  assert.equal(thrown, 0, 'a network error keeps everything queued');
  assert.equal(reloaded.size, 2);
  await reloaded.flush(async () => ({ status: 409, body: { code: 'already_checked_in' } }));
  assert.equal(reloaded.size, 0);
});

test('a corrupt queue reads as empty', () => {
  const storage = new MemoryStorage();
  storage.setItem('boxoffice.door.queue', '{not json');
  assert.deepEqual(new ScanQueue(storage).all(), []);
});
