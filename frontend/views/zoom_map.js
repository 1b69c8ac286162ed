// A heat map that zooms and pans (wheel, drag, keyboard, double-click; reset), for long inputs:
// cells come from max-pooled colour levels, held whole (zoom_levels.js: any zoom draws one
// drawImage of the visible part) or fetched as tiles for maps too large to hold (tile_images.js);
// token labels appear on the axes once cells are big enough for them; an overview minimap
// shows (and moves) the visible region; hovering reads out a cell.
//
// The DOM and data-* attributes are those of heatmap.js (figure.heatmap, .hm-canvas,
// .hm-overlay, .hm-readout; data-cell = px per cell, data-left / data-top = where cell (0, 0)
// is, so tests can point at any cell at any zoom), plus data-visible "r0,r1,c0,c1" (cells on
// screen), data-row-labels / data-col-labels ("first-last" labelled, "" when none), data-zoom
// (x fit), data-level (log2 of the pooling factor drawn), data-tiles ("1" for a tiled map) and
// data-levels ("complete" once every level is coloured; for tiles, once the view's have arrived).

import { el, sizeCanvas, tokenLabel, cssVar } from "../dom.js";
import { clampView, fitView, levelFor, sameView, visibleCells } from "../zoom.js";
import { levelCount } from "../pyramid.js";
import { FONT_PX, MIN_LABELLED_CELL, drawAxisLabels, fitText, labelMargins, mapSVGGroup } from "./axis_labels.js";
import { ZoomInput } from "./zoom_input.js";
import { LevelImages } from "./zoom_levels.js";
import { TileImages } from "./tile_images.js";

const MAX_FIT_CELL = 26;
const MINIMAP_PX = 150;

export class ZoomMap {
  /**
   * opts: {title, rowName, colName, digits, readout(r, c, value), onPick(r, c), onView(view),
   *        onHover([r, c] | null), minimap (default true)}
   */
  constructor(opts) {
    this.opts = { rowName: "query", colName: "key", digits: 4, minimap: true, ...opts };
    this.canvas = el("canvas", { class: "hm-canvas" });
    this.overlay = el("canvas", {
      class: "hm-overlay",
      tabindex: "0",
      role: "img",
      "aria-label":
        "Attention heat map: wheel or + / - zooms, drag or arrow keys pan, 0 resets; " +
        "shift-click a column hides that key",
    });
    this.mini = el("canvas", { class: "hm-minimap", title: "Overview: click or drag to move the view", hidden: true });
    this.readout = el("div", { class: "hm-readout", role: "status" }, "\u00a0");
    this.caption = el("figcaption", {}, this.opts.title);
    this.side = el("div", { class: "hm-side" }, this.mini);
    this.element = el(
      "figure",
      { class: "heatmap zoomable" },
      this.caption,
      el("div", { class: "hm-row" }, el("div", { class: "hm-stack" }, this.canvas, this.overlay), this.side),
      this.readout,
    );
    // State: the data (setData), the geometry (layout: label gutters left / top, plot and canvas
    // sizes, the fitted view), the view shown, the colour levels, what is hovered, cut labels.
    this.data = null;
    this.keepView = false; // the next layout keeps the view (same grid)
    Object.assign(this, { left: 0, top: 0, plotW: 0, plotH: 0, width: 0, height: 0 });
    this.box = null; // {w, h, rows, cols} of the last layout
    this.fit = null; // the view showing the whole matrix
    this.view = null; // {scale, x0, y0}: px per cell, first column and row shown (zoom.js)
    this.g = null; // the canvas's 2D context; og: the overlay's; mg: the minimap's
    this.og = null;
    this.mg = null;
    this.miniScale = 1; // minimap px per cell
    this.levels = null; // LevelImages (zoom_levels.js) or TileImages (tile_images.js)
    this.pending = 0; // the requested animation frame
    this.hovered = null; // [r, c]
    this.labelCache = new Map();
    this.input = new ZoomInput(this);
  }

  /**
   * data: {values, rows, cols, rowLabels, colLabels, mask (per column) | null, table, scale, maskRGB,
   *        nanRGB, signed (a difference map: pooled by |value|), nan (values may be NaN: not
   *        stored)}; a tiled map has `tiles` (a
   *        tile_images.js source) and `loading` (css colour) instead of values and mask.
   */
  setData(data) {
    if (this.levels) this.levels.cancel();
    const same = this.data && this.data.rows === data.rows && this.data.cols === data.cols;
    this.data = data;
    this.keepView = same;
    this.labelCache.clear();
    if (!same && this.hovered) {
      // The hovered cell may not exist in the new grid.
      this.hovered = null;
      this.readout.textContent = "\u00a0";
      delete this.element.dataset.hover;
    }
  }

