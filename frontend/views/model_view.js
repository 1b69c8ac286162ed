// Model view: every layer x every head as a small heat map in one grid (a single canvas, so a
// 32 x 32 grid scrolls smoothly), drawn from the server's max-pooled thumbnails (/thumbnails: at
// most 64 x 64 per head, whatever the sequence length: 8 MB for 32 x 32 heads). The grid fills
// in layer by layer as the thumbnails stream in. Clicking a cell opens that head in the head
// view or the matrix view (the "Click opens" control; shift- or alt-click opens the other one).
// The model's structure where the record holds it (model_grid.js): heads that read one KV head
// side by side under a "KV n" bracket, apart from the next group; windowed layers say their window.

import { el, select, svg, sizeCanvas, cssVar } from "../dom.js";
import { poolFarthest, sequentialScale } from "../colors.js";
import { SCALES, defaultScale, logFloor, makeScale, paintScaled } from "../scales.js";
import { importanceAt, headImportance, importanceText } from "./importance.js";
import { legend } from "./legend.js";
import { drawImportance } from "./model_importance.js";
import { cellName, gridLabels, gridRules, modelGrid } from "./model_grid.js";
import { HEAD_VIEWS } from "./registry.js";
import { View } from "./view.js";

// What a click on a head may open (registry.js opensHead): name -> "head view", ...
const TARGETS = Object.fromEntries(HEAD_VIEWS.map((v) => [v.name, `${v.label.toLowerCase()} view`]));
const [FIRST, SECOND] = HEAD_VIEWS.map((v) => v.name);

/** The colour scale of the thumbnails: the matrix view's when chosen, else linear (sqrt when long). */
function thumbScale(state, meta, thumbs) {
  // Square root for long inputs: a max-pooled cell holds the largest of many weights, log would
  // saturate them all.
  const byLength = defaultScale(meta.shape[3]) === "log" ? "sqrt" : "linear";
  const kind = SCALES.includes(state.scale) ? state.scale : byLength;
  const first = thumbs.data.subarray(0, thumbs.heads * thumbs.rows * thumbs.cols);
  return makeScale(kind, 0, 1, kind === "log" ? logFloor(first) : 1e-4);
}

export class ModelView extends View {
  constructor(host) {
    super(host, "model-view");
    this.bar = el("div", { class: "model-bar" });
    this.readout = el("div", { class: "hm-readout", role: "status" }, "\u00a0");
    this.canvas = el("canvas", {
      class: "mv-canvas",
      tabindex: "0",
      "aria-label": "Every layer and head; click one to open it",
    });
    this.root.append(this.bar, this.readout, this.canvas);
    this.canvas.addEventListener("mousemove", (e) => this.onMove(e));
    this.canvas.addEventListener("click", (e) => this.onClick(e));
    // The view's state (set by render; the grid once the first layer's thumbnails arrive):
    this.ctx = null; // the render's context
    this.gen = null; // the render whose thumbnails are drawn (a newer one ignores an older stream)
    this.grid = null; // ModelGrid: where each head's cell is
    this.colours = null; // {table, scale}: how weights are coloured
    this.selected = new Set(); // heads outlined in the shown layer
    this.g = null; // the canvas's 2D context
    this.dpr = 1; // canvas pixels per CSS px
    this.drawn = 0; // layers drawn
    this.thumbs = null; // every thumbnail, once all arrived (for SVG export)
    this.importance = null; // the step's head importance (views/importance.js), when logged
  }

  target(event = null) {
    const chosen = this.ctx && this.ctx.state.open in TARGETS ? this.ctx.state.open : FIRST;
    if (event && (event.shiftKey || event.altKey)) return chosen === FIRST ? SECOND : FIRST;
    return chosen;
  }

  hint() {
    const t = this.target();
    const other = t === FIRST ? SECOND : FIRST;
    return `Click a head to open it in the ${TARGETS[t]} (shift-click: the ${TARGETS[other]}).`;
  }

