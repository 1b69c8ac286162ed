// Head view (as in bertviz): two columns of tokens, a line from each query token (left, the
// position being updated) to each key token (right, the position attended to), one colour per
// head, opacity and width following the weight. Tokens are DOM text; lines are on canvas so 512
// tokens x 12 heads stays interactive: a full paint skips invisible lines (head_bands.js paints
// tall canvases in bands), a hover only redraws the hovered token's lines on an overlay canvas.
//
// Long inputs: only the lines of a window of query rows are drawn (every row up to 512; then 128
// by default, head_window.js): scrolling past the window moves it, the strip in the bar drags it,
// find-a-token jumps to a token and moves the window there (head_nav.js); "lines per query" keeps
// each row's strongest lines only. A layer too large to fetch whole is fetched for the shown
// heads and the window's rows, in blocks kept only as lines (head_data.js, layer_data.js). Words
// merge word pieces (words.js); hidden keys get no lines and rows are renormalised without them
// (words.js displaySlab).
//
// Past 512 rows the columns hold only the rows on screen (head_tokens.js) and the lines are drawn
// for the frame on screen only, from the window's rows on screen: a line to a key scrolled away
// ends at the top or bottom edge of the lines, where a mark counts them, and a strip right of the
// keys maps the whole input with a tick at every drawn line's key (head_keymap.js), so attention
// far back stays in sight while its key is thousands of rows away.
//
// Which lines are drawn (counted in data-lines; the thresholds are in data-line-threshold and
// data-hover-threshold): every (head, query in the window, key) of the shown heads and sentence
// ranges with weight >= LINE_THRESHOLD; a hover draws its token's lines with weight >= HOVER_THRESHOLD.
// Past DENSE_LINES lines, lines are hairlines with alpha = weight (strong ones a bit wider).

import { el } from "../dom.js";
import { BandPainter } from "./head_bands.js";
import { FindBox, WindowStrip, filterButtons, headBar } from "./head_bar.js";
import { ColumnLayout } from "./head_columns.js";
import { HeadLines } from "./head_data.js";
import { headViewCanvas, headViewSVG } from "./head_export.js";
import { HoverReadout, LABELLED_WEIGHT } from "./head_hover.js";
import { WindowNavigator } from "./head_nav.js";
import { headSelection } from "./head_window.js";
import { View } from "./view.js";
// Imported further down the graph; named here so the browser fetches them with this module.
import "../colors.js";
import "../structure.js";
import "../words.js";
import "./head_canvas.js";
import "./head_keymap.js";
import "./head_lines.js";
import "./head_lineset.js";
import "./head_shares.js";
import "./head_tokens.js";
import "./layer_data.js";

const LINE_THRESHOLD = 0.02; // below this a line's opacity is not visible: skip it
const HOVER_THRESHOLD = 0.01; // one token's lines are few: show fainter ones too
const DENSE_LINES = 8000; // past this many lines the base layer uses hairlines
const FOLLOW_MS = 200; // the window follows the scroll once it settles
const FIRST_ROWS = 64; // rows read first when nothing is on screen yet

