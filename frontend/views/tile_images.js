// The colour images of a zoomable heat map too large to hold in the tab: tiles of max-pooled cells
// (tiles.js) at the power-of-two factor that matches the zoom, fetched as the view moves (the
// whole map's coarsest tile first: the minimap, and what a frame shows while finer tiles load),
// coloured once each and kept, with their cells, within a count (so the tab's memory stays
// bounded however long the record). A tile the view has left is let go (its fetch aborted if
// nobody else waits for it). Until a tile arrives its place shows the nearest coarser tile at
// hand under a hatch ("loading": never read as a value). The same methods as zoom_levels.js.

import { paintScaled } from "../scales.js";
import { levelFor, visibleCells } from "../zoom.js";
import { TILE, gridAt, tilePlan, tileShape, tileSpan, topFactor } from "../tiles.js";

const KEPT = 64; // coloured tiles kept (values and canvas: 512 KB each at most)
const SETTLE_MS = 120; // a view that moved again within this is still moving: its tiles wait

function sameKeys(a, b) {
  if (a.size !== b.size) return false;
  for (const k of a) if (!b.has(k)) return false;
  return true;
}

/** A hatch pattern of `colour` lines (the cells still loading). */
function hatch(g, colour) {
  const c = document.createElement("canvas");
  c.width = c.height = 8;
  const p = c.getContext("2d");
  p.strokeStyle = colour;
  p.lineWidth = 2;
  p.beginPath();
  p.moveTo(0, 8);
  p.lineTo(8, 0);
  p.stroke();
  return g.createPattern(c, "repeat");
}

export class TileImages {
  /**
   * source: {rows, cols, finest, detail, tile(f, i, j) -> {promise (of {data: Float32Array, mask:
   * Uint8Array per column | null, ...}), release}} (tile_sources.js; `finest`: the finest stored
   * pooled factor, `detail`: [first, end) rows kept in detail, or null); table, scale, maskRGB,
   * nanRGB, loading (css colour); onReady() after each tile; onError(error).
   */
  constructor({ source, table, scale, maskRGB, nanRGB, loading, onReady, onError = () => {} }) {
    Object.assign(this, { source, table, scale, maskRGB, nanRGB, loading, onReady, onError });
    this.rows = source.rows;
    this.cols = source.cols;
    this.top = topFactor(this.rows, this.cols);
    this.maxLevel = Math.log2(this.top);
    this.kept = new Map(); // key -> {canvas, data, mask, mass, f, i, j, rows, cols}; order is recency
    this.pending = new Map(); // key -> release()
    this.wanted = new Set(); // keys of the tiles the view shows now
    this.failed = new Set(); // keys whose fetch failed: not asked again by this map
    this.shown = this.top; // the factor last drawn
    this.pattern = null;
    this.waiters = []; // whenComplete()'s
    this.wantedAt = null; // when the tiles wanted last changed
    this.settleTimer = null;
    this.request(this.top, 0, 0); // the whole map, coarsest: minimap and fallback
  }

  key(f, i, j) {
    return `${f}:${i}:${j}`;
  }

  /** The factor for a view's scale: each cell at least one pixel, as zoom_levels.js picks levels. */
  factorFor(scale) {
    return 2 ** levelFor(scale, this.maxLevel);
  }

  /** The tiles of the view at factor f over `vis` (tiles.js tilePlan). */
  plan(f, vis) {
    const { rows, cols } = this;
    return tilePlan(vis, f, { rows, cols, finest: this.source.finest, detail: this.source.detail });
  }

  /** Whether rows of tiles of factor f outside the detail are left transparent (drawn from a coarser level). */
  overzoomed(f) {
    const { finest, detail } = this.source;
    return Boolean(detail && finest && f < finest);
  }

