// The waiting-room panel of event.html, drawn from a WaitingRoom's state
// (./waiting-room.js): which part shows, the headline, the place in line,
// the progress bar, the wait, the presale countdown and the fairness proof.

import { byId as $, el } from '../lib/dom.js';
import { formatClock, formatDate } from '../lib/format.js';
import { etaText, opensText, progressPercent } from './standing.js';

/** Draws the panel for the room's state (`room.first` is already updated). */
export function renderPanel(room) {
  const s = room.state;
  $('queue-idle').hidden = !['idle', 'joining', 'expired', 'rejected'].includes(s);
  $('queue-intro').hidden = s !== 'idle' && s !== 'joining';
  $('queue-join').disabled = s === 'joining';
  $('queue-join').classList.toggle('busy', s === 'joining');
  $('queue-join').textContent = s === 'expired' || s === 'rejected' ? 'Join the waiting room again' : 'Join the waiting room';
  $('queue-waiting').hidden = s !== 'waiting';
  $('queue-admitted').hidden = s !== 'admitted';
  $('queue-soldout').hidden = !(room.soldOut && (s === 'waiting' || s === 'admitted'));
  $('queue-paused').hidden = !(room.paused && s === 'waiting');
  const status = $('queue-status');
  status.classList.toggle('turn', s === 'admitted');
  if (s === 'admitted' && room.pass && !status.querySelector('time')) {
    status.classList.remove('error');
    status.replaceChildren("It's your turn — you have until ",
      el('time', { datetime: room.pass.expires_at }, formatClock(room.pass.expires_at)), '.');
  }
  if (s !== 'waiting') return;
  const presale = room.position === null;
  const headline = presale ? 'You are in the waiting room. The sale has not opened yet.' : 'You are in the waiting room.';
  if (status.textContent !== headline) status.textContent = headline;
  $('queue-position').textContent = presale ? 'Drawn when the sale opens' : `#${room.position.toLocaleString()}`;
  $('queue-position').classList.toggle('pending', presale);
  const bar = $('queue-progress');
  if (presale) bar.removeAttribute('value');
  else bar.value = progressPercent(room.first, room.position);
  $('queue-eta').hidden = presale;
  $('queue-eta').textContent = presale ? '' : etaText(room);
  renderOpens(room);
}

/** "The sale opens at …, in 2 minutes": the presale line, counting down. */
export function renderOpens(room) {
  const opens = $('queue-opens');
  const at = room.opensAt ? Date.parse(room.opensAt) : NaN;
  const waiting = room.state === 'waiting' && room.position === null;
  opens.hidden = !waiting || Number.isNaN(at);
  if (opens.hidden) return;
  opens.textContent = opensText(room.opensAt, Date.now());
}

/** The fairness proof (GET /events/{id}/queue/fairness) in the "How the order is decided" box. */
export function showFairness(f) {
  $('fair-opens').textContent = f.sale_opens_at
    ? `${formatDate(f.sale_opens_at)}${Date.parse(f.sale_opens_at) <= Date.now() ? ' (open)' : ''}`
    : 'Open now (no scheduled on-sale time)';
  $('fair-hash').textContent = f.seed_sha256 ?? '–';
  $('fair-seed').textContent = f.seed ?? 'revealed when the sale opens';
  $('fair-rule').textContent = f.rule ? `Rule: ${f.rule}. The seed's hash is published before the sale, so the draw cannot be changed afterwards.` : '';
}
