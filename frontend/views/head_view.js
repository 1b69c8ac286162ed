// Head view (as in bertviz): two columns of tokens, a line from each query token (left, the
// position being updated) to each key token (right, the position attended to), one colour per
// head, opacity and width following the weight. Tokens are DOM text; lines are on canvas so 512
// tokens x 12 heads stays interactive: a full paint skips invisible lines (head_bands.js paints
// tall canvases in bands), a hover only redraws the hovered token's lines on an overlay canvas.
//
// Which lines are drawn (counted in data-lines; the thresholds are in data-line-threshold and
// data-hover-threshold): every (head, query, key) of the shown heads and sentence ranges with
// weight >= LINE_THRESHOLD; a hover draws its token's lines with weight >= HOVER_THRESHOLD.
// Past DENSE_LINES lines, lines are hairlines with alpha = weight (strong ones a bit wider):
// Skia's hairline rasteriser is several times faster than its stroker on thousands of crossing
// lines, and at that density wide strokes only add clutter.
//
// When the sentence-B boundary is known and both sentences are in a column, a gap with an A/B
// divider separates them there; every y goes through rowY() so lines land on their tokens.

import { el, sizeCanvas, tokenLabel } from "../dom.js";
import { collectLines, strokeGroups } from "./head_lines.js";
import { BandPainter } from "./head_bands.js";
import { headViewCanvas, headViewSVG } from "./head_export.js";
import { View } from "./view.js";

const LINE_THRESHOLD = 0.02; // below this a line's opacity is not visible: skip it
const HOVER_THRESHOLD = 0.01; // one token's lines are few: show fainter ones too
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

export class HeadView extends View {
  constructor(host) {
    super(host, "head-view");
    this.thresholds = { line: LINE_THRESHOLD, hover: HOVER_THRESHOLD };
    this.denseLines = DENSE_LINES;
    Object.assign(this.root.dataset, { lineThreshold: String(LINE_THRESHOLD), hoverThreshold: String(HOVER_THRESHOLD) });
    this.filterBar = el("div", { class: "filter-bar", role: "group", "aria-label": "Sentence filter" });
    this.details = el("div", { class: "hover-details", "aria-live": "polite" }, "Hover a token to see only its lines and weights.");
    this.scroll = el("div", { class: "hv-scroll" });
    this.root.append(this.filterBar, this.details, this.scroll);
    this.hovered = null;
    this.labelled = [];
    this.bands = null;
    // Scrolling onto an undrawn band draws it before that frame is shown.
    this.onScroll = () => this.bands && this.bands.drawVisible();
    this.scroll.addEventListener("scroll", this.onScroll, { passive: true });
    window.addEventListener("scroll", this.onScroll, { passive: true });
  }

  destroy() {
    if (this.bands) this.bands.cancel();
    window.removeEventListener("scroll", this.onScroll);
    super.destroy();
  }

  async render(ctx) {
    const { state, meta } = ctx;
    const layer = await ctx.layer(state.step, state.layer);
    if (!ctx.current()) return;
    this.ctx = ctx;
    this.layer = layer;
    this.heads = ctx.selectedHeads(layer.heads);
    const cross = Array.isArray(meta.key_tokens);
    this.queryTokens = meta.tokens;
    this.keyTokens = cross ? meta.key_tokens : meta.tokens;
    const sentenceB = cross ? null : meta.sentence_b_start;
    this.sentenceB = Number.isInteger(sentenceB) && sentenceB > 0 && sentenceB < layer.queries ? sentenceB : null;
    this.ranges = filterRanges(state.filter, layer.queries, layer.keys, this.sentenceB);
    this.renderFilterBar(state.filter, ctx);
    this.build();
    this.paint();
  }

