// The seat map's canvas renderer: fit-to-width view with zoom and pan, batched
// full redraws and per-seat partial redraws for deltas, and hit testing.
// Reads the model; `classOf(i)` says how seat i is drawn (seatmap/model.js),
// as an index into the palette plus `extraColors` (zones.js: price zones),
// with a mark per status class (seatmap/marks.js) so colour is not the only
// signal. A shaped venue's stage is drawn too, and section labels at the
// centre of their seats. One pass buckets seats by class, so a full redraw of
// 50,000 seats sets each colour once.

import { MIN_MARK_SIZE, drawMark } from './marks.js';

const PALETTE = ['available', 'reserved', 'confirmed', 'selected', 'mine', 'unknown'];
const LABEL_SPACE = 18; // CSS px above the seats for the first row of section labels

export class SeatCanvas {
  constructor(canvas, model, classOf, extraColors = []) {
    this.canvas = canvas;
    this.extraColors = extraColors;
    this.ctx = canvas.getContext('2d', { alpha: false });
    this.model = model;
    this.classOf = classOf;
    this.cursor = -1;
    this.dirty = new Set();
    this.full = true;
    this.frame = 0;
    this.zoom = 1;
    this.measure();
    this.readColors();
    this.fit();
  }

  /** Bounds, seat pitch and a grid index for hit testing. */
  measure() {
    const { xs, ys, n } = this.model;
    let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity, pitch = Infinity;
    for (let i = 0; i < n; i++) {
      minX = Math.min(minX, xs[i]); maxX = Math.max(maxX, xs[i]);
      minY = Math.min(minY, ys[i]); maxY = Math.max(maxY, ys[i]);
      if (i > 0 && this.model.rowOf[i] === this.model.rowOf[i - 1]) {
        const d = Math.hypot(xs[i] - xs[i - 1], ys[i] - ys[i - 1]);
        if (d > 0) pitch = Math.min(pitch, d);
      }
    }
    if (!Number.isFinite(minX)) { minX = minY = 0; maxX = maxY = 1; }
    for (const [x, y] of stageCorners(this.model.stage)) {
      minX = Math.min(minX, x); maxX = Math.max(maxX, x);
      minY = Math.min(minY, y); maxY = Math.max(maxY, y);
    }
    this.pitch = Number.isFinite(pitch) ? pitch : 1;
    Object.assign(this, { minX, minY, maxX, maxY });
    this.grid = new Map();
    for (let i = 0; i < n; i++) {
      const key = this.gridKey(Math.round((xs[i] - minX) / this.pitch), Math.round((ys[i] - minY) / this.pitch));
      const cell = this.grid.get(key);
      if (cell) cell.push(i); else this.grid.set(key, [i]);
    }
  }

  gridKey(gx, gy) { return gx * 1048576 + gy; }

  readColors() {
    const style = getComputedStyle(document.documentElement);
    this.colors = PALETTE.map((name) => style.getPropertyValue(`--seat-${name}`).trim() || '#888')
      .concat(this.extraColors);
    this.bg = style.getPropertyValue('--map-bg').trim() || '#fff';
    this.labelColor = style.getPropertyValue('--map-label').trim() || '#666';
    // The same colours as 32-bit pixels, for drawing small seats straight into an ImageData.
    const probe = document.createElement('canvas').getContext('2d', { willReadFrequently: true });
    const pixel = (color) => {
      probe.clearRect(0, 0, 1, 1);
      probe.fillStyle = color;
      probe.fillRect(0, 0, 1, 1);
      const [r, g, b] = probe.getImageData(0, 0, 1, 1).data;
      return ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0;
    };
    this.pixelColors = Uint32Array.from(this.colors, pixel);
    this.bgPixel = pixel(this.bg);
    this.focusColor = style.getPropertyValue('--text').trim() || '#000';
  }

