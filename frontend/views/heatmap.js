// One heat map with token labels on both axes and a hover read-out; used by the matrix,
// compare and model views. Cells and labels are drawn on canvas; the read-out is DOM text.

import { el, svg, sizeCanvas, tokenLabel, cssVar } from "../dom.js";
import { heatImage } from "../colors.js";
import { FONT_PX, MIN_LABELLED_CELL, drawAxisLabels, fitText, labelWidth, mapSVGGroup } from "./axis_labels.js";

export class Heatmap {
  /**
   * opts: {title, rowTokens, colTokens, values (Float32Array rows*cols), rows, cols, table, lo, hi,
   *        rowName, colName, digits}
   */
  constructor(opts) {
    this.opts = { rowName: "query", colName: "key", digits: 4, ...opts };
    this.canvas = el("canvas", { class: "hm-canvas" });
    this.overlay = el("canvas", { class: "hm-overlay", "aria-hidden": "true" });
    this.readout = el("div", { class: "hm-readout", role: "status" }, "\u00a0");
    this.element = el(
      "figure",
      { class: "heatmap" },
      el("figcaption", {}, opts.title),
      el("div", { class: "hm-stack" }, this.canvas, this.overlay),
      this.readout,
    );
    this.overlay.addEventListener("mousemove", (e) => this.onMove(e));
    this.overlay.addEventListener("mouseleave", () => this.clearHover());
  }

  draw(maxWidth) {
    const { rows, cols, rowTokens, colTokens, values, table, lo, hi } = this.opts;
    const fontPx = FONT_PX;
    const rowLabelW = labelWidth(rowTokens);
    let cell = Math.floor((maxWidth - rowLabelW - 12) / cols);
    cell = Math.max(1, Math.min(26, cell));
    const labelled = cell >= MIN_LABELLED_CELL;
    if (!labelled) cell = Math.max(1, Math.min(26, Math.floor((maxWidth - 8) / cols)));
    const left = labelled ? Math.ceil(rowLabelW) + 8 : 4;
    const top = labelled ? Math.ceil(labelWidth(colTokens) * 0.75) + 10 : 4;
    const width = left + cols * cell + 4;
    const height = top + rows * cell + 4;
    Object.assign(this, { cell, left, top, width, height, labelled, fontPx });
    // Geometry for tests and benchmarks that point at a given cell.
    Object.assign(this.element.dataset, {
      cell: String(cell),
      left: String(left),
      top: String(top),
      lo: String(lo),
      hi: String(hi),
    });
    const ctx = sizeCanvas(this.canvas, width, height);
    sizeCanvas(this.overlay, width, height);
    ctx.fillStyle = cssVar("--bg") || "#fff";
    ctx.fillRect(0, 0, width, height);
    // Big inputs are pooled to at most 2 source cells per pixel, so a 512x512 map draws fast.
    const image = heatImage(
      values,
      rows,
      cols,
      table,
      lo,
      hi,
      Math.max(rows / 2, rows * cell),
      Math.max(cols / 2, cols * cell),
    );
    this.image = image;
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(image, left, top, cols * cell, rows * cell);
    if (labelled) this.drawLabels(ctx);
  }

  /** Where the labels go (axis_labels.js drawAxisLabels' spec, less the label texts). */
  labelSpec() {
    const { rows, cols } = this.opts;
    return {
      font: Math.min(this.fontPx, this.cell - 1),
      left: this.left,
      top: this.top,
      rows: [0, rows],
      cols: [0, cols],
      rowY: (r) => this.top + (r + 0.5) * this.cell,
      colX: (c) => this.left + (c + 0.5) * this.cell,
    };
  }

  drawLabels(ctx) {
    const { rowTokens, colTokens } = this.opts;
    drawAxisLabels(ctx, {
      ...this.labelSpec(),
      rowText: (r) => fitText(ctx, tokenLabel(rowTokens[r])),
      colText: (c) => fitText(ctx, tokenLabel(colTokens[c])),
    });
  }

