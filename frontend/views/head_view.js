// Head view (as in bertviz): two columns of tokens, a line from each query token (left, the
// position being updated) to each key token (right, the position attended to), one colour per
// head, opacity and width following the weight. Tokens are DOM text; lines are on canvas so 512
// tokens x 12 heads stays interactive: a full paint skips invisible lines, a hover only redraws
// the hovered token's lines on an overlay canvas.

import { el, svg, sizeCanvas, tokenLabel, cssVar } from "../dom.js";
import { headColor } from "../colors.js";

export const LINE_THRESHOLD = 0.02; // below this a line's opacity is not visible: skip it
export const HOVER_THRESHOLD = 0.01; // one token's lines are few: show fainter ones too
const BUCKETS = 20; // lines batched into opacity buckets: one stroke() per head per bucket
const FILTER_LABELS = { all: "All", aa: "A\u2192A", bb: "B\u2192B", ab: "A\u2192B", ba: "B\u2192A" };

/** Row ranges [start, end) of the shown queries and keys for a sentence filter. */
export function filterRanges(filter, queries, keys, sentenceB) {
  if (sentenceB == null || filter === "all" || queries !== keys) {
    return { q: [0, queries], k: [0, keys] };
  }
  const a = [0, sentenceB];
  const b = [sentenceB, queries];
  const pick = { aa: [a, a], bb: [b, b], ab: [a, b], ba: [b, a] }[filter] || [[0, queries], [0, keys]];
  return { q: pick[0], k: pick[1] };
}

export class HeadView {
  constructor(host) {
    this.host = host;
    this.root = el("div", { class: "head-view" });
    this.filterBar = el("div", { class: "filter-bar", role: "group", "aria-label": "Sentence filter" });
    this.details = el("div", { class: "hover-details", "aria-live": "polite" }, "Hover a token to see only its lines and weights.");
    this.scroll = el("div", { class: "hv-scroll" });
    this.root.append(this.filterBar, this.details, this.scroll);
    host.append(this.root);
    this.hovered = null;
    this.labelled = [];
  }

  destroy() {
    this.root.remove();
  }

  async render(ctx) {
    const { state, meta } = ctx;
    const layer = await ctx.layer(state.step, state.layer);
    if (!ctx.current()) return;
    this.ctx = ctx;
    this.layer = layer;
    this.meta = meta;
    this.heads = ctx.selectedHeads(layer.heads);
    this.cross = Array.isArray(meta.key_tokens);
    this.queryTokens = meta.tokens;
    this.keyTokens = this.cross ? meta.key_tokens : meta.tokens;
    const sentenceB = this.cross ? null : meta.sentence_b_start;
    this.ranges = filterRanges(state.filter, layer.queries, layer.keys, sentenceB);
    this.renderFilterBar(sentenceB, state.filter, ctx);
    this.build();
    this.paint();
  }

  renderFilterBar(sentenceB, current, ctx) {
    this.filterBar.replaceChildren();
    this.filterBar.hidden = sentenceB == null;
    if (sentenceB == null) return;
    this.filterBar.append(el("span", { class: "bar-label" }, "Sentences"));
    for (const [value, label] of Object.entries(FILTER_LABELS)) {
      this.filterBar.append(
        el("button", {
          type: "button", class: "chip", "aria-pressed": String(value === current), dataset: { filter: value },
          onclick: () => ctx.setState({ filter: value }),
        }, label),
      );
    }
  }

  /** Token columns and canvases for the current ranges. */
  build() {
    const [q0, q1] = this.ranges.q;
    const [k0, k1] = this.ranges.k;
    const rows = Math.max(q1 - q0, k1 - k0, 1);
    // Short inputs get comfortable rows; long ones compress down to 12 px and scroll.
    this.rowH = rows <= 30 ? 22 : Math.max(12, Math.min(22, Math.floor(660 / rows)));
    const column = (tokens, start, end, side) => {
      const col = el("div", {
        class: `hv-col hv-${side}`, role: "list",
        "aria-label": side === "left" ? "Query tokens (positions being updated)" : "Key tokens (positions attended to)",
      });
      const frag = document.createDocumentFragment();
      for (let i = start; i < end; i++) {
        frag.append(
          el("div", { class: "tok", role: "listitem", dataset: { index: String(i) } },
            el("span", { class: "tok-text" }, tokenLabel(tokens[i])),
            el("span", { class: "tok-weight" })),
        );
      }
      col.append(frag);
      col.addEventListener("mouseover", (e) => this.onOver(e, side));
      col.addEventListener("mouseleave", () => this.clearHover());
      return col;
    };
    this.left = column(this.queryTokens, q0, q1, "left");
    this.right = column(this.keyTokens, k0, k1, "right");
    this.lines = el("canvas", { class: "hv-lines", "aria-hidden": "true" });
    this.overlay = el("canvas", { class: "hv-overlay", "aria-hidden": "true" });
    this.mid = el("div", { class: "hv-mid" }, this.lines, this.overlay);
    this.stage = el("div", { class: "hv-stage", style: { "--row-h": `${this.rowH}px` } }, this.left, this.mid, this.right);
    this.scroll.replaceChildren(this.stage);
    this.hovered = null;
    this.labelled = [];
    this.height = rows * this.rowH;
    this.width = Math.max(120, this.mid.clientWidth);
    this.linesCtx = sizeCanvas(this.lines, this.width, this.height, 6e6);
    this.overlayCtx = sizeCanvas(this.overlay, this.width, this.height);
  }

