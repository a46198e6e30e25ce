// The door's rules, pure (no DOM, no fetch; unit-tested in
// tests/web/door.test.mjs): what a check-in answer means for the person at
// the gate, and the queue of scans kept while the server is out of reach.

/**
 * The verdict for a check-in answer: {kind, title, detail, at?}.
 * kind: 'valid' (green), 'used' (amber), 'refunded' / 'forged' / 'wrong_event'
 * / 'not_valid' (red), 'queued' (grey: the server could not be reached),
 * 'error' (grey: anything else, e.g. signed out).
 */
export function verdict(status, body) {
  const code = body?.code ?? null;
  if (status === 200) {
    return { kind: 'valid', title: 'VALID', detail: seatText(body) };
  }
  if (status === 0 || status >= 500 || status === 429) {
    return { kind: 'queued', title: 'QUEUED', detail: 'The server is out of reach: this scan is kept and sent when it is back.' };
  }
  if (code === 'already_checked_in') {
    return { kind: 'used', title: 'ALREADY USED', detail: `First scanned at ${body.first_scan_at ?? 'an earlier time'}.`, at: body.first_scan_at ?? null };
  }
  if (code === 'ticket_refunded') {
    return { kind: 'refunded', title: 'REFUNDED', detail: 'This booking was cancelled and refunded: no entry.' };
  }
  if (code === 'invalid_ticket') {
    return { kind: 'forged', title: 'FORGED', detail: 'This code was not issued by boxoffice.' };
  }
  if (code === 'wrong_event') {
    return { kind: 'wrong_event', title: 'WRONG EVENT', detail: body.detail ?? 'This ticket is for another event.' };
  }
  if (code === 'ticket_not_valid') {
    return { kind: 'not_valid', title: 'NOT VALID', detail: body.detail ?? 'This ticket is not valid for entry.' };
  }
  return { kind: 'error', title: 'NOT CHECKED', detail: body?.detail ?? `The server answered ${status}.` };
}

const seatText = (body) => (body?.seat_id ? `Seat ${body.seat_id} · booking ${body.booking_id ?? '?'}` : 'Admit one.');

/** A scanned code as typed or read: trimmed; null when empty or absurdly long. */
export function cleanCode(text) {
  const code = String(text ?? '').trim();
  return code && code.length <= 1000 ? code : null;
}

/**
 * Scans waiting for the server, oldest first, in a Storage (localStorage):
 * they survive a reload and a dead battery swap. Each entry {event_id, code,
 * scanned_at}; one code per event is kept once (a second scan of the same
 * code while offline adds nothing: the server decides when it is back).
 */
export class ScanQueue {
  constructor(storage, key = 'boxoffice.door.queue') {
    this.storage = storage;
    this.key = key;
  }

  all() {
    try {
      const list = JSON.parse(this.storage.getItem(this.key) ?? '[]');
      return Array.isArray(list) ? list : [];
    } catch {
      return [];
    }
  }

  get size() { return this.all().length; }

  add(eventId, code, scannedAt = new Date().toISOString()) {
    const list = this.all();
    if (list.some((s) => s.event_id === eventId && s.code === code)) return false;
    list.push({ event_id: eventId, code, scanned_at: scannedAt });
    this.storage.setItem(this.key, JSON.stringify(list));
    return true;
  }

  remove(entry) {
    const list = this.all().filter((s) => !(s.event_id === entry.event_id && s.code === entry.code));
    this.storage.setItem(this.key, JSON.stringify(list));
  }

  /**
   * Sends every queued scan with `send(entry)` → {status, body}, oldest first.
   * A scan the server answered (any verdict but 'queued') leaves the queue
   * and is reported to `onResult(entry, verdict)`; the first one still out
   * of reach stops the flush (the rest wait for the next try).
   */
  async flush(send, onResult = () => {}) {
    let sent = 0;
    for (const entry of this.all()) {
      let answer;
      try {
        answer = await send(entry);
      } catch {
        answer = { status: 0, body: null };
      }
      const v = verdict(answer.status, answer.body);
      if (v.kind === 'queued') break;
      this.remove(entry);
      sent++;
      onResult(entry, v);
    }
    return sent;
  }
}