  /** Sizes the backing store to the element; height follows the venue's shape. */
  resize() {
    const width = this.canvas.parentElement.clientWidth;
    if (!width) return;
    const spanX = this.maxX - this.minX + 2 * this.pitch;
    const spanY = this.maxY - this.minY + 2 * this.pitch;
    const top = LABEL_SPACE;
    const height = Math.round(Math.min(window.innerHeight * 0.7, Math.max(260, (width * spanY) / spanX + top)));
    const dpr = window.devicePixelRatio || 1;
    this.W = width; this.H = height; this.dpr = dpr;
    this.oy = (height + top) / 2; // screen y of the view centre, below the label strip
    this.canvas.style.height = `${height}px`;
    this.canvas.width = Math.round(width * dpr);
    this.canvas.height = Math.round(height * dpr);
    this.fitScale = Math.min(width / spanX, (height - top) / spanY);
    this.clampView();
    this.redraw();
  }

  fit() {
    this.zoom = 1;
    this.cx = (this.minX + this.maxX) / 2;
    this.cy = (this.minY + this.maxY) / 2;
    if (this.W) this.redraw();
  }

  get scale() { return this.fitScale * this.zoom; }
  toScreenX(x) { return (x - this.cx) * this.scale + this.W / 2; }
  toScreenY(y) { return (y - this.cy) * this.scale + this.oy; }
  toWorldX(sx) { return (sx - this.W / 2) / this.scale + this.cx; }
  toWorldY(sy) { return (sy - this.oy) / this.scale + this.cy; }

  zoomBy(factor, sx = this.W / 2, sy = this.oy) {
    const wx = this.toWorldX(sx), wy = this.toWorldY(sy);
    this.zoom = Math.min(40, Math.max(1, this.zoom * factor));
    this.cx = wx - (sx - this.W / 2) / this.scale;
    this.cy = wy - (sy - this.oy) / this.scale;
    this.clampView();
    this.redraw();
  }

  panBy(dx, dy) {
    this.cx -= dx / this.scale;
    this.cy -= dy / this.scale;
    this.clampView();
    this.redraw();
  }

  clampView() {
    if (this.zoom <= 1) { this.fit(); return; }
    this.cx = Math.min(this.maxX, Math.max(this.minX, this.cx));
    this.cy = Math.min(this.maxY, Math.max(this.minY, this.cy));
  }

  /** Keeps seat i on screen (keyboard navigation when zoomed in). */
  reveal(i) {
    const sx = this.toScreenX(this.model.xs[i]), sy = this.toScreenY(this.model.ys[i]);
    const m = 20;
    if (sx < m || sx > this.W - m || sy < m || sy > this.H - m) {
      this.cx = this.model.xs[i];
      this.cy = this.model.ys[i];
      this.clampView();
      this.redraw();
    }
  }

