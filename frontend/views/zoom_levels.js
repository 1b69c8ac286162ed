// The colour images of a zoomable heat map held whole in the tab: one canvas per max-pooled
// level (pyramid.js), made when first needed; the finer ones are made in the background after
// the first frame, so a zoom never waits for them (a frame draws the nearest coarser level that
// is ready). A map too large to hold draws tiles fetched as it zooms instead (tile_images.js);
// both offer zoom_map.js the same methods: draw, cell, overview, cells, complete, fillIn, cancel.

import { pool2 } from "../pyramid.js";
import { levelFor } from "../zoom.js";
import { paintScaled } from "../scales.js";

const SYNC_CELLS = 1 << 20; // a level up to this many cells is coloured in the frame that needs it

export class LevelImages {
  /**
   * values: rows x cols; mask: Uint8Array per column (hidden keys) or null; maxLevel: coarsest
   * level used; signed: pool by |value| (difference maps); nan: values may be NaN (not stored).
   */
  constructor(opts) {
    const { values, rows, cols, mask, table, scale, maskRGB, nanRGB = null, maxLevel, onReady } = opts;
    this.levels = [{ values, rows, cols, mask }];
    this.images = [];
    Object.assign(this, { table, scale, maskRGB, nanRGB, maxLevel, onReady });
    this.signed = Boolean(opts.signed);
    this.nan = Boolean(opts.nan); // values may be NaN (not stored): pooled as pyramid.js pool2 says
    this.timer = null;
  }

  level(l) {
    while (this.levels.length <= l) {
      const p = this.levels[this.levels.length - 1];
      this.levels.push(pool2(p.values, p.rows, p.cols, p.mask, this.signed, this.nan));
    }
    return this.levels[l];
  }

  /** The canvas of level l, coloured now. */
  build(l) {
    if (this.images[l]) return this.images[l];
    const { values, rows, cols, mask } = this.level(l);
    const canvas = document.createElement("canvas");
    canvas.width = cols;
    canvas.height = rows;
    const g = canvas.getContext("2d");
    const image = g.createImageData(cols, rows);
    paintScaled(image.data, values, rows, cols, this.table, this.scale, mask, this.maskRGB, this.nanRGB);
    g.putImageData(image, 0, 0);
    this.images[l] = canvas;
    return canvas;
  }

  /** [level, canvas] to draw for wanted level l: l itself when ready or cheap, else the nearest coarser ready one. */
  pick(l) {
    if (this.images[l]) return [l, this.images[l]];
    const { rows, cols } = this.level(l);
    if (rows * cols <= SYNC_CELLS) return [l, this.build(l)];
    for (let c = l + 1; c <= this.maxLevel; c++) if (this.images[c]) return [c, this.images[c]];
    return [l, this.build(l)];
  }

  /**
   * Draw the view {scale, x0, y0} into the plot box {left, top, plotW, plotH} of `g` (clipped by
   * the caller); returns the level drawn.
   */
  draw(g, v, box) {
    const [lv, image] = this.pick(levelFor(v.scale, this.maxLevel));
    const f = 2 ** lv;
    const sx0 = Math.floor(v.x0 / f);
    const sy0 = Math.floor(v.y0 / f);
    const sx1 = Math.min(image.width, Math.ceil((v.x0 + box.plotW / v.scale) / f));
    const sy1 = Math.min(image.height, Math.ceil((v.y0 + box.plotH / v.scale) / f));
    g.drawImage(
      image,
      sx0,
      sy0,
      sx1 - sx0,
      sy1 - sy0,
      box.left + (sx0 * f - v.x0) * v.scale,
      box.top + (sy0 * f - v.y0) * v.scale,
      (sx1 - sx0) * f * v.scale,
      (sy1 - sy0) * f * v.scale,
    );
    return lv;
  }

  /** The weight of cell (r, c): {value, factor: 1} (every weight is held). */
  cell(r, c) {
    const { values, cols } = this.levels[0];
    return { value: values[r * cols + c], factor: 1 };
  }

  /** The whole map as one image (the minimap's). */
  overview() {
    return this.build(this.maxLevel);
  }

  /** A canvas of the cells `vis` ({r0, r1, c0, c1}), one pixel a cell (exports). */
  cells(vis) {
    const w = vis.c1 - vis.c0;
    const h = vis.r1 - vis.r0;
    const out = document.createElement("canvas");
    out.width = w;
    out.height = h;
    out.getContext("2d").drawImage(this.build(0), vis.c0, vis.r0, w, h, 0, 0, w, h);
    return out;
  }

  /** Whether every level 0..maxLevel is coloured. */
  complete() {
    for (let l = 0; l <= this.maxLevel; l++) if (!this.images[l]) return false;
    return true;
  }

  /** Colour the remaining levels one per task, finest last; onReady() after each. */
  fillIn() {
    clearTimeout(this.timer);
    if (this.complete()) return;
    this.timer = setTimeout(() => {
      let l = this.maxLevel;
      while (l >= 0 && this.images[l]) l--;
      if (l < 0) return;
      this.build(l);
      this.onReady();
      this.fillIn();
    }, 0);
  }

  cancel() {
    clearTimeout(this.timer);
    this.onReady = () => {};
  }
}
