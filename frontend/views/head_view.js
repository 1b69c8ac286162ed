// Head view (as in bertviz): two columns of tokens, a line from each query token (left, the
// position being updated) to each key token (right, the position attended to), one colour per
// head, opacity and width following the weight. Tokens are DOM text; lines are on canvas so 512
// tokens x 12 heads stays interactive: a full paint skips invisible lines (head_bands.js paints
// tall canvases in bands), a hover only redraws the hovered token's lines on an overlay canvas.
//
// Long inputs: only the lines of a window of query rows are drawn (every row up to 512; then 128
// by default, head_bar.js): scrolling past the window moves it, the strip in the bar drags it,
// find-a-token jumps to a token and moves the window there; "lines per query" keeps each row's
// strongest lines only. A layer too large to fetch whole is fetched for the shown heads and the
// window's rows (layer_data.js). Words merge word pieces (words.js); hidden keys get no lines and
// rows are renormalised without them (words.js displaySlab).
//
// Which lines are drawn (counted in data-lines; the thresholds are in data-line-threshold and
// data-hover-threshold): every (head, query in the window, key) of the shown heads and sentence
// ranges with weight >= LINE_THRESHOLD; a hover draws its token's lines with weight >= HOVER_THRESHOLD.
// Past DENSE_LINES lines, lines are hairlines with alpha = weight (strong ones a bit wider).

import { el, tokenLabel } from "../dom.js";
import {
  displayItems,
  displaySlab,
  groupOf,
  keySequence,
  mergeRows,
  positionText,
  querySequence,
  tokenRows,
} from "../words.js";
import { collectLines } from "./head_lines.js";
import { BandPainter } from "./head_bands.js";
import { buildColumns, rowY } from "./head_columns.js";
import {
  centredWindow,
  defaultWindowRows,
  FindBox,
  headBar,
  navigation,
  nextMatch,
  windowRange,
  WindowStrip,
} from "./head_bar.js";
import { headViewCanvas, headViewSVG } from "./head_export.js";
import { keptOf, rowsOf, WHOLE_LAYER_VALUES } from "./layer_data.js";
import { View } from "./view.js";
// Imported further down the graph; named here so the browser fetches it with this module.
import "../colors.js";

const LINE_THRESHOLD = 0.02; // below this a line's opacity is not visible: skip it
const HOVER_THRESHOLD = 0.01; // one token's lines are few: show fainter ones too
const DENSE_LINES = 8000; // past this many lines the base layer uses hairlines
const FOLLOW_MS = 200; // the window follows the scroll once it settles
const FILTER_LABELS = { all: "All", aa: "A\u2192A", bb: "B\u2192B", ab: "A\u2192B", ba: "B\u2192A" };

/** Row ranges [start, end) of the shown queries and keys for a sentence filter. */
export function filterRanges(filter, queries, keys, sentenceB) {
  if (sentenceB == null || filter === "all" || queries !== keys) {
    return { q: [0, queries], k: [0, keys] };
  }
  const a = [0, sentenceB];
  const b = [sentenceB, queries];
  const pick = { aa: [a, a], bb: [b, b], ab: [a, b], ba: [b, a] }[filter] || [
    [0, queries],
    [0, keys],
  ];
  return { q: pick[0], k: pick[1] };
}

export class HeadView extends View {
  constructor(host) {
    super(host, "head-view");
    this.thresholds = { line: LINE_THRESHOLD, hover: HOVER_THRESHOLD };
    this.denseLines = DENSE_LINES;
    Object.assign(this.root.dataset, {
      lineThreshold: String(LINE_THRESHOLD),
      hoverThreshold: String(HOVER_THRESHOLD),
    });
    this.filterBar = el("div", { class: "filter-bar", role: "group", "aria-label": "Sentence filter" });
    // The bar: window controls, find-a-token (kept across renders: it holds the focus), options.
    this.findBox = new FindBox({
      find: (text) => this.searchTokens(text, true),
      next: (step) => this.jump(nextMatch(this.find.matches, this.find.current, step)),
    });
    this.windowGroup = el("span", { class: "bar-group" });
    this.optionsGroup = el("span", { class: "bar-group" });
    this.bar = el("div", { class: "hv-bar" }, this.windowGroup, this.findBox.element, this.optionsGroup);
    this.details = el(
      "div",
      { class: "hover-details", "aria-live": "polite" },
      "Hover a token to see only its lines and weights.",
    );
    this.scroll = el("div", { class: "hv-scroll" });
    this.root.append(this.filterBar, this.bar, this.details, this.scroll);
    this.hovered = null;
    this.labelled = [];
    this.bands = null;
    this.find = { query: "", matches: [], current: -1 };
    this.strip = new WindowStrip((centre, dragging) => this.dragWindow(centre, dragging));
    // Scrolling onto an undrawn band draws it before that frame is shown; the window follows.
    this.onScroll = () => {
      if (this.bands) this.bands.drawVisible();
      clearTimeout(this.followTimer);
      this.followTimer = setTimeout(() => this.followScroll(), FOLLOW_MS);
    };
    this.scroll.addEventListener("scroll", this.onScroll, { passive: true });
    window.addEventListener("scroll", this.onScroll, { passive: true });
  }