  request(f, i, j) {
    const key = this.key(f, i, j);
    if (this.kept.has(key) || this.pending.has(key) || this.failed.has(key)) return;
    const { promise, release } = this.source.tile(f, i, j);
    this.pending.set(key, release);
    promise.then(
      (tile) => {
        if (this.pending.get(key) !== release) return; // let go meanwhile
        this.pending.delete(key);
        release();
        this.keep(key, f, i, j, tile);
        this.onReady();
      },
      (error) => {
        if (this.pending.get(key) !== release) return;
        this.pending.delete(key);
        if (error.name === "AbortError") return;
        this.failed.add(key);
        this.onError(error);
        this.settle((w) => w.reject(error));
      },
    );
  }

  /** Colour a tile that arrived and keep it (the least recently drawn past KEPT go). */
  keep(key, f, i, j, tile) {
    const [rows, cols] = tileShape(this.rows, this.cols, f, i, j);
    const canvas = document.createElement("canvas");
    canvas.width = cols;
    canvas.height = rows;
    const g = canvas.getContext("2d");
    const image = g.createImageData(cols, rows);
    const { data, mask } = tile;
    paintScaled(image.data, data, rows, cols, this.table, this.scale, mask, this.maskRGB, this.nanRGB);
    if (this.overzoomed(f)) this.clearOutside(image.data, tileSpan(this.rows, this.cols, f, i, j).q0, f, rows, cols);
    g.putImageData(image, 0, 0);
    this.kept.set(key, { ...tile, canvas, f, i, j, rows, cols });
    const topKey = this.key(this.top, 0, 0);
    for (const k of this.kept.keys()) {
      if (this.kept.size <= KEPT) break;
      if (k !== topKey && !this.wanted.has(k)) this.kept.delete(k);
    }
  }

  /** Make the cells of rows outside the detail transparent (a coarser level shows there). */
  clearOutside(px, q0, f, rows, cols) {
    const [d0, d1] = this.source.detail;
    for (let r = 0; r < rows; r++) {
      const first = q0 + r * f;
      if (first + f > d0 && first < d1) continue; // holds a detail row
      for (let c = 0; c < cols; c++) px[4 * (r * cols + c) + 3] = 0;
    }
  }

  /**
   * Ask for the tiles of `plan`; let go of those no longer shown. While the view keeps moving
   * (another plan less than SETTLE_MS after the last), new tiles wait until it rests: a zoom
   * through many levels asks for the last one's, not for every level passed on the way (each
   * would cost the server a read of the detail).
   */
  want(plan) {
    const wanted = new Set([this.key(this.top, 0, 0)]);
    const order = [[this.top, 0, 0]];
    for (const { f, tiles } of plan) {
      for (const [i, j] of tiles) {
        wanted.add(this.key(f, i, j));
        order.push([f, i, j]);
      }
    }
    for (const [key, release] of this.pending) {
      if (wanted.has(key)) continue;
      this.pending.delete(key);
      release();
    }
    const now = performance.now();
    const moving = this.wantedAt != null && now - this.wantedAt < SETTLE_MS && !sameKeys(wanted, this.wanted);
    if (!sameKeys(wanted, this.wanted)) this.wantedAt = now;
    this.wanted = wanted;
    clearTimeout(this.settleTimer);
    const ask = () => order.forEach(([f, i, j]) => this.request(f, i, j));
    if (moving) this.settleTimer = setTimeout(ask, SETTLE_MS);
    else ask();
  }

  /** Screen rectangle of tile (i, j) of factor f in view v: [x, y, w, h]. */
  rect(v, box, f, i, j) {
    const s = tileSpan(this.rows, this.cols, f, i, j);
    const [rows, cols] = tileShape(this.rows, this.cols, f, i, j);
    return [
      box.left + (s.k0 - v.x0) * v.scale,
      box.top + (s.q0 - v.y0) * v.scale,
      cols * f * v.scale,
      rows * f * v.scale,
    ];
  }

  /** The nearest coarser kept tile covering tile (i, j) of factor f, or null. */
  fallback(f, i, j) {
    for (let g = 2 * f; g <= this.top; g *= 2) {
      const tile = this.kept.get(this.key(g, Math.floor((i * f) / g), Math.floor((j * f) / g)));
      if (tile) return tile;
    }
    return null;
  }