  /**
   * Size the map for a box of maxWidth x maxHeight CSS px; keeps the zoom when the grid is the
   * same. Maps that must stay aligned (the compare view's) pass the same `margins`.
   */
  layout(maxWidth, maxHeight, margins = labelMargins(this.data.rowLabels, this.data.colLabels)) {
    const { rows, cols } = this.data;
    const { left, top } = margins;
    const fit = Math.min((maxWidth - left - 4) / cols, (maxHeight - top - 4) / rows);
    const scale = fit >= 1 ? Math.min(MAX_FIT_CELL, Math.floor(fit)) : Math.max(fit, 1e-3);
    const plotW = Math.ceil(cols * scale);
    const plotH = Math.ceil(rows * scale);
    const old = this.box;
    Object.assign(this, { left, top, plotW, plotH, width: left + plotW + 4, height: top + plotH + 4 });
    this.box = { w: plotW, h: plotH, rows, cols };
    this.fit = { scale, x0: 0, y0: 0 };
    const keep = this.keepView && this.view && old && old.w === plotW && old.h === plotH;
    this.view = keep ? this.view : { ...this.fit };
    this.g = sizeCanvas(this.canvas, this.width, this.height);
    this.og = sizeCanvas(this.overlay, this.width, this.height);
    if (this.levels) this.levels.cancel();
    this.levels = this.painter();
    const { scale: colour } = this.data;
    this.element.dataset.lo = String(colour.lo);
    this.element.dataset.hi = String(colour.hi);
    this.element.dataset.scale = colour.kind;
    this.element.dataset.tiles = this.data.tiles ? "1" : "0";
  }

  /** The colour levels of the data: held whole, or tiles fetched as the view moves. */
  painter() {
    const { values, rows, cols, mask, table, scale, maskRGB, nanRGB, signed, nan, tiles, loading } = this.data;
    const onReady = () => this.requestDraw();
    if (tiles) {
      const onError = (e) => (this.readout.textContent = `tiles cannot be read: ${e.message}`);
      return new TileImages({ source: tiles, table, scale, maskRGB, nanRGB, loading, onReady, onError });
    }
    const maxLevel = levelFor(fitView(rows, cols, this.plotW, this.plotH).scale, levelCount(rows, cols));
    const opts = { values, rows, cols, mask, table, scale, maskRGB, nanRGB, signed, nan, maxLevel, onReady };
    return new LevelImages(opts);
  }

  clamp(view) {
    return clampView(view, this.data.rows, this.data.cols, this.plotW, this.plotH);
  }

  setView(view) {
    const next = this.clamp(view);
    if (sameView(next, this.view)) return;
    this.view = next;
    this.requestDraw();
    if (this.opts.onView) this.opts.onView(next);
  }

  reset() {
    this.setView({ ...this.fit });
  }

  zoomed() {
    return !sameView(this.clamp(this.view), this.clamp(this.fit));
  }

  requestDraw() {
    if (this.pending) return;
    this.pending = requestAnimationFrame(() => {
      this.pending = 0;
      this.draw();
    });
  }

  /** Draw the current view; returns after the frame's canvas work (measured as tb-attention:matrix-frame). */
  draw() {
    const start = performance.now();
    const { g, view: v, left, top, plotW, plotH } = this;
    const { rows, cols } = this.data;
    g.fillStyle = cssVar("--bg") || "#fff";
    g.fillRect(0, 0, this.width, this.height);
    g.save();
    g.beginPath();
    g.rect(left, top, Math.min(plotW, (cols - v.x0) * v.scale), Math.min(plotH, (rows - v.y0) * v.scale));
    g.clip();
    g.imageSmoothingEnabled = false;
    const lv = this.levels.draw(g, v, { left, top, plotW, plotH });
    g.restore();
    const vis = visibleCells(v, rows, cols, plotW, plotH);
    const labelled = v.scale >= MIN_LABELLED_CELL;
    if (labelled) this.drawLabels(g, vis);
    this.drawMinimap();
    if (this.hovered) this.showCell(...this.hovered);
    Object.assign(this.element.dataset, {
      cell: String(v.scale),
      left: String(left - v.x0 * v.scale),
      top: String(top - v.y0 * v.scale),
      visible: `${vis.r0},${vis.r1},${vis.c0},${vis.c1}`,
      zoom: (v.scale / this.fit.scale).toFixed(3),
      level: String(lv),
      rowLabels: labelled ? `${vis.r0}-${vis.r1 - 1}` : "",
      colLabels: labelled ? `${vis.c0}-${vis.c1 - 1}` : "",
      levels: this.levels.complete() ? "complete" : "partial",
      gutterLeft: String(left),
      gutterTop: String(top),
    });
    performance.measure("tb-attention:matrix-frame", { start, end: performance.now() });
  }

  /** A label cut to fit, cached (fitText measures it letter by letter). */
  label(axis, i, font) {
    const key = `${axis}${i}:${font}`;
    let text = this.labelCache.get(key);
    if (text == null) {
      const labels = axis === "r" ? this.data.rowLabels : this.data.colLabels;
      text = fitText(this.g, tokenLabel(labels[i]));
      this.labelCache.set(key, text);
    }
    return text;
  }

