// The head view's line canvases. Up to 512 rows (TiledCanvas) the lines are drawn once on a
// canvas as tall as the columns, as bertviz does; longer inputs (FrameCanvas) draw only the frame
// on screen, again as it scrolls, with the lines to keys scrolled away ending at the frame's edge
// (head_lines.js strokeFrame): a canvas as tall as 32 768 rows could not be held.

import { el, sizeCanvas } from "../dom.js";
import { strokeFrame, strokeGroups } from "./head_lines.js";

// A tall canvas as a column of tiles (canvases of TILE_PX CSS px, made when first drawn on):
// 512 tokens are a 6 144 px column, and one canvas that tall costs a copy of all of it on every
// frame that touches it; tiles copy only what changed, and tiles never drawn on cost nothing.

export const TILE_PX = 2048;

export class TiledCanvas {
  /** Tiles of `className` (each also "hv-tile", data-top its offset) in `host`, width x height CSS px. */
  constructor(host, className, width, height) {
    Object.assign(this, { host, className, width, height });
    this.tiles = new Map(); // index -> {canvas, ctx, top}
    this.dirty = new Set();
    this.tile(0); // always there: what a short input draws on, and what tests and styles find first
  }

  tile(i) {
    let t = this.tiles.get(i);
    if (!t) {
      const top = i * TILE_PX;
      const h = Math.min(TILE_PX, this.height - top);
      const canvas = el("canvas", {
        class: `${this.className} hv-tile`,
        "aria-hidden": "true",
        dataset: { top: String(top) },
        style: { top: `${top}px` },
      });
      const ctx = sizeCanvas(canvas, this.width, h, 6e6);
      this.host.append(canvas);
      t = { canvas, ctx, top };
      this.tiles.set(i, t);
    }
    return t;
  }

  /** Stroke line groups (head_lines.js) crossing band [top, bottom) (null: all of them), tile by tile. */
  stroke(groups, opts, band = null) {
    const [top, bottom] = band || extent(groups, this.height);
    if (!(bottom > top)) return;
    const first = Math.max(0, Math.floor(top / TILE_PX));
    const last = Math.min(Math.ceil(this.height / TILE_PX) - 1, Math.floor((bottom - 1) / TILE_PX));
    for (let i = first; i <= last; i++) {
      const t = this.tile(i);
      const part = [Math.max(top, t.top), Math.min(bottom, t.top + TILE_PX)];
      t.ctx.save();
      t.ctx.translate(0, -t.top);
      strokeGroups(t.ctx, groups, { ...opts, width: this.width, band: part });
      t.ctx.restore();
      this.dirty.add(i);
    }
  }

  /** Clear every tile drawn on since the last clear. */
  clear() {
    for (const i of this.dirty) this.tiles.get(i).ctx.clearRect(0, 0, this.width, TILE_PX);
    this.dirty.clear();
  }

  /** The frame on screen moved: a tall canvas has nothing to redraw. */
  follow() {}
}

/** [top, bottom) of the lines in `groups` (3 px of stroke either side), within 0..height. */
function extent(groups, height) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const { ys } of groups) {
    for (const y of ys) {
      if (y < lo) lo = y;
      if (y > hi) hi = y;
    }
  }
  return [Math.max(0, Math.floor(lo - 3)), Math.min(height, Math.ceil(hi + 3))];
}

export const EDGE_ZONE_PX = 24; // lines to keys beyond the frame end in this much of its edge (2 rows)

/**
 * A canvas over the frame of the columns on screen (`follow(frame)` moves and redraws it), holding
 * the lines last stroked on it: those of query rows in the frame (head_lines.js strokeFrame).
 * `counts` {above, below}: the lines drawn to the frame's edges.
 */
export class FrameCanvas {
  /** A canvas of `className` in `host`, `width` CSS px wide, over a column `height` tall. */
  constructor(host, className, width, height) {
    Object.assign(this, { host, className, width, height });
    this.canvas = el("canvas", { class: `${className} hv-frame`, "aria-hidden": "true" });
    host.append(this.canvas);
    this.ctx = null;
    this.frame = [0, 0];
    this.drawn = null; // {groups, opts}
    this.counts = { above: 0, below: 0 };
  }

  /** Move to `frame` [top, bottom] (canvas y) and redraw what it holds there. */
  follow(frame) {
    const [top, bottom] = frame;
    const height = Math.max(1, Math.ceil(bottom - top));
    if (!this.ctx || height !== Math.ceil(this.frame[1] - this.frame[0])) {
      this.ctx = sizeCanvas(this.canvas, this.width, height);
    }
    this.frame = [top, top + height];
    this.canvas.style.top = `${top}px`;
    this.redraw();
  }

  redraw() {
    this.ctx.clearRect(0, 0, this.width, this.frame[1] - this.frame[0]);
    this.counts = { above: 0, below: 0 };
    if (!this.drawn) return;
    const { groups, opts } = this.drawn;
    const where = { width: this.width, frame: this.frame, zone: EDGE_ZONE_PX, height: this.height };
    this.counts = strokeFrame(this.ctx, groups, { ...opts, ...where });
  }

  /** Draw `groups` (head_lines.js) in the frame, and again whenever it moves. */
  stroke(groups, opts) {
    this.drawn = { groups, opts };
    if (this.ctx) this.redraw();
  }

  clear() {
    this.drawn = null;
    if (this.ctx) this.redraw();
  }
}