  destroy() {
    if (this.bands) this.bands.cancel();
    clearTimeout(this.followTimer);
    clearTimeout(this.dragTimer);
    window.removeEventListener("scroll", this.onScroll);
    super.destroy();
  }

  async render(ctx) {
    const { state, meta } = ctx;
    const [, H, , K] = meta.shape;
    const s = this.selection(ctx);
    const heads = ctx.selectedHeads(H);
    const [t0, t1] = tokenRows(s.qItems, s.window[0], s.window[1]);
    const source = { layer: ctx.layer, selection: ctx.selection };
    // The kept weight (sparse records) is only read by hovers: it may arrive after the first paint.
    const kept = keptOf(source, meta, state.step, state.layer, heads);
    const slab = heads.length ? await rowsOf(source, meta, state.step, state.layer, heads, t0, t1) : null;
    if (!ctx.current()) return;
    this.ctx = ctx;
    Object.assign(this, s, { heads });
    this.hidden = (state.hide || []).filter((p) => p < K);
    this.layer = this.displayed(slab, s);
    this.kept = null;
    kept.then(
      (k) => ctx.current() && (this.kept = k && (s.merge ? mergeRows(k, s.qItems) : k)),
      () => {},
    );
    this.topk = state.topk || 0;
    this.renderFilterBar(state.filter, ctx);
    const structure = [meta.tokens, meta.key_tokens, s.merge, s.ranges.q.join(), s.ranges.k.join(), this.sentenceB];
    if (!this.structure || structure.some((x, i) => x !== this.structure[i])) {
      this.structure = structure;
      buildColumns(this);
      this.searchTokens(this.find.query, false);
    }
    this.clearHover();
    this.markColumns();
    this.renderBar(ctx);
    this.paint();
    this.afterPaint();
  }

  /** What the state selects: items, sentence ranges and the query window (display rows). */
  selection(ctx) {
    const { state, meta } = ctx;
    const merge = state.words === "1";
    const cross = Array.isArray(meta.key_tokens);
    const qSeq = querySequence(meta);
    const kSeq = keySequence(meta);
    const qTokens = qSeq.tokens;
    const qItems = displayItems(qSeq, merge);
    const kItems = displayItems(kSeq, merge);
    let sb = cross ? null : meta.sentence_b_start;
    if (Number.isInteger(sb) && sb > 0 && sb < qTokens.length) {
      const g = groupOf(qItems, qTokens.length)[sb];
      sb = qItems[g].start === sb ? g : null;
    } else sb = null;
    const ranges = filterRanges(state.filter, qItems.length, kItems.length, sb);
    const total = ranges.q[1] - ranges.q[0];
    const [, H, , K] = meta.shape;
    // At most 2 x WHOLE_LAYER_VALUES weights of the shown heads' rows are fetched at once.
    const limit = Math.max(1, Math.floor((2 * WHOLE_LAYER_VALUES) / (Math.max(1, ctx.selectedHeads(H).length) * K)));
    const rows = Math.min(state.qrows || defaultWindowRows(total), total, Math.max(limit, Math.min(total, 32)));
    const start = (state.qstart != null ? state.qstart : ranges.q[0]) - ranges.q[0];
    const window = windowRange(total, start, rows).map((i) => i + ranges.q[0]);
    return {
      merge,
      qSeq,
      kSeq,
      qItems,
      kItems,
      ranges,
      total,
      limit,
      rows,
      window,
      sentenceB: sb,
      queryTokens: qItems.map((i) => i.text),
      keyTokens: kItems.map((i) => i.text),
    };
  }