  /** Where the labels of the visible cells `vis` go (axis_labels.js drawAxisLabels' spec). */
  labelSpec(vis) {
    const v = this.view;
    return {
      font: Math.min(FONT_PX, Math.floor(v.scale) - 1),
      left: this.left,
      top: this.top,
      rows: [vis.r0, vis.r1],
      cols: [vis.c0, vis.c1],
      rowY: (r) => this.top + (r - v.y0 + 0.5) * v.scale,
      colX: (c) => this.left + (c - v.x0 + 0.5) * v.scale,
    };
  }

  drawLabels(g, vis) {
    const spec = this.labelSpec(vis);
    const inside = (at, lo, size) => (at >= lo && at <= lo + size ? at : null);
    drawAxisLabels(g, {
      ...spec,
      // Only labels beside the plot: a cell cut by its edge gets none.
      rowY: (r) => inside(spec.rowY(r), this.top, this.plotH),
      colX: (c) => inside(spec.colX(c), this.left, this.plotW),
      rowText: (r) => this.label("r", r, spec.font),
      colText: (c) => this.label("c", c, spec.font),
    });
  }

  drawMinimap() {
    const zoomed = this.opts.minimap && this.zoomed();
    this.mini.hidden = !zoomed;
    if (!zoomed) return;
    const { rows, cols } = this.data;
    const k = MINIMAP_PX / Math.max(rows, cols);
    const mw = Math.max(8, Math.round(cols * k));
    const mh = Math.max(8, Math.round(rows * k));
    if (!this.mg || this.mini.width !== mw) this.mg = sizeCanvas(this.mini, mw, mh);
    const g = this.mg;
    g.imageSmoothingEnabled = true;
    const overview = this.levels.overview();
    if (overview) g.drawImage(overview, 0, 0, mw, mh);
    const v = this.view;
    g.strokeStyle = cssVar("--accent") || "#f57c00";
    g.lineWidth = 2;
    g.strokeRect(v.x0 * k, v.y0 * k, Math.max(3, (this.plotW / v.scale) * k), Math.max(3, (this.plotH / v.scale) * k));
    this.miniScale = k;
  }

  showCell(r, c) {
    const { rows, cols } = this.data;
    if (!(r >= 0 && r < rows && c >= 0 && c < cols)) {
      this.clearHover();
      return;
    }
    const v = this.view;
    const cell = this.levels.cell(r, c); // null while its tile loads
    const value = cell ? cell.value : NaN;
    const g = this.og;
    g.clearRect(0, 0, this.width, this.height);
    g.save();
    g.beginPath();
    g.rect(this.left, this.top, this.plotW, this.plotH);
    g.clip();
    const x = this.left + (c - v.x0) * v.scale;
    const y = this.top + (r - v.y0) * v.scale;
    g.strokeStyle = cssVar("--accent") || "#f57c00";
    g.lineWidth = 2;
    g.strokeRect(x, y, Math.max(2, v.scale), Math.max(2, v.scale));
    g.globalAlpha = 0.35;
    g.lineWidth = 1;
    g.strokeRect(this.left, y, this.plotW, Math.max(1, v.scale));
    g.strokeRect(x, this.top, Math.max(1, v.scale), this.plotH);
    g.restore();
    this.hovered = [r, c];
    this.readout.textContent = this.opts.readout
      ? this.opts.readout(r, c, value, cell)
      : `${r}, ${c}: ${cell ? value.toFixed(this.opts.digits) : "loading\u2026"}`;
    this.element.dataset.hover = `${r},${c}`;
    this.element.dataset.value = cell ? String(value) : "";
    this.element.dataset.hoverFactor = cell ? String(cell.factor) : "";
    if (this.opts.onHover) this.opts.onHover([r, c]);
  }

  clearHover() {
    this.og.clearRect(0, 0, this.width, this.height);
    const had = this.hovered;
    this.hovered = null;
    this.readout.textContent = "\u00a0";
    delete this.element.dataset.hover;
    if (had && this.opts.onHover) this.opts.onHover(null);
  }

  destroy() {
    if (this.levels) this.levels.cancel();
    cancelAnimationFrame(this.pending);
  }

  /** What is shown as an SVG group: the visible cells as one image (a pixel per cell), labels as text. */
  toSVGGroup(x, y) {
    const v = this.view;
    const vis = visibleCells(v, this.data.rows, this.data.cols, this.plotW, this.plotH);
    const w = vis.c1 - vis.c0;
    const h = vis.r1 - vis.r0;
    const cells = this.levels.cells(vis);
    const image = {
      x: this.left + (vis.c0 - v.x0) * v.scale,
      y: this.top + (vis.r0 - v.y0) * v.scale,
      width: w * v.scale,
      height: h * v.scale,
      href: cells.toDataURL("image/png"),
    };
    const { rowLabels, colLabels } = this.data;
    const labels = v.scale >= MIN_LABELLED_CELL ? { ...this.labelSpec(vis), rowLabels, colLabels } : null;
    return mapSVGGroup(x, y, this.opts.title, image, labels);
  }
}