export class HeadView extends View {
  constructor(host) {
    super(host, "head-view");
    Object.assign(this.root.dataset, {
      lineThreshold: String(LINE_THRESHOLD),
      hoverThreshold: String(HOVER_THRESHOLD),
    });
    this.filterBar = el("div", { class: "filter-bar", role: "group", "aria-label": "Sentence filter" });
    // The bar: window controls, find-a-token (kept across renders: it holds the focus), options.
    const findBox = new FindBox({ find: (text) => this.nav.search(text, true), next: (step) => this.nav.next(step) });
    this.windowGroup = el("span", { class: "bar-group" });
    this.optionsGroup = el("span", { class: "bar-group" });
    this.bar = el("div", { class: "hv-bar" }, this.windowGroup, findBox.element, this.optionsGroup);
    const details = el("div", { class: "hover-details", "aria-live": "polite" });
    this.scroll = el("div", { class: "hv-scroll" });
    this.root.append(this.filterBar, this.bar, details, this.scroll);
    // The view's state, each part in one object (made by render; null before the first one):
    this.ctx = null; // the render's context (views/README.md)
    this.shown = null; // HeadSelection (head_window.js): tokens, sentence ranges, query window, heads
    this.lines = null; // HeadLines (head_data.js): the weights the lines are drawn from
    this.columns = null; // ColumnLayout (head_columns.js): token columns and line canvases
    this.columnsKey = null; // what the columns were built for: rebuilt when it changes
    this.bands = null; // BandPainter (head_bands.js) of the last paint
    this.kept = new Map(); // HeadLines of recent windows (head_data.js)
    const strip = new WindowStrip((centre, dragging) => this.nav.drag(centre, dragging));
    this.nav = new WindowNavigator({
      root: this.root,
      scroll: this.scroll,
      strip,
      findBox,
      showBar: () => this.showBar(),
    });
    this.hover = new HoverReadout(this.root, details, HOVER_THRESHOLD);
    // Scrolling onto an undrawn band draws it before that frame is shown; the window follows.
    this.followTimer = null;
    this.onScroll = () => {
      if (this.columns) this.columns.follow(this.scroll);
      if (this.bands) this.bands.drawVisible();
      clearTimeout(this.followTimer);
      this.followTimer = setTimeout(() => this.nav.followScroll(), FOLLOW_MS);
    };
    this.scroll.addEventListener("scroll", this.onScroll, { passive: true });
    window.addEventListener("scroll", this.onScroll, { passive: true });
    // What is on screen also moves when what is above the lines changes height (the bar wraps, a
    // read-out takes two lines, the panel's status line comes and goes): the frame follows.
    this.moved = new ResizeObserver(() => this.columns && this.columns.follow(this.scroll));
    for (const part of [document.body, this.filterBar, this.bar, details, this.scroll]) this.moved.observe(part);
  }

  destroy() {
    if (this.bands) this.bands.cancel();
    clearTimeout(this.followTimer);
    this.nav.destroy();
    window.removeEventListener("scroll", this.onScroll);
    this.moved.disconnect();
    super.destroy();
  }

  async render(ctx) {
    const { state, meta } = ctx;
    const shown = headSelection(state, meta, ctx.selectedHeads(meta.shape[1]));
    const opts = {
      least: Math.min(LINE_THRESHOLD, HOVER_THRESHOLD),
      leastMean: LABELLED_WEIGHT,
      first: this.firstRows(shown),
      painted: (partial) => ctx.current() && this.show(ctx, shown, partial),
      cache: this.kept,
    };
    const lines = await HeadLines.load(ctx, shown, opts);
    if (!ctx.current()) return;
    this.show(ctx, shown, lines);
  }

  /** The window's rows to read first: those on screen (or about to be), so they are drawn first. */
  firstRows(shown) {
    const [w0, w1] = shown.window;
    const pending = this.nav.pendingScroll;
    let rows = [w0, w0 + FIRST_ROWS];
    if (pending != null) rows = [pending - FIRST_ROWS / 2, pending + FIRST_ROWS / 2];
    else if (this.columns && this.columns.hasQuery(w0)) rows = this.columns.visibleRows(this.scroll);
    const first = [Math.max(w0, rows[0]), Math.min(w1, rows[1])];
    return first[1] > first[0] ? first : null;
  }

  /** Draw `lines` (all of the window's, or its rows on screen first) of the selection `shown`. */
  show(ctx, shown, lines) {
    const { meta } = ctx;
    Object.assign(this, { ctx, shown, lines });
    this.renderFilterBar(ctx.state.filter);
    const key = [
      meta.tokens,
      meta.key_tokens,
      shown.merge,
      shown.ranges.q.join(),
      shown.ranges.k.join(),
      shown.sentenceB,
    ];
    const rebuild = !this.columnsKey || key.some((x, i) => x !== this.columnsKey[i]);
    if (rebuild) {
      this.columnsKey = key;
      this.columns = new ColumnLayout(shown, this.scroll, {
        over: (e, side) => this.onOver(e, side),
        leave: () => this.hover.clear(),
        click: (e, side) => this.onTokenClick(e, side),
      });
      this.columns.follow(this.scroll);
    }
    this.hover.update(shown, this.columns, lines);
    this.nav.update(shown, this.columns, ctx.setState, Array.isArray(meta.key_tokens));
    if (rebuild) this.nav.search(this.nav.find.query, false);
    this.columns.markWindow(shown.window);
    this.columns.markHidden(lines.hiddenCols);
    this.showBar();
    this.paint();
    this.nav.afterPaint();
  }

