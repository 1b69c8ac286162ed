// Model view: every layer x every head as a small heat map in one grid (a single canvas, so a
// 32 x 32 grid scrolls smoothly), drawn from the server's max-pooled thumbnails (/thumbnails: at
// most 64 x 64 per head, whatever the sequence length: 8 MB for 32 x 32 heads). The grid fills
// in layer by layer as the thumbnails stream in. Clicking a cell opens that head in the head
// view or the matrix view (the "Click opens" control; shift- or alt-click opens the other one).

import { el, select, svg, sizeCanvas, cssVar } from "../dom.js";
import { poolFarthest, sequentialScale } from "../colors.js";
import { SCALES, defaultScale, logFloor, makeScale, paintScaled } from "../scales.js";
import { legend } from "./legend.js";
import { HEAD_VIEWS } from "./registry.js";
import { View } from "./view.js";

// What a click on a head may open (registry.js opensHead): name -> "head view", ...
const TARGETS = Object.fromEntries(HEAD_VIEWS.map((v) => [v.name, `${v.label.toLowerCase()} view`]));
const [FIRST, SECOND] = HEAD_VIEWS.map((v) => v.name);

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
  }

  /** The view a click opens: the chosen one ("Click opens"); shift- or alt-click the other one. */
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
    this.layout = null;
    this.renderBar(ctx);
    this.readout.textContent = this.hint();
    const gen = {};
    this.gen = gen;
    const thumbs = await ctx.streamThumbnails(state.step, (l, t) => {
      if (this.gen !== gen || !ctx.current()) return;
      if (!this.layout) this.setup(t, ctx);
      this.drawLayer(l, t);
    });
    if (!ctx.current() || this.gen !== gen) return;
    this.thumbs = thumbs;
    this.root.dataset.bytes = String(thumbs.bytes);
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
        scale ? legend(scale, this.table, "max-pooled weight") : null,
      ].filter(Boolean),
    );
  }

  /** Size the grid for L x H cells and draw the axis labels. */
  setup(thumbs, ctx) {
    const { layers: L, heads: H } = thumbs;
    // Labels by the model's layer and head numbers (a record may hold a subset).
    this.layerIds = ctx.meta.layer_ids || Array.from({ length: L }, (_, l) => l);
    this.headIds = ctx.meta.head_ids || Array.from({ length: H }, (_, h) => h);
    const avail = Math.max(300, this.host.clientWidth - 24);
    const labelW = 34;
    const gap = 4;
    const cell = Math.max(24, Math.min(96, Math.floor((avail - labelW) / Math.max(H, 1)) - gap));
    Object.assign(this, { L, H, labelW, gap, cell, top: 18, layout: true });
    this.width = labelW + H * (cell + gap);
    this.height = this.top + L * (cell + gap);
    const g = sizeCanvas(this.canvas, this.width, this.height);
    this.g = g;
    this.dpr = this.canvas.width / this.width;
    g.fillStyle = cssVar("--bg") || "#fff";
    g.fillRect(0, 0, this.width, this.height);
    g.fillStyle = cssVar("--fg-muted") || "#666";
    g.font = "11px sans-serif";
    g.textBaseline = "middle";
    g.textAlign = "center";
    for (let h = 0; h < H; h++) g.fillText(`H${this.headIds[h]}`, labelW + h * (cell + gap) + cell / 2, 9);
    this.table = sequentialScale(ctx.theme);
    // The matrix view's colour scale when one was chosen; else square root for long inputs (a
    // max-pooled cell holds the largest of many weights: log would saturate them all).
    const kind = SCALES.includes(ctx.state.scale)
      ? ctx.state.scale
      : defaultScale(ctx.meta.shape[3]) === "log"
        ? "sqrt"
        : "linear";
    this.scale = makeScale(
      kind,
      0,
      1,
      kind === "log" ? logFloor(thumbs.data.subarray(0, H * thumbs.rows * thumbs.cols)) : 1e-4,
    );
    this.renderBar(ctx, this.scale);
    this.selected = new Set(ctx.selectedHeads(H));
    // Layout read by tests and benchmarks to click a given cell.
    Object.assign(this.root.dataset, {
      cells: String(L * H),
      cell: String(cell),
      gap: String(gap),
      labelW: String(labelW),
      top: String(this.top),
      layersDrawn: "0",
    });
  }

  /** Draw layer l's row of thumbnails (pooled to the cell's device pixels, so peaks stay). */
  drawLayer(l, thumbs) {
    const { g, cell, gap, labelW, H, dpr } = this;
    const { rows, cols, data } = thumbs;
    const n = rows * cols;
    const y = this.top + l * (cell + gap);
    g.fillStyle = cssVar("--fg-muted") || "#666";
    g.textAlign = "right";
    g.fillText(`L${this.layerIds[l]}`, labelW - 6, y + cell / 2);
    const px = Math.round(cell * dpr);
    const pooled = px <= Math.min(rows, cols);
    const image = pooled ? g.createImageData(px, px) : g.createImageData(cols, rows);
    for (let h = 0; h < H; h++) {
      const x = labelW + h * (cell + gap);
      const offset = (l * H + h) * n;
      if (pooled) {
        paintScaled(image.data, poolFarthest(data, rows, cols, px, px, 0, 1, offset), px, px, this.table, this.scale);
        g.putImageData(image, Math.round(x * dpr), Math.round(y * dpr));
      } else {
        // Short records: fewer cells than pixels, scaled up with smoothing off.
        paintScaled(image.data, data.subarray(offset, offset + n), rows, cols, this.table, this.scale);
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
    if (!this.layout) return null;
    const rect = this.canvas.getBoundingClientRect();
    const x = event.clientX - rect.left - this.labelW;
    const y = event.clientY - rect.top - this.top;
    const h = Math.floor(x / (this.cell + this.gap));
    const l = Math.floor(y / (this.cell + this.gap));
    if (h < 0 || l < 0 || h >= this.H || l >= this.L) return null;
    return [l, h];
  }

  onMove(event) {
    const at = this.cellAt(event);
    this.canvas.style.cursor = at ? "pointer" : "default";
    this.readout.textContent = at
      ? `Layer ${this.layerIds[at[0]]}, head ${this.headIds[at[1]]}: click to open in the ` +
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
    const root = svg("svg", {
      xmlns: "http://www.w3.org/2000/svg",
      width: this.width,
      height: this.height,
      viewBox: `0 0 ${this.width} ${this.height}`,
    });
    root.append(svg("rect", { width: this.width, height: this.height, fill: cssVar("--bg") || "#fff" }));
    const labels = svg("g", { fill: cssVar("--fg-muted") || "#666", style: "font: 11px sans-serif" });
    for (let h = 0; h < this.H; h++) {
      labels.append(
        svg(
          "text",
          { x: this.labelW + h * (this.cell + this.gap) + this.cell / 2, y: 12, "text-anchor": "middle" },
          `H${this.headIds[h]}`,
        ),
      );
    }
    for (let l = 0; l < this.L; l++) {
      labels.append(
        svg(
          "text",
          { x: this.labelW - 6, y: this.top + l * (this.cell + this.gap) + this.cell / 2 + 4, "text-anchor": "end" },
          `L${this.layerIds[l]}`,
        ),
      );
    }
    root.append(labels);
    const { rows, cols, data } = this.thumbs;
    const out = Math.min(this.cell, rows, cols);
    const image = document.createElement("canvas");
    image.width = image.height = out;
    const ig = image.getContext("2d");
    const pixels = ig.createImageData(out, out);
    for (let l = 0; l < this.L; l++) {
      for (let h = 0; h < this.H; h++) {
        paintScaled(
          pixels.data,
          poolFarthest(data, rows, cols, out, out, 0, 1, (l * this.H + h) * rows * cols),
          out,
          out,
          this.table,
          this.scale,
        );
        ig.putImageData(pixels, 0, 0);
        root.append(
          svg("image", {
            x: this.labelW + h * (this.cell + this.gap),
            y: this.top + l * (this.cell + this.gap),
            width: this.cell,
            height: this.cell,
            href: image.toDataURL("image/png"),
            preserveAspectRatio: "none",
          }),
        );
      }
    }
    return root;
  }
}
