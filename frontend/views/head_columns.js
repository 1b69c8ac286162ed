// The head view's two token columns and the canvases between them: row geometry (a gap with an
// A/B divider between sentences when both are in a column; every y goes through rowY so lines
// land on their tokens), the columns (head_tokens.js: every row up to 512, else the rows on
// screen), the line canvases (head_canvas.js: one as tall as the columns up to 512 rows, else
// one over the frame on screen) and, past 512 rows, the strip of every key (head_keymap.js).

import { el } from "../dom.js";
import { FrameCanvas, TiledCanvas } from "./head_canvas.js";
import { KeyMap } from "./head_keymap.js";
import { EVERY_ROW_LIMIT, TokenColumn, axis, rowAt, rowY } from "./head_tokens.js";

/** Row height for `rows` rows: comfortable when short, 12 px from 56 rows on. */
export function rowHeight(rows) {
  if (rows <= 30) return 22;
  return Math.max(12, Math.min(22, Math.floor(660 / rows)));
}

/**
 * The head view's token columns and the line canvases between them, for the rows a HeadSelection
 * shows (head_window.js): built into `scroll` once, kept while the shown tokens and ranges stay.
 * Fields: rowH, gapH (CSS px), qAxis, kAxis (row geometry), left, right (TokenColumn), band (the
 * query window behind the left column), mid, stage, width, height, framed (past 512 rows: lines
 * of the frame on screen), base (canvas of every line), overlay (of a hovered token's lines),
 * keymap (KeyMap or null). `on`: {over(event, side), leave(), click(event, side)} for the rows.
 */
export class ColumnLayout {
  constructor(shown, scroll, on) {
    const [q0, q1] = shown.ranges.q;
    const [k0, k1] = shown.ranges.k;
    const most = Math.max(q1 - q0, k1 - k0, 1);
    this.rowH = rowHeight(most);
    this.gapH = Math.max(12, Math.round(this.rowH * 0.8));
    this.qAxis = axis(q0, q1, shown.sentenceB);
    this.kAxis = axis(k0, k1, shown.sentenceB);
    const span = (ax) => (ax.end - ax.start) * this.rowH + (ax.gapAt != null ? this.gapH : 0);
    this.height = Math.max(span(this.qAxis), span(this.kAxis), this.rowH);
    this.framed = most > EVERY_ROW_LIMIT;
    const geom = { rowH: this.rowH, gapH: this.gapH, height: this.height };
    this.left = new TokenColumn(shown.queryTokens, this.qAxis, "left", geom, on);
    // The query window: one band behind the left column's rows whose lines are drawn.
    this.band = el("div", { class: "hv-window-band", "aria-hidden": "true" });
    this.left.element.prepend(this.band);
    this.right = new TokenColumn(shown.keyTokens, this.kAxis, "right", geom, on);
    this.mid = el("div", { class: "hv-mid" });
    this.mid.style.height = `${this.height}px`;
    const style = { "--row-h": `${this.rowH}px`, "--gap-h": `${this.gapH}px` };
    const cls = `hv-stage${this.framed ? " framed" : ""}`;
    this.stage = el("div", { class: cls, style }, this.left.element, this.mid, this.right.element);
    this.keymap = this.framed
      ? new KeyMap(
          this.kAxis,
          this.height,
          (y) => rowAt(this.kAxis, y, this.rowH, this.gapH),
          (k) => this.rowY(this.kAxis, k),
        )
      : null;
    if (this.keymap) this.stage.append(this.keymap.element);
    scroll.replaceChildren(this.stage);
    this.width = Math.max(120, this.mid.clientWidth);
    const Canvas = this.framed ? FrameCanvas : TiledCanvas;
    this.base = new Canvas(this.mid, "hv-lines", this.width, this.height);
    this.overlay = new Canvas(this.mid, "hv-overlay", this.width, this.height);
    this.frame = null; // [top, bottom] canvas y on screen, once followed
  }

  /** y (canvas CSS px) of row i of an axis. */
  rowY(ax, i) {
    return rowY(ax, i, this.rowH, this.gapH);
  }

  /** The token node of display row i of a column ("left": queries, "right": keys), or undefined when not built. */
  node(side, i) {
    return (side === "left" ? this.left : this.right).node(i);
  }

  hasQuery(i) {
    return i >= this.qAxis.start && i < this.qAxis.end;
  }

  /** The canvas rows [top, bottom) on screen (inside the scroll box and the window). */
  visibleRange(scroll) {
    const mid = this.mid.getBoundingClientRect();
    const box = scroll.getBoundingClientRect();
    const top = Math.max(mid.top, box.top, 0) - mid.top;
    const bottom = Math.min(mid.bottom, box.bottom, window.innerHeight || 0) - mid.top;
    // Not laid out on screen (hidden tab, zero-height frame): the top of the column first.
    return bottom > top ? [top, bottom] : [top, top + (window.innerHeight || 900)];
  }

  /** The query rows on screen [first, end). */
  visibleRows(scroll) {
    const [top, bottom] = this.visibleRange(scroll);
    return [rowAt(this.qAxis, top, this.rowH, this.gapH), rowAt(this.qAxis, bottom, this.rowH, this.gapH) + 1];
  }

  /**
   * The frame on screen moved (a scroll, a new layout): build its rows, and past 512 rows redraw
   * the lines of its query rows and the key strip.
   */
  follow(scroll) {
    const frame = this.visibleRange(scroll).map((y) => Math.min(this.height, Math.max(0, y)));
    this.frame = frame;
    this.stage.dataset.frame = frame.map((y) => y.toFixed(1)).join(","); // read by tests
    this.left.show(frame);
    this.right.show(frame);
    if (!this.framed) return;
    this.base.follow(frame);
    this.overlay.follow(frame);
    this.drawKeymap();
  }

  /** The key strip and edge marks, for the lines shown: a hovered token's, else every line. */
  drawKeymap() {
    if (!this.keymap || !this.frame) return;
    const canvas = this.overlay.drawn ? this.overlay : this.base;
    this.keymap.draw(this.frame, canvas.drawn && canvas.drawn.groups, canvas.counts);
  }

  /** Scroll the scroll box (only: scrollIntoView would move the page and its toolbar) to query row i. */
  scrollToQuery(scroll, i) {
    const y = this.rowY(this.qAxis, i);
    const offset = this.stage.getBoundingClientRect().top - scroll.getBoundingClientRect().top + scroll.scrollTop;
    scroll.scrollTop = Math.max(0, offset + y - scroll.clientHeight / 2);
    this.follow(scroll);
  }

  /** The band behind the query rows of `window` whose lines are drawn (none when it is all of them). */
  markWindow([w0, w1]) {
    const whole = w0 === this.qAxis.start && w1 === this.qAxis.end;
    this.band.hidden = whole;
    if (whole) return;
    const top = this.rowY(this.qAxis, w0) - this.rowH / 2;
    Object.assign(this.band.style, {
      top: `${top}px`,
      height: `${this.rowY(this.qAxis, w1 - 1) + this.rowH / 2 - top}px`,
    });
  }

  /** Key rows greyed as hidden (`hiddenCols`: a flag per key item, or null for none). */
  markHidden(hiddenCols) {
    const rows = [];
    if (hiddenCols) hiddenCols.forEach((hidden, j) => hidden && rows.push(j));
    this.right.mark("hidden-key", rows);
  }
}