  renderFilterBar(current) {
    const sentenceB = this.shown.sentenceB;
    this.filterBar.hidden = sentenceB == null;
    if (sentenceB == null) this.filterBar.replaceChildren();
    else
      this.filterBar.replaceChildren(
        ...filterButtons(current, (filter) => this.ctx.setState({ filter, qstart: null })),
      );
  }

  /** The bar's changing parts, the find box and the strip, for the current selection. */
  showBar() {
    const { ctx, shown, nav } = this;
    const [w0, w1] = shown.window;
    const sink = shown.hidden.length === 1 && shown.hidden[0] === 0;
    const [windowParts, options] = headBar(
      { ...shown, sink, range: shown.ranges.q },
      {
        rows: (n) => ctx.setState({ qrows: n, qstart: nav.windowAt(Math.floor((w0 + w1) / 2), true, n)[0] }),
        shift: (d) => nav.moveWindow(w0 + d * (w1 - w0), true),
        topk: (k) => ctx.setState({ topk: k || null }),
        words: () => ctx.setState({ words: shown.merge ? null : "1", qstart: null }),
        sink: () => ctx.setState({ hide: sink ? null : [0] }),
      },
      nav.strip,
    );
    this.windowGroup.replaceChildren(...windowParts);
    this.windowGroup.hidden = !windowParts.length;
    this.optionsGroup.replaceChildren(...options);
    nav.findBox.sync(nav.find);
    nav.drawStrip();
  }

  paint() {
    if (this.bands) this.bands.cancel();
    this.bands = null;
    const { columns, shown, lines } = this;
    columns.base.clear();
    const { count, groups } = lines.collect(shown.window, shown.ranges.k, LINE_THRESHOLD, columns);
    const opts = { threshold: LINE_THRESHOLD, dense: count > DENSE_LINES };
    if (columns.framed) {
      // Lines of the frame on screen only, drawn again as it scrolls (head_canvas.js FrameCanvas).
      columns.keymap.readColours();
      columns.base.stroke(groups, opts);
      columns.follow(this.scroll);
      this.root.dataset.bands = "complete";
    } else {
      this.bands = new BandPainter({
        height: columns.height,
        root: this.root,
        visibleRange: () => columns.visibleRange(this.scroll),
        draw: (band) => columns.base.stroke(groups, opts, band || [0, columns.height]),
      });
      this.bands.start();
    }
    Object.assign(this.root.dataset, {
      lines: String(count),
      loaded: lines.complete ? "complete" : "partial",
      layer: String(this.ctx.state.layer),
      step: String(this.ctx.state.step),
      heads: shown.heads.join(","),
      window: shown.window.join(","),
      words: shown.merge ? "1" : "0",
      topk: String(shown.topk),
      hidden: shown.hidden.join(","),
      framed: columns.framed ? "1" : "0",
    });
    // Everything on screen is drawn; bands off screen follow in later tasks.
    performance.mark("tb-attention:head-view-drawn");
  }

  onOver(event, side) {
    const tok = event.target.closest(".tok");
    if (!tok) return;
    const index = Number(tok.dataset.index);
    const hovered = this.hover.hovered;
    if (hovered && hovered.side === side && hovered.index === index) return;
    this.hover.hover(side, index);
  }

  onTokenClick(event, side) {
    const tok = event.target.closest(".tok");
    if (!tok || side !== "left") return;
    const i = Number(tok.dataset.index);
    const [w0, w1] = this.shown.window;
    if (i < w0 || i >= w1) this.nav.moveWindow(i - Math.floor(this.shown.rows / 2), false);
  }

  /** What the exports draw: the render's selection, columns and lines, and the hovered token. */
  exported() {
    const thresholds = { line: LINE_THRESHOLD, hover: HOVER_THRESHOLD, dense: DENSE_LINES };
    return { shown: this.shown, columns: this.columns, lines: this.lines, hovered: this.hover.hovered, thresholds };
  }

  toCanvas() {
    return headViewCanvas(this.exported());
  }

  toSVG() {
    return headViewSVG(this.exported());
  }
}