  /** Draw the view (as zoom_levels.js draw), asking for its tiles; returns the level (log2 of the factor) drawn. */
  draw(g, v, box) {
    const f = this.factorFor(v.scale);
    const plan = this.plan(f, visibleCells(v, this.rows, this.cols, box.plotW, box.plotH));
    this.want(plan);
    this.shown = f;
    this.paint(g, v, box, plan);
    if (this.complete()) this.settle((w) => w.resolve());
    return Math.log2(f);
  }

  /** A promise settled once a frame has drawn every tile of the view (rejected if one fails). */
  whenComplete() {
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  settle(how) {
    const waiters = this.waiters;
    this.waiters = [];
    waiters.forEach(how);
  }

  /** Draw the kept tiles of `plan`; for the others the nearest coarser kept tile, hatched. */
  paint(g, v, box, plan) {
    g.imageSmoothingEnabled = false;
    const missing = [];
    for (const { f, tiles } of plan) {
      for (const [i, j] of tiles) {
        const key = this.key(f, i, j);
        const tile = this.kept.get(key);
        const at = this.rect(v, box, f, i, j);
        if (tile) {
          this.kept.delete(key); // most recently drawn last
          this.kept.set(key, tile);
          g.drawImage(tile.canvas, ...at);
          continue;
        }
        missing.push(at);
        const under = this.fallback(f, i, j);
        if (!under) continue;
        g.save();
        g.beginPath();
        g.rect(...at);
        g.clip();
        g.drawImage(under.canvas, ...this.rect(v, box, under.f, under.i, under.j));
        g.restore();
      }
    }
    if (missing.length) {
      this.pattern = this.pattern || hatch(g, this.loading);
      g.fillStyle = this.pattern;
      for (const at of missing) g.fillRect(...at);
    }
  }

  /**
   * What the map shows at cell (r, c) (weights): {value (NaN: not stored), factor, tile, row, col,
   * coarser (drawn from a coarser stored level: no detail there)}, or null while its tile loads.
   */
  cell(r, c) {
    let f = this.shown;
    const detail = this.source.detail;
    const coarser = this.overzoomed(f) && (r < detail[0] || r >= detail[1]);
    if (coarser) f = this.source.finest;
    const i = Math.floor(r / (TILE * f));
    const j = Math.floor(c / (TILE * f));
    const tile = this.kept.get(this.key(f, i, j));
    if (!tile) return null;
    const row = Math.floor(r / f) - i * TILE;
    const col = Math.floor(c / f) - j * TILE;
    return { value: tile.data[row * tile.cols + col], factor: f, tile, row, col, coarser };
  }

  /** The whole map as one image (the coarsest tile), or null before it arrives. */
  overview() {
    const tile = this.kept.get(this.key(this.top, 0, 0));
    return tile ? tile.canvas : null;
  }

  /** A canvas of the cells `vis` at the factor last drawn (a pixel a pooled cell; exports). */
  cells(vis) {
    const f = this.shown;
    const [gr, gc] = gridAt(this.rows, this.cols, f);
    const r0 = Math.floor(vis.r0 / f);
    const c0 = Math.floor(vis.c0 / f);
    const out = document.createElement("canvas");
    out.width = Math.max(1, Math.min(gc, Math.ceil(vis.c1 / f)) - c0);
    out.height = Math.max(1, Math.min(gr, Math.ceil(vis.r1 / f)) - r0);
    const v = { scale: 1 / f, x0: c0 * f, y0: r0 * f };
    this.paint(out.getContext("2d"), v, { left: 0, top: 0 }, this.plan(f, vis));
    return out;
  }

  /** Whether every tile the view shows has arrived. */
  complete() {
    for (const key of this.wanted) if (!this.kept.has(key)) return false;
    return true;
  }

  fillIn() {} // tiles come as they are fetched

  cancel() {
    clearTimeout(this.settleTimer);
    for (const release of this.pending.values()) release();
    this.pending.clear();
    this.settle((w) => w.resolve()); // a newer render goes on
    this.onReady = () => {};
    this.onError = () => {};
  }
}