  /** Visit every line at or above `threshold`: visit(head, q, k, weight). */
  forEachLine(qRange, kRange, threshold, visit) {
    const { queries, keys, data } = this.layer;
    for (const h of this.heads) {
      const base = h * queries * keys;
      for (let q = qRange[0]; q < qRange[1]; q++) {
        const row = base + q * keys;
        for (let k = kRange[0]; k < kRange[1]; k++) {
          const w = data[row + k];
          if (w >= threshold) visit(h, q, k, w);
        }
      }
    }
  }

  /** Stroke lines batched by head and opacity bucket; returns how many were drawn. */
  strokeLines(ctx, qRange, kRange, threshold) {
    const x0 = 2;
    const x1 = this.width - 2;
    const rowH = this.rowH;
    const qy = (q) => (q - this.ranges.q[0] + 0.5) * rowH;
    const ky = (k) => (k - this.ranges.k[0] + 0.5) * rowH;
    const perHead = new Map();
    let count = 0;
    this.forEachLine(qRange, kRange, threshold, (h, q, k, w) => {
      let buckets = perHead.get(h);
      if (!buckets) perHead.set(h, (buckets = Array.from({ length: BUCKETS }, () => [])));
      buckets[Math.min(BUCKETS - 1, Math.floor(w * BUCKETS))].push(qy(q), ky(k));
      count++;
    });
    for (const [h, buckets] of perHead) {
      ctx.strokeStyle = headColor(h);
      buckets.forEach((ys, b) => {
        if (!ys.length) return;
        const w = (b + 0.5) / BUCKETS;
        ctx.globalAlpha = Math.min(1, Math.max(threshold, w));
        ctx.lineWidth = 0.75 + 2.25 * w;
        ctx.beginPath();
        for (let i = 0; i < ys.length; i += 2) {
          ctx.moveTo(x0, ys[i]);
          ctx.lineTo(x1, ys[i + 1]);
        }
        ctx.stroke();
      });
    }
    ctx.globalAlpha = 1;
    return count;
  }

  paint() {
    const ctx = this.linesCtx;
    ctx.clearRect(0, 0, this.width, this.height);
    const count = this.strokeLines(ctx, this.ranges.q, this.ranges.k, LINE_THRESHOLD);
    this.root.dataset.lines = String(count);
    this.root.dataset.layer = String(this.ctx.state.layer);
    this.root.dataset.step = String(this.ctx.state.step);
    this.root.dataset.heads = this.heads.join(",");
    performance.mark("tb-attention:head-view-drawn");
  }

  onOver(event, side) {
    const tok = event.target.closest(".tok");
    if (!tok) return;
    const index = Number(tok.dataset.index);
    if (this.hovered && this.hovered.side === side && this.hovered.index === index) return;
    this.hover(side, index);
  }

  /** Show only the lines of one token (left: its queries' lines; right: the lines into it). */
  hover(side, index) {
    const start = performance.now();
    this.clearLabels();
    this.hovered = { side, index };
    const ctx = this.overlayCtx;
    ctx.clearRect(0, 0, this.width, this.height);
    const qRange = side === "left" ? [index, index + 1] : this.ranges.q;
    const kRange = side === "left" ? this.ranges.k : [index, index + 1];
    const count = this.strokeLines(ctx, qRange, kRange, HOVER_THRESHOLD);
    this.stage.classList.add("hovering");
    const active = (side === "left" ? this.left : this.right).children[index - this.ranges[side === "left" ? "q" : "k"][0]];
    if (active) active.classList.add("active");
    this.labelled.push(active);
    // Weights on the other column: the mean over the shown heads (exact when one head is shown).
    const other = side === "left" ? this.right : this.left;
    const otherRange = side === "left" ? this.ranges.k : this.ranges.q;
    const { queries, keys, data } = this.layer;
    const top = [];
    for (let j = otherRange[0]; j < otherRange[1]; j++) {
      let sum = 0;
      for (const h of this.heads) {
        sum += data[h * queries * keys + (side === "left" ? index * keys + j : j * keys + index)];
      }
      const mean = this.heads.length ? sum / this.heads.length : 0;
      if (mean >= 0.005) {
        const node = other.children[j - otherRange[0]];
        node.lastChild.textContent = mean.toFixed(2);
        node.classList.add("weighted");
        this.labelled.push(node);
        top.push([mean, j]);
      }
    }
    top.sort((a, b) => b[0] - a[0]);
    const tokens = side === "left" ? this.queryTokens : this.keyTokens;
    const otherTokens = side === "left" ? this.keyTokens : this.queryTokens;
    const heads = this.heads.length === 1 ? `head ${this.heads[0]}` : `mean of ${this.heads.length} heads`;
    const verb = side === "left" ? "attends to" : "is attended by";
    this.details.textContent = `\u201c${tokenLabel(tokens[index])}\u201d (${index}) ${verb} (${heads}): ` +
      top.slice(0, 6).map(([w, j]) => `${tokenLabel(otherTokens[j])} ${w.toFixed(3)}`).join(" \u00b7 ");
    this.root.dataset.hover = `${side}:${index}`;
    this.root.dataset.hoverLines = String(count);
    performance.measure("tb-attention:hover", { start, end: performance.now() });
  }