  async render(ctx) {
    const { state } = ctx;
    this.ctx = ctx;
    this.drawn = 0;
    this.grid = null;
    this.renderBar(ctx);
    this.readout.textContent = this.hint();
    const gen = {};
    this.gen = gen;
    const importance = ctx.importance().catch(() => null); // beside the thumbnails, not before them
    const thumbs = await ctx.streamThumbnails(state.step, (l, t) => {
      if (this.gen !== gen || !ctx.current()) return;
      if (!this.grid) this.setup(t, ctx);
      this.drawLayer(l, t);
    });
    this.importance = importanceAt(await importance, state.step);
    if (!ctx.current() || this.gen !== gen) return;
    this.thumbs = thumbs;
    this.root.dataset.bytes = String(thumbs.bytes);
    const marked = this.importance && this.grid ? drawImportance(this.g, this.grid, this.importance) : 0;
    this.root.dataset.importanceStep = marked ? String(this.importance.step) : "";
    if (marked) {
      const key = `Bar under each head: its importance (step ${this.importance.step}, normalised per layer)`;
      this.bar.append(el("span", { class: "bar-label importance-key" }, key));
    }
    performance.mark("tb-attention:model-view-drawn");
  }

  renderBar(ctx, scale = null) {
    this.bar.replaceChildren(
      ...[
        el(
          "label",
          { class: "field" },
          "Click opens",
          select(Object.entries(TARGETS), this.target(), (v) => ctx.setState({ open: v === FIRST ? null : v }), {
            class: "open-select",
            "aria-label": "What clicking a head opens",
          }),
        ),
        scale ? legend(scale, this.colours.table, "max-pooled weight") : null,
      ].filter(Boolean),
    );
  }

  /** Size the grid for the thumbnails' L x H cells and draw the head labels. */
  setup(thumbs, ctx) {
    const grid = modelGrid(thumbs.layers, thumbs.heads, ctx.meta, this.host.clientWidth);
    this.grid = grid;
    this.g = sizeCanvas(this.canvas, grid.width, grid.height);
    this.dpr = this.canvas.width / grid.width;
    const g = this.g;
    g.fillStyle = cssVar("--bg") || "#fff";
    g.fillRect(0, 0, grid.width, grid.height);
    g.strokeStyle = cssVar("--border") || "#ccc";
    g.lineWidth = 1;
    for (const [x0, y0, x1, y1] of gridRules(grid)) {
      g.beginPath();
      g.moveTo(x0, y0);
      g.lineTo(x1, y1);
      g.stroke();
    }
    this.colours = { table: sequentialScale(ctx.theme), scale: thumbScale(ctx.state, ctx.meta, thumbs) };
    this.renderBar(ctx, this.colours.scale);
    this.drawLabels();
    this.selected = new Set(ctx.selectedHeads(grid.H));
    // Layout read by tests and benchmarks to click a given cell.
    Object.assign(this.root.dataset, {
      cells: String(grid.L * grid.H),
      cell: String(grid.cell),
      gap: String(grid.gap),
      labelW: String(grid.labelW),
      top: String(grid.top),
      xs: grid.xs.join(","),
      kvGroups: grid.groups ? grid.groups.map((x) => `${x.kv}:${x.heads.join(",")}`).join(";") : "",
      windows: grid.windows.map((w) => (w == null ? "" : String(w))).join(","),
      layersDrawn: "0",
    });
  }

  /** Labels of the grid's heads and KV groups (all), and of layer `l` (or of every layer). */
  drawLabels(l = null) {
    const g = this.g;
    g.fillStyle = cssVar("--fg-muted") || "#666";
    g.textBaseline = "middle";
    for (const label of gridLabels(this.grid)) {
      if (label.layer !== l) continue;
      g.font = label.small ? "10px sans-serif" : "11px sans-serif";
      g.textAlign = label.align;
      g.fillText(label.text, label.x, label.y);
    }
  }