  /** The slab the lines are read from: as fetched, or with words merged / keys hidden for the window. */
  displayed(slab, s) {
    if (!slab || (!s.merge && !this.hidden.length)) return slab;
    const d = displaySlab({
      data: slab.data,
      slabs: slab.heads,
      rows: slab.dataRows,
      cols: slab.keys,
      rowSeq: s.qSeq,
      colSeq: s.kSeq,
      merge: s.merge,
      hidden: this.hidden,
      rowRange: s.window,
      dataRow0: slab.dataRow0,
    });
    this.hiddenCols = d.hiddenCols;
    return {
      keys: d.cols,
      data: d.data,
      slot: slab.slot,
      dataRow0: s.window[0],
      dataRows: s.window[1] - s.window[0],
      heads: slab.heads,
    };
  }

  renderFilterBar(current, ctx) {
    this.filterBar.replaceChildren();
    this.filterBar.hidden = this.sentenceB == null;
    if (this.sentenceB == null) return;
    this.filterBar.append(el("span", { class: "bar-label" }, "Sentences"));
    for (const [value, label] of Object.entries(FILTER_LABELS)) {
      this.filterBar.append(
        el(
          "button",
          {
            type: "button",
            class: "chip",
            "aria-pressed": String(value === current),
            dataset: { filter: value },
            onclick: () => ctx.setState({ filter: value, qstart: null }),
          },
          label,
        ),
      );
    }
  }

  renderBar(ctx) {
    const [w0, w1] = this.window;
    const sink = this.hidden.length === 1 && this.hidden[0] === 0;
    const s = { ...this, sink, range: this.ranges.q };
    const [windowParts, options] = headBar(
      s,
      {
        rows: (n) =>
          ctx.setState({
            qrows: n,
            qstart: centredWindow(this.total, Math.floor((w0 + w1) / 2) - this.ranges.q[0], n)[0] + this.ranges.q[0],
          }),
        shift: (d) => this.moveWindow(w0 + d * (w1 - w0), true),
        topk: (k) => ctx.setState({ topk: k || null }),
        words: () => ctx.setState({ words: this.merge ? null : "1", qstart: null }),
        sink: () => ctx.setState({ hide: sink ? null : [0] }),
      },
      this.strip,
    );
    this.windowGroup.replaceChildren(...windowParts);
    this.windowGroup.hidden = !windowParts.length;
    this.optionsGroup.replaceChildren(...options);
    this.findBox.sync(this.find);
    this.drawStrip();
  }

  drawStrip() {
    const [v0, v1] = this.visibleRows();
    this.strip.draw(this.ranges.q[0], this.ranges.q[1], this.window[0], this.window[1], this.find.matches, v0, v1);
  }

  /** The window band behind the left column's rows whose lines are drawn, and the hidden keys. */
  markColumns() {
    const [w0, w1] = this.window;
    const whole = w0 === this.qAxis.start && w1 === this.qAxis.end;
    this.band.hidden = whole;
    if (!whole) {
      const top = this.rowY(this.qAxis, w0) - this.rowH / 2;
      Object.assign(this.band.style, {
        top: `${top}px`,
        height: `${this.rowY(this.qAxis, w1 - 1) + this.rowH / 2 - top}px`,
      });
    }
    for (const n of this.marked || []) n.classList.remove("hidden-key");
    this.marked = [];
    if (!this.hidden.length || !this.hiddenCols) return;
    this.hiddenCols.forEach((hidden, j) => {
      const n = hidden && this.rightNodes[j - this.kAxis.start];
      if (n) {
        n.classList.add("hidden-key");
        this.marked.push(n);
      }
    });
  }

  rowY(ax, i) {
    return rowY(ax, i, this.rowH, this.gapH);
  }