  clearLabels() {
    for (const node of this.labelled) {
      if (!node) continue;
      node.classList.remove("weighted", "active");
      node.lastChild.textContent = "";
    }
    this.labelled = [];
  }

  clearHover() {
    if (!this.hovered) return;
    this.hovered = null;
    this.clearLabels();
    this.overlayCtx.clearRect(0, 0, this.width, this.height);
    this.stage.classList.remove("hovering");
    delete this.root.dataset.hover;
    delete this.root.dataset.hoverLines;
    this.details.textContent = "Hover a token to see only its lines and weights.";
  }

  /** Geometry shared by the PNG and SVG exports. */
  exportLayout() {
    const colW = Math.max(this.left.offsetWidth, this.right.offsetWidth, 40) + 8;
    return { colW, width: colW * 2 + this.width, height: this.height + 8, font: `${Math.min(13, this.rowH - 3)}px sans-serif` };
  }

  toCanvas() {
    const { colW, width, height, font } = this.exportLayout();
    const canvas = document.createElement("canvas");
    const ctx = sizeCanvas(canvas, width, height);
    ctx.fillStyle = cssVar("--bg") || "#fff";
    ctx.fillRect(0, 0, width, height);
    ctx.drawImage(this.lines, colW, 0, this.width, this.height);
    if (this.hovered) ctx.drawImage(this.overlay, colW, 0, this.width, this.height);
    ctx.font = font;
    ctx.fillStyle = cssVar("--fg") || "#222";
    ctx.textBaseline = "middle";
    this.eachToken((text, x, y, align) => {
      ctx.textAlign = align;
      ctx.fillText(text, x, y);
    }, colW);
    return canvas;
  }

  eachToken(draw, colW) {
    for (const [side, tokens, range] of [["left", this.queryTokens, this.ranges.q], ["right", this.keyTokens, this.ranges.k]]) {
      for (let i = range[0]; i < range[1]; i++) {
        const y = (i - range[0] + 0.5) * this.rowH;
        if (side === "left") draw(tokenLabel(tokens[i]), colW - 6, y, "right");
        else draw(tokenLabel(tokens[i]), colW + this.width + 6, y, "left");
      }
    }
  }

  toSVG() {
    const { colW, width, height, font } = this.exportLayout();
    const root = svg("svg", { xmlns: "http://www.w3.org/2000/svg", width, height, viewBox: `0 0 ${width} ${height}` });
    root.append(svg("rect", { width, height, fill: cssVar("--bg") || "#fff" }));
    const qRange = this.hovered && this.hovered.side === "left" ? [this.hovered.index, this.hovered.index + 1] : this.ranges.q;
    const kRange = this.hovered && this.hovered.side === "right" ? [this.hovered.index, this.hovered.index + 1] : this.ranges.k;
    const groups = new Map();
    this.forEachLine(qRange, kRange, this.hovered ? HOVER_THRESHOLD : LINE_THRESHOLD, (h, q, k, w) => {
      let g = groups.get(h);
      if (!g) {
        g = svg("g", { stroke: headColor(h), "data-head": h });
        groups.set(h, g);
        root.append(g);
      }
      g.append(svg("line", {
        x1: colW + 2, y1: ((q - this.ranges.q[0] + 0.5) * this.rowH).toFixed(1),
        x2: colW + this.width - 2, y2: ((k - this.ranges.k[0] + 0.5) * this.rowH).toFixed(1),
        "stroke-opacity": w.toFixed(3), "stroke-width": (0.75 + 2.25 * w).toFixed(2),
      }));
    });
    const text = svg("g", { fill: cssVar("--fg") || "#222", style: `font: ${font}`, "dominant-baseline": "middle" });
    this.eachToken((label, x, y, align) => {
      text.append(svg("text", { x, y: y.toFixed(1), "text-anchor": align === "right" ? "end" : "start" }, label));
    }, colW);
    root.append(text);
    return root;
  }
}
