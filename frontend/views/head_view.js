// Head view (as in bertviz): two columns of tokens, a line from each query token (left, the
// position being updated) to each key token (right, the position attended to), one colour per
// head, opacity and width following the weight. Tokens are DOM text; lines are on canvas so 512
// tokens x 12 heads stays interactive: a full paint skips invisible lines, a hover only redraws
// the hovered token's lines on an overlay canvas.
//
// Which lines are drawn (and counted in data-lines): every (head, query, key) of the shown heads
// and sentence ranges with weight >= LINE_THRESHOLD; a hover draws its token's lines with weight
// >= HOVER_THRESHOLD. No other culling.
//
// Why the base layer is drawn in bands: at 512 tokens the canvas is ~6000 px tall and the lines
// of 12 heads can cover ~10^8 pixel rows; rasterising them all (software raster, as in headless
// or GPU-less browsers) takes seconds whichever way they are stroked. So a canvas taller than
// SINGLE_PASS_PX is painted in horizontal bands, each pass clipped to its bands: the bands on
// screen first (then the view counts as drawn: "tb-attention:head-view-drawn"), the others one per
// task afterwards, nearest first so scrolling finds them ready ("tb-attention:head-view-complete"
// and data-bands="complete" once all are); scrolling onto an undrawn band draws it at once.
// Past DENSE_LINES lines, lines are hairlines with alpha = weight (strong ones a bit wider):
// Skia's hairline rasteriser is several times faster than its stroker on thousands of crossing
// lines, and at that density wide strokes only add clutter. Fewer lines keep the weight-scaled
// widths, drawn as before.

// When the sentence-B boundary is known and both sentences are in a column, a gap with an A/B
// divider separates them there; every y goes through rowY() so lines land on their tokens.

import { el, svg, sizeCanvas, tokenLabel, cssVar } from "../dom.js";
import { headColor } from "../colors.js";

