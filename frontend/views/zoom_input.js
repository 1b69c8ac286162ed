// What the pointer and keys do to a zoom map (zoom_map.js): the wheel and double-click zoom, a
// drag or the arrow keys pan, "+" / "-" / "0" zoom or reset, hovering reads out a cell, a
// shift-click picks one, and the minimap moves the view. A ZoomInput holds the gesture under way
// and acts through the map's own methods (setView, showCell, clearHover, opts.onPick).

import { cellAt, centreOn, panBy, zoomAt } from "../zoom.js";

const KEY_ZOOM = 1.5;
const WHEEL_ZOOM = 0.002; // per wheel pixel
const DRAG_PX = 3; // a press that moves less than this is a click

export class ZoomInput {
  constructor(map) {
    this.map = map;
    this.drag = null; // {x, y, view, moved}: a press on the map under way
    this.miniDrag = false;
    const o = map.overlay;
    o.addEventListener("wheel", (e) => this.onWheel(e), { passive: false });
    o.addEventListener("pointerdown", (e) => {
      if (e.button !== 0) return;
      this.drag = { x: e.clientX, y: e.clientY, view: map.view, moved: false };
      o.setPointerCapture(e.pointerId);
    });
    o.addEventListener("pointermove", (e) => this.onPointerMove(e));
    o.addEventListener("pointerup", (e) => this.onPointerUp(e));
    o.addEventListener("mouseleave", () => !this.drag && map.clearHover());
    o.addEventListener("dblclick", (e) => this.zoomBy(2, this.boxPoint(e)));
    o.addEventListener("keydown", (e) => this.onKey(e));
    map.mini.addEventListener("pointerdown", (e) => {
      map.mini.setPointerCapture(e.pointerId);
      this.miniDrag = true;
      this.moveTo(e);
    });
    map.mini.addEventListener("pointermove", (e) => this.miniDrag && this.moveTo(e));
    map.mini.addEventListener("pointerup", () => (this.miniDrag = false));
  }

  /** The map's grid and plot size, as zoom.js takes them: [rows, cols, plotW, plotH]. */
  grid() {
    const m = this.map;
    return [m.data.rows, m.data.cols, m.plotW, m.plotH];
  }

  /** The cell under a mouse event, or null. */
  cellAtEvent(event) {
    const m = this.map;
    const rect = m.overlay.getBoundingClientRect();
    return cellAt(m.view, event.clientX - rect.left - m.left, event.clientY - rect.top - m.top, ...this.grid());
  }

  /** Where a mouse event is in the plot (CSS px from its corner, clamped to it). */
  boxPoint(event) {
    const m = this.map;
    const rect = m.overlay.getBoundingClientRect();
    const px = Math.min(m.plotW, Math.max(0, event.clientX - rect.left - m.left));
    const py = Math.min(m.plotH, Math.max(0, event.clientY - rect.top - m.top));
    return [px, py];
  }

  zoomBy(factor, [px, py]) {
    this.map.setView(zoomAt(this.map.view, factor, px, py, ...this.grid()));
  }

  onWheel(e) {
    e.preventDefault();
    const unit = e.deltaMode === 1 ? 16 : e.deltaMode === 2 ? 400 : 1;
    this.zoomBy(Math.exp(-e.deltaY * unit * WHEEL_ZOOM), this.boxPoint(e));
  }

  /** Centre the view on the minimap point under a mouse event. */
  moveTo(e) {
    const m = this.map;
    const rect = m.mini.getBoundingClientRect();
    const k = m.miniScale || 1;
    m.setView(centreOn(m.view, (e.clientX - rect.left) / k, (e.clientY - rect.top) / k, ...this.grid()));
  }

  onPointerMove(e) {
    const d = this.drag;
    if (d) {
      const dx = e.clientX - d.x;
      const dy = e.clientY - d.y;
      if (!d.moved && Math.abs(dx) + Math.abs(dy) > DRAG_PX) d.moved = true;
      if (d.moved) {
        this.map.setView(panBy(d.view, dx, dy, ...this.grid()));
        return;
      }
    }
    const at = this.cellAtEvent(e);
    if (at) this.map.showCell(...at);
    else this.map.clearHover();
  }

  onPointerUp(e) {
    const d = this.drag;
    this.drag = null;
    const at = this.cellAtEvent(e);
    if (!at) this.map.clearHover(); // a drag released off the map gets no mouseleave
    if (!d || d.moved) return;
    if (at && e.shiftKey && this.map.opts.onPick) this.map.opts.onPick(...at);
  }

  onKey(e) {
    const m = this.map;
    const [w, h] = [m.plotW, m.plotH];
    const step = e.shiftKey ? 0.5 : 0.125;
    const pans = {
      ArrowLeft: [w * step, 0],
      ArrowRight: [-w * step, 0],
      ArrowUp: [0, h * step],
      ArrowDown: [0, -h * step],
    };
    let next = null;
    if (e.key === "+" || e.key === "=") next = zoomAt(m.view, KEY_ZOOM, w / 2, h / 2, ...this.grid());
    else if (e.key === "-" || e.key === "_") next = zoomAt(m.view, 1 / KEY_ZOOM, w / 2, h / 2, ...this.grid());
    else if (e.key === "0" || e.key === "Home") next = { ...m.fit };
    else if (pans[e.key]) next = panBy(m.view, ...pans[e.key], ...this.grid());
    if (!next) return;
    e.preventDefault();
    m.setView(next);
  }
}