  cellAt(event) {
    const rect = this.overlay.getBoundingClientRect();
    const c = Math.floor((event.clientX - rect.left - this.left) / this.cell);
    const r = Math.floor((event.clientY - rect.top - this.top) / this.cell);
    if (r < 0 || c < 0 || r >= this.opts.rows || c >= this.opts.cols) return null;
    return [r, c];
  }

  onMove(event) {
    const at = this.cellAt(event);
    if (!at) return this.clearHover();
    this.showCell(...at);
  }

  showCell(r, c) {
    const { rowTokens, colTokens, values, cols, rowName, colName, digits } = this.opts;
    const value = values[r * cols + c];
    const ctx = this.overlay.getContext("2d");
    ctx.clearRect(0, 0, this.width, this.height);
    ctx.strokeStyle = cssVar("--accent") || "#f57c00";
    ctx.lineWidth = 2;
    ctx.strokeRect(this.left + c * this.cell, this.top + r * this.cell, this.cell, this.cell);
    ctx.globalAlpha = 0.35;
    ctx.lineWidth = 1;
    ctx.strokeRect(this.left, this.top + r * this.cell, this.opts.cols * this.cell, this.cell);
    ctx.strokeRect(this.left + c * this.cell, this.top, this.cell, this.opts.rows * this.cell);
    ctx.globalAlpha = 1;
    const sign = this.opts.lo < 0 && value > 0 ? "+" : "";
    this.readout.textContent =
      `${rowName} \u201c${tokenLabel(rowTokens[r])}\u201d (${r}) \u2192 ${colName} ` +
      `\u201c${tokenLabel(colTokens[c])}\u201d (${c}): ${sign}${value.toFixed(digits)}`;
    this.element.dataset.hover = `${r},${c}`;
    this.element.dataset.value = String(value);
  }

  clearHover() {
    this.overlay.getContext("2d").clearRect(0, 0, this.width, this.height);
    this.readout.textContent = "\u00a0";
    delete this.element.dataset.hover;
  }

  /** The heat map as an SVG group: one embedded image for the cells, text for the labels. */
  toSVGGroup(x, y) {
    const { rows, cols, rowTokens, colTokens, title } = this.opts;
    const image = {
      x: this.left,
      y: this.top,
      width: cols * this.cell,
      height: rows * this.cell,
      href: this.image.toDataURL("image/png"),
    };
    const labels = this.labelled ? { ...this.labelSpec(), rowLabels: rowTokens, colLabels: colTokens } : null;
    return mapSVGGroup(x, y, title, image, labels);
  }
}

/** Lay several heat maps out side by side on one canvas / in one SVG (for exports). */
export function composeCanvas(maps) {
  const gap = 16;
  const width = maps.reduce((s, m) => s + m.width + gap, gap);
  const height = Math.max(...maps.map((m) => m.height)) + 36;
  const canvas = document.createElement("canvas");
  const ctx = sizeCanvas(canvas, width, height);
  ctx.fillStyle = cssVar("--bg") || "#fff";
  ctx.fillRect(0, 0, width, height);
  let x = gap;
  for (const m of maps) {
    ctx.fillStyle = cssVar("--fg") || "#222";
    ctx.font = "600 12px sans-serif";
    ctx.fillText(m.opts.title, x, 18);
    ctx.drawImage(m.canvas, x, 28, m.width, m.height);
    x += m.width + gap;
  }
  return canvas;
}

export function composeSVG(maps) {
  const gap = 16;
  const width = maps.reduce((s, m) => s + m.width + gap, gap);
  const height = Math.max(...maps.map((m) => m.height)) + 36;
  const root = svg("svg", { xmlns: "http://www.w3.org/2000/svg", width, height, viewBox: `0 0 ${width} ${height}` });
  root.append(svg("rect", { width, height, fill: cssVar("--bg") || "#fff" }));
  let x = gap;
  for (const m of maps) {
    root.append(m.toSVGGroup(x, 6));
    x += m.width + gap;
  }
  return root;
}

// The mean of heads lives with the other layer selections; compare_view.js imports it from here.
export { meanOfHeads } from "./layer_data.js";