  redraw() { this.full = true; this.schedule(); }
  invalidate(indices) {
    for (const i of indices) this.dirty.add(i);
    this.schedule();
  }

  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      const cell = this.pitch * this.scale;
      if (this.full || this.dirty.size > 4000 || cell < 3) this.drawAll();
      else this.drawSeats(this.dirty);
      this.full = false;
      this.dirty.clear();
    });
  }

  drawAll() {
    const { ctx, model, W, H } = this;
    if (!W) return;
    const started = performance.now();
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.fillStyle = this.bg;
    ctx.fillRect(0, 0, W, H);
    const cell = this.pitch * this.scale;
    const size = Math.max(1, cell * 0.78);
    const crisp = size >= 3;
    const half = size / 2;
    const { xs, ys, n } = model;
    // Visible world window, for culling when zoomed in.
    const x0 = this.toWorldX(-cell), x1 = this.toWorldX(W + cell);
    const y0 = this.toWorldY(-cell), y1 = this.toWorldY(H + cell);
    // Bucket the visible seats by class (a counting sort), then one colour each.
    const k = this.colors.length;
    const classes = new Uint8Array(n);
    const starts = new Uint32Array(k + 1);
    for (let i = 0; i < n; i++) {
      const x = xs[i], y = ys[i];
      if (x < x0 || x > x1 || y < y0 || y > y1) { classes[i] = 255; continue; }
      const c = this.classOf(i);
      classes[i] = c;
      if (c < k) starts[c + 1]++;
    }
    for (let c = 0; c < k; c++) starts[c + 1] += starts[c];
    const order = new Uint32Array(starts[k]);
    const fill = starts.slice(0, k);
    for (let i = 0; i < n; i++) if (classes[i] < k) order[fill[classes[i]]++] = i;
    const side = crisp ? Math.round(size) : size;
    if (size * this.dpr <= 6) {
      // Zoomed out: every seat is a few device pixels; writing them into one
      // ImageData beats tens of thousands of fillRect calls.
      this.drawPixels(classes, size);
      if (this.model.stage) this.drawStage();
    } else {
      if (this.model.stage) this.drawStage();
      this.drawRects(classes, starts, order, side, half, crisp);
    }
    if (cell >= 2.5 || model.stage) this.drawLabels(cell);
    if (this.cursor >= 0) this.drawCursor(this.cursor);
    /** How long the last full redraw took (ms): the browser test's frame-time figure. */
    this.lastDrawMs = performance.now() - started;
    this.fullDraws = (this.fullDraws ?? 0) + 1;
  }

  /** Seats as filled squares, one fill style per class. */
  drawRects(classes, starts, order, side, half, crisp) {
    const { ctx } = this;
    const { xs, ys } = this.model;
    const k = this.colors.length;
    for (let c = 0; c < k; c++) {
      if (starts[c] === starts[c + 1]) continue;
      ctx.fillStyle = this.colors[c];
      // Held, sold, selected and the buyer's own (model.js classes 1-4) carry marks.
      const marked = c >= 1 && c <= 4;
      for (let j = starts[c]; j < starts[c + 1]; j++) {
        const i = order[j];
        let sx = this.toScreenX(xs[i]) - half, sy = this.toScreenY(ys[i]) - half;
        if (crisp) { sx = Math.round(sx); sy = Math.round(sy); }
        ctx.fillRect(sx, sy, side, side);
        if (marked && side >= MIN_MARK_SIZE) drawMark(ctx, c, sx, sy, Math.round(side), this.bg);
      }
    }
  }

  /** Small seats written as pixels into one ImageData (device pixels). */
  drawPixels(classes, size) {
    const { canvas, ctx, dpr } = this;
    const { xs, ys, n } = this.model;
    const dw = canvas.width, dh = canvas.height;
    if (!this.pixels || this.pixels.width !== dw || this.pixels.height !== dh) {
      this.pixels = ctx.createImageData(dw, dh);
    }
    const buf = new Uint32Array(this.pixels.data.buffer);
    buf.fill(this.bgPixel);
    const side = Math.max(1, Math.round(size * dpr));
    const k = this.pixelColors.length;
    const scale = this.scale * dpr, ox = (this.W / 2) * dpr, oy = this.oy * dpr;
    const shift = side / 2;
    for (let i = 0; i < n; i++) {
      const c = classes[i];
      if (c >= k) continue;
      const color = this.pixelColors[c];
      const px = Math.round((xs[i] - this.cx) * scale + ox - shift);
      const py = Math.round((ys[i] - this.cy) * scale + oy - shift);
      if (px < 0 || py < 0 || px + side > dw || py + side > dh) continue;
      for (let dy = 0; dy < side; dy++) {
        const row = (py + dy) * dw + px;
        for (let dx = 0; dx < side; dx++) buf[row + dx] = color;
      }
    }
    ctx.putImageData(this.pixels, 0, 0);
  }

  drawLabels(cell) {
    const { ctx } = this;
    ctx.fillStyle = this.labelColor;
    ctx.font = `600 ${Math.round(Math.min(14, Math.max(10, cell * 1.4)))}px system-ui, sans-serif`;
    if (this.model.stage) {
      // Shaped venues: each label over the middle of its section.
      ctx.textAlign = 'center';
      ctx.textBaseline = 'middle';
      for (const s of this.model.sections) {
        const x = this.toScreenX(s.cx), y = this.toScreenY(s.cy);
        ctx.lineWidth = 3;
        ctx.strokeStyle = this.bg;
        ctx.strokeText(s.name, x, y);
        ctx.fillText(s.name, x, y);
      }
      ctx.textAlign = 'start';
      return;
    }
    ctx.textBaseline = 'bottom';
    for (const s of this.model.sections) {
      ctx.fillText(s.name, this.toScreenX(s.minX) - cell / 2, this.toScreenY(s.minY) - cell / 2 - 2);
    }
  }

  /** The stage: a rotated rectangle with its label. */
  drawStage() {
    const { ctx } = this;
    const corners = stageCorners(this.model.stage).map(([x, y]) => [this.toScreenX(x), this.toScreenY(y)]);
    ctx.beginPath();
    corners.forEach(([x, y], j) => (j ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    ctx.closePath();
    ctx.fillStyle = this.labelColor;
    ctx.fill();
    const { x, y, label } = this.model.stage;
    ctx.fillStyle = this.bg;
    ctx.font = `700 ${Math.round(Math.min(28, Math.max(10, this.scale * 3)))}px system-ui, sans-serif`;
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    ctx.fillText(label || 'STAGE', this.toScreenX(x), this.toScreenY(y));
    ctx.textAlign = 'start';
  }

  /** Redraws single seats in place (cells do not overlap when cell >= 3px). */
  drawSeats(indices) {
    const { ctx, model } = this;
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    const cell = this.pitch * this.scale;
    const size = Math.round(cell * 0.78);
    for (const i of indices) {
      const cx = this.toScreenX(model.xs[i]), cy = this.toScreenY(model.ys[i]);
      if (cx < -cell || cx > this.W + cell || cy < -cell || cy > this.H + cell) continue;
      ctx.fillStyle = this.bg;
      ctx.fillRect(Math.floor(cx - cell / 2), Math.floor(cy - cell / 2), Math.ceil(cell), Math.ceil(cell));
      const cls = this.classOf(i);
      ctx.fillStyle = this.colors[cls] ?? this.bg;
      ctx.fillRect(Math.round(cx - size / 2), Math.round(cy - size / 2), size, size);
      drawMark(ctx, cls, Math.round(cx - size / 2), Math.round(cy - size / 2), size, this.bg);
      if (i === this.cursor) this.drawCursor(i);
    }
  }

  drawCursor(i) {
    const { ctx } = this;
    const cell = Math.max(6, this.pitch * this.scale);
    const cx = this.toScreenX(this.model.xs[i]), cy = this.toScreenY(this.model.ys[i]);
    ctx.strokeStyle = this.focusColor;
    ctx.lineWidth = 1.5;
    ctx.strokeRect(cx - cell / 2 + 0.75, cy - cell / 2 + 0.75, cell - 1.5, cell - 1.5);
  }

  setCursor(i) {
    const old = this.cursor;
    this.cursor = i;
    if (this.pitch * this.scale < 6) this.redraw(); // outline is wider than a cell
    else this.invalidate([old, i].filter((x) => x >= 0));
  }

  /** The seat under a point in CSS pixels relative to the canvas, or -1. */
  hit(sx, sy) {
    const wx = this.toWorldX(sx), wy = this.toWorldY(sy);
    const gx = Math.round((wx - this.minX) / this.pitch), gy = Math.round((wy - this.minY) / this.pitch);
    let best = -1, bestD = (0.75 * this.pitch) ** 2;
    for (let dx = -1; dx <= 1; dx++) {
      for (let dy = -1; dy <= 1; dy++) {
        for (const i of this.grid.get(this.gridKey(gx + dx, gy + dy)) ?? []) {
          const d = (this.model.xs[i] - wx) ** 2 + (this.model.ys[i] - wy) ** 2;
          if (d < bestD) { best = i; bestD = d; }
        }
      }
    }
    return best;
  }

  /** Where seat i is drawn, in CSS pixels relative to the canvas, or null when off screen. */
  point(i) {
    const x = this.toScreenX(this.model.xs[i]), y = this.toScreenY(this.model.ys[i]);
    return x >= 0 && x <= this.W && y >= 0 && y <= this.H ? { x, y } : null;
  }
}

/** The four corners of a stage rectangle centred on (x, y), turned by `angle` degrees. */
export function stageCorners(stage) {
  if (!stage) return [];
  const { x, y, width, height } = stage;
  const a = ((stage.angle ?? 0) * Math.PI) / 180;
  const cos = Math.cos(a), sin = Math.sin(a);
  return [[-1, -1], [1, -1], [1, 1], [-1, 1]].map(([sx, sy]) => {
    const dx = (sx * width) / 2, dy = (sy * height) / 2;
    return [x + dx * cos - dy * sin, y + dx * sin + dy * cos];
  });
}