  /** Draw layer l's row of thumbnails (pooled to the cell's device pixels, so peaks stay). */
  drawLayer(l, thumbs) {
    const { g, dpr, grid } = this;
    const { cell } = grid;
    const { table, scale } = this.colours;
    const { rows, cols, data } = thumbs;
    const n = rows * cols;
    const y = grid.y(l);
    this.drawLabels(l);
    const px = Math.round(cell * dpr);
    const pooled = px <= Math.min(rows, cols);
    const image = pooled ? g.createImageData(px, px) : g.createImageData(cols, rows);
    for (let h = 0; h < grid.H; h++) {
      const x = grid.x(h);
      const offset = (l * grid.H + h) * n;
      if (pooled) {
        paintScaled(image.data, poolFarthest(data, rows, cols, px, px, 0, 1, offset), px, px, table, scale);
        g.putImageData(image, Math.round(x * dpr), Math.round(y * dpr));
      } else {
        // Short records: fewer cells than pixels, scaled up with smoothing off.
        paintScaled(image.data, data.subarray(offset, offset + n), rows, cols, table, scale);
        const small = document.createElement("canvas");
        small.width = cols;
        small.height = rows;
        small.getContext("2d").putImageData(image, 0, 0);
        g.imageSmoothingEnabled = false;
        g.drawImage(small, x, y, cell, cell);
      }
      if (l === this.ctx.state.layer && this.selected.has(h)) {
        g.strokeStyle = cssVar("--accent") || "#f57c00";
        g.lineWidth = 2;
        g.strokeRect(x - 1, y - 1, cell + 2, cell + 2);
      }
    }
    this.drawn = l + 1;
    this.root.dataset.layersDrawn = String(this.drawn);
  }

  cellAt(event) {
    if (!this.grid) return null;
    const rect = this.canvas.getBoundingClientRect();
    return this.grid.at(event.clientX - rect.left, event.clientY - rect.top);
  }

  onMove(event) {
    const at = this.cellAt(event);
    this.canvas.style.cursor = at ? "pointer" : "default";
    const { layerIds, headIds } = this.grid || {};
    const importance = at && this.importance ? headImportance(this.importance, layerIds[at[0]], headIds[at[1]]) : null;
    const mark = importance == null ? "" : `, ${importanceText(this.importance, importance)}`;
    this.readout.textContent = at
      ? `${cellName(this.grid, at[0], at[1])}${mark}: click to open in the ` +
        `${TARGETS[this.target()]}, shift-click: the ${TARGETS[this.target({ shiftKey: true })]}`
      : this.hint();
  }

  onClick(event) {
    const at = this.cellAt(event);
    if (at) this.ctx.openHead(at[0], at[1], { view: this.target(event) });
  }

  toCanvas() {
    return this.canvas;
  }

  toSVG() {
    if (!this.thumbs) return null;
    const grid = this.grid;
    const { width, height } = grid;
    const root = svg("svg", { xmlns: "http://www.w3.org/2000/svg", width, height, viewBox: `0 0 ${width} ${height}` });
    root.append(svg("rect", { width, height, fill: cssVar("--bg") || "#fff" }));
    const labels = svg("g", { fill: cssVar("--fg-muted") || "#666", style: "font: 11px sans-serif" });
    const anchor = { center: "middle", right: "end" };
    for (const { text, x, y, align, small } of gridLabels(grid)) {
      const at = { x, y: y + 4, "text-anchor": anchor[align], style: small ? "font-size: 10px" : null };
      labels.append(svg("text", at, text));
    }
    for (const [x1, y1, x2, y2] of gridRules(grid)) {
      root.append(svg("line", { x1, y1, x2, y2, stroke: cssVar("--border") || "#ccc" }));
    }
    root.append(labels);
    this.appendSVGCells(root);
    return root;
  }

  /** Every head's thumbnail as an image in its cell. */
  appendSVGCells(root) {
    const grid = this.grid;
    const { table, scale } = this.colours;
    const { rows, cols, data } = this.thumbs;
    const out = Math.min(grid.cell, rows, cols);
    const image = document.createElement("canvas");
    image.width = image.height = out;
    const ig = image.getContext("2d");
    const pixels = ig.createImageData(out, out);
    for (let l = 0; l < grid.L; l++) {
      for (let h = 0; h < grid.H; h++) {
        const pooled = poolFarthest(data, rows, cols, out, out, 0, 1, (l * grid.H + h) * rows * cols);
        paintScaled(pixels.data, pooled, out, out, table, scale);
        ig.putImageData(pixels, 0, 0);
        const href = image.toDataURL("image/png");
        const at = { x: grid.x(h), y: grid.y(l), width: grid.cell, height: grid.cell };
        root.append(svg("image", { ...at, href, preserveAspectRatio: "none" }));
      }
    }
  }
}
