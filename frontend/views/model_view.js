// Model view: every layer x every head as a small heat map in one grid (a single canvas, so a
// 32 x 32 grid scrolls smoothly), drawn from the server's max-pooled thumbnails (/thumbnails: at
// most 64 x 64 per head, whatever the sequence length); clicking a cell opens that head.

import { el, svg, sizeCanvas, cssVar } from "../dom.js";
import { heatImage, sequentialScale } from "../colors.js";
import { View } from "./view.js";

export class ModelView extends View {
  constructor(host) {
    super(host, "model-view");
    this.readout = el("div", { class: "hm-readout", role: "status" }, "Click a head to open it in the head view.");
    this.canvas = el("canvas", { class: "mv-canvas", tabindex: "0", "aria-label": "Every layer and head; click one to open it" });
    this.root.append(this.readout, this.canvas);
    this.canvas.addEventListener("mousemove", (e) => this.onMove(e));
    this.canvas.addEventListener("click", (e) => this.onClick(e));
  }

  async render(ctx) {
    const { state } = ctx;
    const thumbs = await ctx.thumbnails(state.step);
    if (!ctx.current()) return;
    this.ctx = ctx;
    const { layers: L, heads: H, rows, cols, data } = thumbs;
    // Labels by the model's layer and head numbers (a record may hold a subset).
    const layerIds = ctx.meta.layer_ids || Array.from({ length: L }, (_, l) => l);
    const headIds = ctx.meta.head_ids || Array.from({ length: H }, (_, h) => h);
    this.layerIds = layerIds;
    this.headIds = headIds;
    const avail = Math.max(300, this.host.clientWidth - 24);
    const labelW = 34;
    const gap = 4;
    this.cell = Math.max(24, Math.min(96, Math.floor((avail - labelW) / Math.max(H, 1)) - gap));
    Object.assign(this, { L, H, labelW, gap, top: 18 });
    const width = labelW + H * (this.cell + gap);
    const height = this.top + L * (this.cell + gap);
    this.width = width;
    this.height = height;
    const g = sizeCanvas(this.canvas, width, height);
    g.fillStyle = cssVar("--bg") || "#fff";
    g.fillRect(0, 0, width, height);
    g.fillStyle = cssVar("--fg-muted") || "#666";
    g.font = "11px sans-serif";
    g.textBaseline = "middle";
    g.textAlign = "center";
    for (let h = 0; h < H; h++) g.fillText(`H${headIds[h]}`, labelW + h * (this.cell + gap) + this.cell / 2, 9);
    g.textAlign = "right";
    const table = sequentialScale(ctx.theme);
    const selected = new Set(ctx.selectedHeads(H));
    g.imageSmoothingEnabled = false;
    this.images = [];
    const n = rows * cols;
    for (let l = 0; l < L; l++) {
      const y = this.top + l * (this.cell + gap);
      g.fillStyle = cssVar("--fg-muted") || "#666";
      g.fillText(`L${layerIds[l]}`, labelW - 6, y + this.cell / 2);
      for (let h = 0; h < H; h++) {
        const x = labelW + h * (this.cell + gap);
        const image = heatImage(data, rows, cols, table, 0, 1, this.cell, this.cell, (l * H + h) * n);
        this.images.push([l, h, image]);
        g.drawImage(image, x, y, this.cell, this.cell);
        if (l === state.layer && selected.has(h)) {
          g.strokeStyle = cssVar("--accent") || "#f57c00";
          g.lineWidth = 2;
          g.strokeRect(x - 1, y - 1, this.cell + 2, this.cell + 2);
        }
      }
    }
    // Layout read by tests and benchmarks to click a given cell.
    Object.assign(this.root.dataset, { cells: String(L * H), cell: String(this.cell), gap: String(gap), labelW: String(labelW), top: String(this.top) });
    performance.mark("tb-attention:model-view-drawn");
  }

  cellAt(event) {
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
    this.readout.textContent = at ? `Layer ${this.layerIds[at[0]]}, head ${this.headIds[at[1]]}: click to open in the head view` : "Click a head to open it in the head view.";
  }

  onClick(event) {
    const at = this.cellAt(event);
    if (at) this.ctx.setState({ view: "head", layer: at[0], heads: [at[1]] });
  }

  toCanvas() {
    return this.canvas;
  }

  toSVG() {
    const root = svg("svg", { xmlns: "http://www.w3.org/2000/svg", width: this.width, height: this.height, viewBox: `0 0 ${this.width} ${this.height}` });
    root.append(svg("rect", { width: this.width, height: this.height, fill: cssVar("--bg") || "#fff" }));
    const labels = svg("g", { fill: cssVar("--fg-muted") || "#666", style: "font: 11px sans-serif" });
    for (let h = 0; h < this.H; h++) {
      labels.append(svg("text", { x: this.labelW + h * (this.cell + this.gap) + this.cell / 2, y: 12, "text-anchor": "middle" }, `H${this.headIds[h]}`));
    }
    for (let l = 0; l < this.L; l++) {
      labels.append(svg("text", { x: this.labelW - 6, y: this.top + l * (this.cell + this.gap) + this.cell / 2 + 4, "text-anchor": "end" }, `L${this.layerIds[l]}`));
    }
    root.append(labels);
    for (const [l, h, image] of this.images) {
      root.append(svg("image", {
        x: this.labelW + h * (this.cell + this.gap), y: this.top + l * (this.cell + this.gap),
        width: this.cell, height: this.cell, href: image.toDataURL("image/png"), preserveAspectRatio: "none",
      }));
    }
    return root;
  }
}