export const LINE_THRESHOLD = 0.02; // below this a line's opacity is not visible: skip it
export const HOVER_THRESHOLD = 0.01; // one token's lines are few: show fainter ones too
const BUCKETS = 20; // lines batched into opacity buckets: one stroke() per head per bucket (per band)
const BAND_PX = 256; // height of a base-layer band: one band is well under a frame's worth of raster
const SINGLE_PASS_PX = 2048; // canvases up to this tall (~128 tokens) are drawn in one pass
const DENSE_LINES = 16000; // past this many lines the base layer uses hairlines
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
    this.pending = null; // undrawn base-layer bands
    // Scrolling onto an undrawn band draws it before that frame is shown.
    this.onScroll = () => this.drawVisibleBands();
    this.scroll.addEventListener("scroll", this.onScroll, { passive: true });
    window.addEventListener("scroll", this.onScroll, { passive: true });
  }

  destroy() {
    this.cancelBands();
    window.removeEventListener("scroll", this.onScroll);
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
    this.sentenceB = Number.isInteger(sentenceB) && sentenceB > 0 && sentenceB < layer.queries ? sentenceB : null;
    this.ranges = filterRanges(state.filter, layer.queries, layer.keys, this.sentenceB);
    this.renderFilterBar(this.sentenceB, state.filter, ctx);
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

  /** Row geometry of one column: rows [start, end), a gap before `gapAt` when it splits A from B. */
  axis(start, end) {
    const b = this.sentenceB;
    return { start, end, gapAt: b != null && start < b && b < end ? b : null };
  }

  /** y (CSS px, canvas coordinates) of the centre of token i's row on an axis. */
  rowY(axis, i) {
    return (i - axis.start + 0.5) * this.rowH + (axis.gapAt != null && i >= axis.gapAt ? this.gapH : 0);
  }

  /** Token columns and canvases for the current ranges. */
  build() {
    this.cancelBands();
    const [q0, q1] = this.ranges.q;
    const [k0, k1] = this.ranges.k;
    const rows = Math.max(q1 - q0, k1 - k0, 1);
    // Short inputs get comfortable rows; long ones compress down to 12 px and scroll.
    this.rowH = rows <= 30 ? 22 : Math.max(12, Math.min(22, Math.floor(660 / rows)));
    this.gapH = Math.max(12, Math.round(this.rowH * 0.8));
    this.qAxis = this.axis(q0, q1);
    this.kAxis = this.axis(k0, k1);
    const column = (tokens, ax, side) => {
      const col = el("div", {
        class: `hv-col hv-${side}`, role: "list",
        "aria-label": side === "left" ? "Query tokens (positions being updated)" : "Key tokens (positions attended to)",
      });
      const nodes = [];
      const frag = document.createDocumentFragment();
      for (let i = ax.start; i < ax.end; i++) {
        if (i === ax.gapAt) {
          // The divider between the sentences; decorative (the filter bar names them for AT).
          frag.append(el("div", { class: "hv-gap", "aria-hidden": "true", title: "sentence A above, sentence B below" },
            el("span", { class: "hv-gap-label" }, "A"), el("span", { class: "hv-gap-rule" }), el("span", { class: "hv-gap-label" }, "B")));
        }
        const node = el("div", { class: "tok", role: "listitem", dataset: { index: String(i) } },
          el("span", { class: "tok-text" }, tokenLabel(tokens[i])),
          el("span", { class: "tok-weight" }));
        nodes.push(node);
        frag.append(node);
      }
      col.append(frag);
      col.addEventListener("mouseover", (e) => this.onOver(e, side));
      col.addEventListener("mouseleave", () => this.clearHover());
      return [col, nodes];
    };
    [this.left, this.leftNodes] = column(this.queryTokens, this.qAxis, "left");
    [this.right, this.rightNodes] = column(this.keyTokens, this.kAxis, "right");
    this.lines = el("canvas", { class: "hv-lines", "aria-hidden": "true" });
    this.overlay = el("canvas", { class: "hv-overlay", "aria-hidden": "true" });
    this.mid = el("div", { class: "hv-mid" }, this.lines, this.overlay);
    this.stage = el("div", { class: "hv-stage", style: { "--row-h": `${this.rowH}px`, "--gap-h": `${this.gapH}px` } },
      this.left, this.mid, this.right);
    this.scroll.replaceChildren(this.stage);
    this.hovered = null;
    this.labelled = [];
    const span = (ax) => (ax.end - ax.start) * this.rowH + (ax.gapAt != null ? this.gapH : 0);
    this.height = Math.max(span(this.qAxis), span(this.kAxis), this.rowH);
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

  /**
   * Lines at or above `threshold`, grouped by head and opacity bucket (one stroke each):
   * {count, groups: [{head, bucket, ys: [yQuery, yKey, ...]}]}.
   */
  collectLines(qRange, kRange, threshold) {
    const perHead = new Map();
    let count = 0;
    const qy = [];
    for (let q = qRange[0]; q < qRange[1]; q++) qy.push(this.rowY(this.qAxis, q));
    const ky = [];
    for (let k = kRange[0]; k < kRange[1]; k++) ky.push(this.rowY(this.kAxis, k));
    this.forEachLine(qRange, kRange, threshold, (h, q, k, w) => {
      let buckets = perHead.get(h);
      if (!buckets) perHead.set(h, (buckets = Array.from({ length: BUCKETS }, () => [])));
      buckets[Math.min(BUCKETS - 1, Math.floor(w * BUCKETS))].push(qy[q - qRange[0]], ky[k - kRange[0]]);
      count++;
    });
    const groups = [];
    for (const [head, buckets] of perHead) {
      buckets.forEach((ys, bucket) => ys.length && groups.push({ head, bucket, ys }));
    }
    return { count, groups };
  }

  /** Stroke line groups; with `band` [top, bottom) only the lines crossing it, clipped to it. */
  strokeGroups(ctx, groups, threshold, dense, band = null) {
    const x0 = 2;
    const x1 = this.width - 2;
    const top = band ? band[0] - 3 : -Infinity; // 3 px: half the widest stroke, plus antialiasing
    const bottom = band ? band[1] + 3 : Infinity;
    if (band) {
      ctx.save();
      ctx.beginPath();
      ctx.rect(0, band[0], this.width, band[1] - band[0]);
      ctx.clip();
    }
    for (const { head, bucket, ys } of groups) {
      const w = (bucket + 0.5) / BUCKETS;
      ctx.strokeStyle = headColor(head);
      ctx.globalAlpha = Math.min(1, Math.max(threshold, w));
      ctx.lineWidth = dense ? (w < 0.5 ? 1 : 1.5) : 0.75 + 2.25 * w;
      ctx.beginPath();
      let any = false;
      for (let i = 0; i < ys.length; i += 2) {
        const a = ys[i];
        const b = ys[i + 1];
        if ((a < b ? b : a) < top || (a < b ? a : b) > bottom) continue;
        ctx.moveTo(x0, a);
        ctx.lineTo(x1, b);
        any = true;
      }
      if (any) ctx.stroke();
    }
    ctx.globalAlpha = 1;
    if (band) ctx.restore();
  }

  /** Stroke lines batched by head and opacity bucket; returns how many were drawn. */
  strokeLines(ctx, qRange, kRange, threshold) {
    const { count, groups } = this.collectLines(qRange, kRange, threshold);
    this.strokeGroups(ctx, groups, threshold, false);
    return count;
  }

  paint() {
    const ctx = this.linesCtx;
    ctx.clearRect(0, 0, this.width, this.height);
    const { count, groups } = this.collectLines(this.ranges.q, this.ranges.k, LINE_THRESHOLD);
    this.base = { groups, dense: count > DENSE_LINES };
    this.pending = new Set(Array.from({ length: Math.ceil(this.height / BAND_PX) }, (_, i) => i));
    this.root.dataset.bands = "partial";
    // A short canvas is cheap to fill whole: one unclipped pass, as before banding.
    if (this.height <= SINGLE_PASS_PX) this.drawBands(0, this.pending.size - 1);
    else this.drawVisibleBands();
    this.root.dataset.lines = String(count);
    this.root.dataset.layer = String(this.ctx.state.layer);
    this.root.dataset.step = String(this.ctx.state.step);
    this.root.dataset.heads = this.heads.join(",");
    // Everything on screen is drawn; bands off screen follow in later tasks.
    performance.mark("tb-attention:head-view-drawn");
    this.scheduleBands();
  }

  /** Draw the pending bands among [first, last]; each run of adjacent ones in one clipped pass. */
  drawBands(first, last) {
    let i = first;
    while (this.pending && i <= last) {
      if (!this.pending.has(i)) {
        i++;
        continue;
      }
      let j = i;
      while (j < last && this.pending.has(j + 1)) j++;
      for (let b = i; b <= j; b++) this.pending.delete(b);
      const band = [i * BAND_PX, Math.min(this.height, (j + 1) * BAND_PX)];
      // The whole canvas in one band needs no clip.
      this.strokeGroups(this.linesCtx, this.base.groups, LINE_THRESHOLD, this.base.dense,
        band[0] === 0 && band[1] >= this.height ? null : band);
      i = j + 1;
    }
    if (this.pending && !this.pending.size) {
      this.pending = null;
      this.root.dataset.bands = "complete";
      performance.mark("tb-attention:head-view-complete");
    }
  }

  /** Band indices [first, last] on screen (inside the scroll box and the window). */
  visibleBands() {
    const mid = this.mid.getBoundingClientRect();
    const box = this.scroll.getBoundingClientRect();
    const top = Math.max(mid.top, box.top, 0) - mid.top;
    let bottom = Math.min(mid.bottom, box.bottom, window.innerHeight || 0) - mid.top;
    // Not laid out on screen (hidden tab, zero-height frame): the top of the column first.
    if (!(bottom > top)) bottom = top + (window.innerHeight || 900);
    const last = Math.ceil(this.height / BAND_PX) - 1;
    return [Math.max(0, Math.floor(top / BAND_PX)), Math.min(last, Math.floor(bottom / BAND_PX))];
  }

  drawVisibleBands() {
    if (!this.pending) return;
    const [first, last] = this.visibleBands();
    this.drawBands(first, last);
  }

  scheduleBands() {
    if (!this.pending) return;
    const pending = this.pending;
    this.bandTimer = setTimeout(() => {
      if (this.pending !== pending) return;
      // Nearest to what is on screen first: the likeliest to be scrolled to.
      const [first, last] = this.visibleBands();
      let best = -1;
      let bestDistance = Infinity;
      for (const i of pending) {
        const d = i < first ? first - i : i > last ? i - last : 0;
        if (d < bestDistance) [best, bestDistance] = [i, d];
      }
      this.drawBands(best, best);
      this.scheduleBands();
    }, 0);
  }

  /** Draw every band now (exports need the whole canvas). */
  finishBands() {
    if (this.pending) this.drawBands(0, Math.ceil(this.height / BAND_PX) - 1);
  }

  cancelBands() {
    clearTimeout(this.bandTimer);
    this.pending = null;
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
    const active = (side === "left" ? this.leftNodes : this.rightNodes)[index - this.ranges[side === "left" ? "q" : "k"][0]];
    if (active) active.classList.add("active");
    this.labelled.push(active);
    // Weights on the other column: the mean over the shown heads (exact when one head is shown).
    const otherNodes = side === "left" ? this.rightNodes : this.leftNodes;
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
        const node = otherNodes[j - otherRange[0]];
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

  /** The A/B dividers of the exports: [x0, x1, y] per split column. */
  dividers(colW) {
    const out = [];
    for (const [ax, x0, x1] of [[this.qAxis, 4, colW - 4], [this.kAxis, colW + this.width + 4, 2 * colW + this.width - 4]]) {
      if (ax.gapAt != null) out.push([x0, x1, this.rowY(ax, ax.gapAt) - (this.rowH + this.gapH) / 2]);
    }
    return out;
  }

  toCanvas() {
    this.finishBands();
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
    ctx.strokeStyle = cssVar("--border") || "#ccc";
    ctx.setLineDash([3, 3]);
    for (const [x0, x1, y] of this.dividers(colW)) {
      ctx.beginPath();
      ctx.moveTo(x0, y);
      ctx.lineTo(x1, y);
      ctx.stroke();
    }
    return canvas;
  }

  eachToken(draw, colW) {
    for (const [side, tokens, ax] of [["left", this.queryTokens, this.qAxis], ["right", this.keyTokens, this.kAxis]]) {
      for (let i = ax.start; i < ax.end; i++) {
        const y = this.rowY(ax, i);
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
        x1: colW + 2, y1: this.rowY(this.qAxis, q).toFixed(1),
        x2: colW + this.width - 2, y2: this.rowY(this.kAxis, k).toFixed(1),
        "stroke-opacity": w.toFixed(3), "stroke-width": (0.75 + 2.25 * w).toFixed(2),
      }));
    });
    // Dividers as paths: every <line> of the export is an attention line.
    for (const [x0, x1, y] of this.dividers(colW)) {
      root.append(svg("path", {
        d: `M${x0} ${y.toFixed(1)}H${x1}`, stroke: cssVar("--border") || "#ccc", "stroke-dasharray": "3 3", class: "sentence-divider",
      }));
    }
    const text = svg("g", { fill: cssVar("--fg") || "#222", style: `font: ${font}`, "dominant-baseline": "middle" });
    this.eachToken((label, x, y, align) => {
      text.append(svg("text", { x, y: y.toFixed(1), "text-anchor": align === "right" ? "end" : "start" }, label));
    }, colW);
    root.append(text);
    return root;
  }
}