  renderFilterBar(current, ctx) {
    this.filterBar.replaceChildren();
    this.filterBar.hidden = this.sentenceB == null;
    if (this.sentenceB == null) return;
    this.filterBar.append(el("span", { class: "bar-label" }, "Sentences"));
    for (const [value, label] of Object.entries(FILTER_LABELS)) {
      this.filterBar.append(el("button", {
        type: "button", class: "chip", "aria-pressed": String(value === current), dataset: { filter: value },
        onclick: () => ctx.setState({ filter: value }),
      }, label));
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

  column(tokens, ax, side) {
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
  }

  /** Token columns and canvases for the current ranges. */
  build() {
    if (this.bands) this.bands.cancel();
    const [q0, q1] = this.ranges.q;
    const [k0, k1] = this.ranges.k;
    const rows = Math.max(q1 - q0, k1 - k0, 1);
    // Short inputs get comfortable rows; long ones compress down to 12 px and scroll.
    this.rowH = rows <= 30 ? 22 : Math.max(12, Math.min(22, Math.floor(660 / rows)));
    this.gapH = Math.max(12, Math.round(this.rowH * 0.8));
    this.qAxis = this.axis(q0, q1);
    this.kAxis = this.axis(k0, k1);
    [this.left, this.leftNodes] = this.column(this.queryTokens, this.qAxis, "left");
    [this.right, this.rightNodes] = this.column(this.keyTokens, this.kAxis, "right");
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

  collect(qRange, kRange, threshold) {
    return collectLines(this.layer, this.heads, qRange, kRange, threshold,
      (q) => this.rowY(this.qAxis, q), (k) => this.rowY(this.kAxis, k));
  }

  /** The canvas rows [top, bottom) on screen (inside the scroll box and the window). */
  visibleRange() {
    const mid = this.mid.getBoundingClientRect();
    const box = this.scroll.getBoundingClientRect();
    const top = Math.max(mid.top, box.top, 0) - mid.top;
    const bottom = Math.min(mid.bottom, box.bottom, window.innerHeight || 0) - mid.top;
    // Not laid out on screen (hidden tab, zero-height frame): the top of the column first.
    return bottom > top ? [top, bottom] : [top, top + (window.innerHeight || 900)];
  }

  paint() {
    this.linesCtx.clearRect(0, 0, this.width, this.height);
    const { count, groups } = this.collect(this.ranges.q, this.ranges.k, LINE_THRESHOLD);
    const dense = count > DENSE_LINES;
    this.bands = new BandPainter({
      height: this.height,
      root: this.root,
      visibleRange: () => this.visibleRange(),
      draw: (band) => strokeGroups(this.linesCtx, groups, { width: this.width, threshold: LINE_THRESHOLD, dense, band }),
    });
    this.bands.start();
    Object.assign(this.root.dataset, {
      lines: String(count), layer: String(this.ctx.state.layer), step: String(this.ctx.state.step), heads: this.heads.join(","),
    });
    // Everything on screen is drawn; bands off screen follow in later tasks.
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
    this.overlayCtx.clearRect(0, 0, this.width, this.height);
    const left = side === "left";
    const qRange = left ? [index, index + 1] : this.ranges.q;
    const kRange = left ? this.ranges.k : [index, index + 1];
    const { count, groups } = this.collect(qRange, kRange, HOVER_THRESHOLD);
    strokeGroups(this.overlayCtx, groups, { width: this.width, threshold: HOVER_THRESHOLD, dense: false });
    this.stage.classList.add("hovering");
    const active = (left ? this.leftNodes : this.rightNodes)[index - this.ranges[left ? "q" : "k"][0]];
    if (active) active.classList.add("active");
    this.labelled.push(active);
    const top = this.labelWeights(side, index);
    const tokens = left ? this.queryTokens : this.keyTokens;
    const otherTokens = left ? this.keyTokens : this.queryTokens;
    const heads = this.heads.length === 1 ? `head ${this.heads[0]}` : `mean of ${this.heads.length} heads`;
    const verb = left ? "attends to" : "is attended by";
    this.details.textContent = `\u201c${tokenLabel(tokens[index])}\u201d (${index}) ${verb} (${heads}): ` +
      top.slice(0, 6).map(([w, j]) => `${tokenLabel(otherTokens[j])} ${w.toFixed(3)}`).join(" \u00b7 ");
    this.root.dataset.hover = `${side}:${index}`;
    this.root.dataset.hoverLines = String(count);
    performance.measure("tb-attention:hover", { start, end: performance.now() });
  }

  /** Weights on the other column (the mean over the shown heads); returns [[weight, j]], largest first. */
  labelWeights(side, index) {
    const left = side === "left";
    const otherNodes = left ? this.rightNodes : this.leftNodes;
    const otherRange = left ? this.ranges.k : this.ranges.q;
    const { queries, keys, data } = this.layer;
    const top = [];
    for (let j = otherRange[0]; j < otherRange[1]; j++) {
      let sum = 0;
      for (const h of this.heads) sum += data[h * queries * keys + (left ? index * keys + j : j * keys + index)];
      const mean = this.heads.length ? sum / this.heads.length : 0;
      if (mean >= 0.005) {
        const node = otherNodes[j - otherRange[0]];
        node.lastChild.textContent = mean.toFixed(2);
        node.classList.add("weighted");
        this.labelled.push(node);
        top.push([mean, j]);
      }
    }
    return top.sort((a, b) => b[0] - a[0]);
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

  toCanvas() {
    return headViewCanvas(this);
  }

  toSVG() {
    return headViewSVG(this);
  }
}
