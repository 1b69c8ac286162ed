// The colour images of a zoomable heat map: one canvas per max-pooled level (pyramid.js), made
// when first needed; the finer ones are made in the background after the first frame, so a
// zoom never waits for them (a frame draws the nearest coarser level that is ready).

import { pool2 } from "../pyramid.js";
import { paintScaled } from "../scales.js";

const SYNC_CELLS = 1 << 20; // a level up to this many cells is coloured in the frame that needs it

export class LevelImages {
  /**
   * values: rows x cols; mask: Uint8Array per column (hidden keys) or null; maxLevel: coarsest
   * level used; signed: pool by |value| (difference maps).
   */
  constructor({ values, rows, cols, mask, table, scale, maskRGB, maxLevel, onReady, signed = false }) {
    this.levels = [{ values, rows, cols, mask }];
    this.images = [];
    Object.assign(this, { table, scale, maskRGB, maxLevel, onReady, signed });
    this.timer = null;
  }

  level(l) {
    while (this.levels.length <= l) {
      const p = this.levels[this.levels.length - 1];
      this.levels.push(pool2(p.values, p.rows, p.cols, p.mask, this.signed));
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
    paintScaled(image.data, values, rows, cols, this.table, this.scale, mask, this.maskRGB);
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