  collect(qRange, kRange, threshold) {
    if (!this.layer) return { count: 0, groups: [] };
    const q = [Math.max(qRange[0], this.window[0]), Math.min(qRange[1], this.window[1])];
    return collectLines(
      this.layer,
      this.heads,
      q,
      kRange,
      threshold,
      (i) => this.rowY(this.qAxis, i),
      (k) => this.rowY(this.kAxis, k),
      this.topk,
    );
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
    if (this.bands) this.bands.cancel();
    this.lines.clear();
    const { count, groups } = this.collect(this.window, this.ranges.k, LINE_THRESHOLD);
    const dense = count > DENSE_LINES;
    this.bands = new BandPainter({
      height: this.height,
      root: this.root,
      visibleRange: () => this.visibleRange(),
      draw: (band) => this.lines.stroke(groups, { threshold: LINE_THRESHOLD, dense }, band || [0, this.height]),
    });
    this.bands.start();
    Object.assign(this.root.dataset, {
      lines: String(count),
      layer: String(this.ctx.state.layer),
      step: String(this.ctx.state.step),
      heads: this.heads.join(","),
      window: this.window.join(","),
      words: this.merge ? "1" : "0",
      topk: String(this.topk),
      hidden: this.hidden.join(","),
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

  onTokenClick(event, side) {
    const tok = event.target.closest(".tok");
    if (!tok || side !== "left") return;
    const i = Number(tok.dataset.index);
    if (i < this.window[0] || i >= this.window[1]) this.moveWindow(i - Math.floor(this.rows / 2), false);
  }

  /** Show only the lines of one token (left: its queries' lines; right: the lines into it). */
  hover(side, index) {
    const start = performance.now();
    this.clearLabels();
    const left = side === "left";
    const tokens = left ? this.queryTokens : this.keyTokens;
    if (left && (index < this.window[0] || index >= this.window[1])) {
      this.clearHover();
      this.details.textContent = `\u201c${tokenLabel(tokens[index])}\u201d (${index}) is outside the query window: click it to move the window there.`;
      return;
    }
    this.hovered = { side, index };
    this.overlay.clear();
    const qRange = left ? [index, index + 1] : this.window;
    const kRange = left ? this.ranges.k : [index, index + 1];
    const { count, groups } = this.collect(qRange, kRange, HOVER_THRESHOLD);
    this.overlay.stroke(groups, { threshold: HOVER_THRESHOLD, dense: false });
    this.stage.classList.add("hovering");
    const active = (left ? this.leftNodes : this.rightNodes)[index - (left ? this.qAxis : this.kAxis).start];
    if (active) active.classList.add("active");
    this.labelled.push(active);
    const top = this.labelWeights(side, index);
    const otherTokens = left ? this.keyTokens : this.queryTokens;
    const heads = this.heads.length === 1 ? `head ${this.heads[0]}` : `mean of ${this.heads.length} heads`;
    const verb = left ? "attends to" : "is attended by";
    const item = (left ? this.qItems : this.kItems)[index];
    let text =
      `\u201c${tokenLabel(tokens[index])}\u201d (${item ? positionText(item) : index}) ${verb} (${heads}): ` +
      top
        .slice(0, 6)
        .map(([w, j]) => `${tokenLabel(otherTokens[j])} ${w.toFixed(3)}`)
        .join(" \u00b7 ");
    if (left && this.kept)
      text += ` \u00b7 the stored row kept ${this.kept[index].toFixed(3)} of its weight (sparse record)`;
    if (this.hidden.length) text += " \u00b7 renormalised without the hidden keys";
    this.details.textContent = text;
    this.root.dataset.hover = `${side}:${index}`;
    this.root.dataset.hoverLines = String(count);
    performance.measure("tb-attention:hover", { start, end: performance.now() });
  }

  /** Weight of (head, query, key) in the shown slab. */
  weight(h, q, k) {
    const { keys, data, dataRow0, dataRows, slot } = this.layer;
    return data[(slot(h) * dataRows + (q - dataRow0)) * keys + k];
  }

  /** Weights on the other column (the mean over the shown heads); returns [[weight, j]], largest first. */
  labelWeights(side, index) {
    const left = side === "left";
    const otherNodes = left ? this.rightNodes : this.leftNodes;
    const otherStart = (left ? this.kAxis : this.qAxis).start;
    const range = left ? this.ranges.k : this.window;
    const top = [];
    if (!this.layer || !this.heads.length) return top;
    for (let j = range[0]; j < range[1]; j++) {
      let sum = 0;
      for (const h of this.heads) sum += left ? this.weight(h, index, j) : this.weight(h, j, index);
      const mean = sum / this.heads.length;
      if (mean >= 0.005) {
        const node = otherNodes[j - otherStart];
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
    this.overlay.clear();
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

Object.assign(HeadView.prototype, navigation);
