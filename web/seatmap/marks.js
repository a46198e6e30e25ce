// Marks drawn over seats so that colour is never the only signal: held seats
// get a diagonal stroke, sold seats a cross, selected seats a tick-like inner
// square and the buyer's own hold a dot. Drawn only when a seat is big
// enough to show one (>= 6 CSS px). Class numbers are seatmap/model.js's.

import { C_MINE, C_SELECTED, CONFIRMED, RESERVED } from './model.js';

export const MIN_MARK_SIZE = 6;

/** Draws class `cls`'s mark in the seat square at (x, y) of side `size`, in `color`. */
export function drawMark(ctx, cls, x, y, size, color) {
  if (size < MIN_MARK_SIZE) return;
  const p = size * 0.22;
  ctx.save();
  ctx.strokeStyle = color;
  ctx.fillStyle = color;
  ctx.lineWidth = Math.max(1, size * 0.12);
  ctx.lineCap = 'round';
  ctx.beginPath();
  if (cls === RESERVED) {
    ctx.moveTo(x + p, y + size - p);
    ctx.lineTo(x + size - p, y + p);
    ctx.stroke();
  } else if (cls === CONFIRMED) {
    ctx.moveTo(x + p, y + p); ctx.lineTo(x + size - p, y + size - p);
    ctx.moveTo(x + size - p, y + p); ctx.lineTo(x + p, y + size - p);
    ctx.stroke();
  } else if (cls === C_SELECTED) {
    ctx.strokeRect(x + p, y + p, size - 2 * p, size - 2 * p);
  } else if (cls === C_MINE) {
    ctx.arc(x + size / 2, y + size / 2, size * 0.18, 0, Math.PI * 2);
    ctx.fill();
  }
  ctx.restore();
}
