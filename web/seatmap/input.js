// Pointer, wheel, pinch and keyboard input on the seat map canvas: clicks and
// Enter/Space toggle a seat, drags pan, pinches and Ctrl+wheel zoom, arrow keys
// move a cursor between seats.

import { AVAILABLE } from './model.js';

/**
 * Wires the canvas's input to the view. `toggle(i)` selects or deselects seat
 * i, `announce(i)` describes it to screen readers, `tooltip(i, x, y)` shows
 * seat i's tooltip at a canvas point (i < 0 hides it), `zoom` holds the
 * zoom-in/out/fit buttons.
 */
export function wireCanvas(canvas, view, model, { toggle, announce, tooltip, zoom }) {
  const pointers = new Map(); // pointerId -> {x, y}
  let drag = null; // one pointer down: a click, or a pan when zoomed in
  let pinch = null; // two pointers down: {dist, mid}
  const pos = (e) => {
    const r = canvas.getBoundingClientRect();
    return { x: e.clientX - r.left, y: e.clientY - r.top };
  };
  const twoFingers = () => {
    const [a, b] = [...pointers.values()];
    return { dist: Math.hypot(a.x - b.x, a.y - b.y) || 1, mid: { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 } };
  };
  canvas.addEventListener('pointerdown', (e) => {
    if (e.pointerType === 'mouse' && e.button !== 0) return;
    pointers.set(e.pointerId, pos(e));
    canvas.setPointerCapture(e.pointerId);
    if (pointers.size === 1) drag = { ...pos(e), moved: false };
    else if (pointers.size === 2) { drag = null; pinch = twoFingers(); }
  });
  canvas.addEventListener('pointermove', (e) => {
    const p = pos(e);
    if (pointers.has(e.pointerId)) pointers.set(e.pointerId, p);
    if (pinch && pointers.size >= 2) {
      const now = twoFingers();
      view.zoomBy(now.dist / pinch.dist, now.mid.x, now.mid.y);
      view.panBy(now.mid.x - pinch.mid.x, now.mid.y - pinch.mid.y);
      pinch = now;
      return;
    }
    if (drag) {
      const dx = p.x - drag.x, dy = p.y - drag.y;
      if (!drag.moved && Math.hypot(dx, dy) < 5) return;
      drag.moved = true;
      if (view.zoom > 1) {
        canvas.classList.add('grabbing');
        view.panBy(dx, dy);
        drag.x = p.x; drag.y = p.y;
      }
      tooltip(-1);
      return;
    }
    if (pointers.size) return;
    const i = view.hit(p.x, p.y);
    canvas.style.cursor = i >= 0 && model.status[i] === AVAILABLE ? 'pointer' : '';
    tooltip(i, p.x, p.y);
  });
  const lift = (e, cancelled) => {
    pointers.delete(e.pointerId);
    canvas.classList.remove('grabbing');
    if (pinch) { if (pointers.size < 2) pinch = null; drag = null; return; }
    const click = drag && !drag.moved && !cancelled;
    drag = null;
    if (!click) return;
    const p = pos(e);
    const i = view.hit(p.x, p.y);
    if (i >= 0) { view.setCursor(i); toggle(i); }
  };
  canvas.addEventListener('pointerup', (e) => lift(e, false));
  canvas.addEventListener('pointercancel', (e) => lift(e, true));
  canvas.addEventListener('pointerleave', () => { tooltip(-1); });
  canvas.addEventListener('wheel', (e) => {
    if (!e.ctrlKey && !e.metaKey) return;
    e.preventDefault();
    const p = pos(e);
    view.zoomBy(e.deltaY < 0 ? 1.25 : 0.8, p.x, p.y);
  }, { passive: false });

  canvas.addEventListener('focus', () => {
    if (view.cursor < 0 && model.n) {
      let i = model.status.indexOf(AVAILABLE);
      if (i < 0) i = 0;
      view.setCursor(i);
      announce(i);
    }
  });
  canvas.addEventListener('keydown', (e) => {
    const i = view.cursor;
    let next = -1;
    switch (e.key) {
      case 'ArrowRight': next = Math.min(model.n - 1, i + 1); break;
      case 'ArrowLeft': next = Math.max(0, i - 1); break;
      case 'ArrowUp': next = model.nearestInRow(i, -1); break;
      case 'ArrowDown': next = model.nearestInRow(i, 1); break;
      case 'Home': next = model.rows[model.rowOf[i]].start; break;
      case 'End': next = model.rows[model.rowOf[i]].end - 1; break;
      case 'Enter': case ' ': toggle(i); e.preventDefault(); return;
      case '+': case '=': view.zoomBy(1.5); break;
      case '-': view.zoomBy(1 / 1.5); break;
      case '0': view.fit(); break;
      default: return;
    }
    e.preventDefault();
    if (next >= 0 && next !== i) {
      view.setCursor(next);
      view.reveal(next);
      announce(next);
    }
  });

  zoom.in.addEventListener('click', () => view.zoomBy(1.5));
  zoom.out.addEventListener('click', () => view.zoomBy(1 / 1.5));
  zoom.fit.addEventListener('click', () => view.fit());
}
