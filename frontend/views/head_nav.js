// The head view's navigation of long inputs: moving the query window (previous / next, the
// strip, a click on a token outside it), letting it follow the scroll, finding a token and
// stepping through the hits, and bringing a row asked for on screen. A WindowNavigator owns the
// search state, the row waiting to be scrolled to and its timers; it reads the render's
// HeadSelection (head_window.js) and ColumnLayout (head_columns.js) and moves the window through
// the selection state (qstart).

import { centredWindow, findTokens, followScroll, nextMatch, windowRange } from "./head_window.js";

const DRAG_MS = 120; // a dragged strip moves the window at most this often

export class WindowNavigator {
  /**
   * parts: {root (the view's element: data-matches, data-found), scroll (the scroll box),
   * strip (WindowStrip), findBox (FindBox), showBar() (redraws the bar's changing parts)}.
   */
  constructor({ root, scroll, strip, findBox, showBar }) {
    Object.assign(this, { root, scroll, strip, findBox, showBar });
    this.find = { query: "", matches: [], current: -1 }; // matches: display rows
    this.pendingScroll = null; // a row to bring on screen after the next paint
    this.dragTimer = null;
    this.shown = null;
    this.columns = null;
    this.setState = null;
    this.cross = false;
  }

  /** The render's selection and columns, how to change the selection, and whether keys are their own tokens. */
  update(shown, columns, setState, cross) {
    Object.assign(this, { shown, columns, setState, cross });
  }

  destroy() {
    clearTimeout(this.dragTimer);
  }

  /** The window of `rows` rows (the selection's) starting at display row `row` (`centred`: centred on it). */
  windowAt(row, centred = false, rows = this.shown.rows) {
    const { total, ranges } = this.shown;
    const lo = ranges.q[0];
    const place = centred ? centredWindow : windowRange;
    return place(total, row - lo, rows).map((i) => i + lo);
  }

  /** Move the window to start at `start` (display row); `scroll`: bring it on screen. */
  moveWindow(start, scroll) {
    const [w0] = this.windowAt(start);
    if (scroll) this.pendingScroll = w0 + Math.floor(this.shown.rows / 2);
    if (w0 !== this.shown.window[0]) this.setState({ qstart: w0 });
    else this.afterPaint();
  }

  /** The strip is dragged (or clicked) to `centre`: draw the box there, move the window soon. */
  drag(centre, dragging) {
    if (!this.shown) return; // nothing drawn yet
    const [w0, w1] = this.windowAt(centre, true);
    this.strip.draw(this.shown.ranges.q[0], this.shown.ranges.q[1], w0, w1, this.find.matches);
    clearTimeout(this.dragTimer);
    this.dragTimer = setTimeout(() => this.moveWindow(w0, true), dragging ? DRAG_MS : 0);
  }

  /** The query rows on screen [first, end). */
  visibleRows() {
    if (!this.columns) return [0, 0];
    return this.columns.visibleRows(this.scroll);
  }

  drawStrip() {
    const [v0, v1] = this.visibleRows();
    const { ranges, window } = this.shown;
    this.strip.draw(ranges.q[0], ranges.q[1], window[0], window[1], this.find.matches, v0, v1);
  }

  /** The page scrolled: the window follows the rows on screen when they left it. */
  followScroll() {
    if (!this.shown || this.shown.rows >= this.shown.total) return this.columns && this.drawStrip();
    const { total, ranges, window } = this.shown;
    const lo = ranges.q[0];
    const [v0, v1] = this.visibleRows();
    const [w0] = followScroll(
      total,
      window.map((i) => i - lo),
      v0 - lo,
      v1 - lo,
    );
    if (w0 + lo !== window[0]) this.setState({ qstart: w0 + lo });
    else this.drawStrip();
  }

  /** Scroll a row asked for (a search hit, a moved window) into view, and mark the search hit. */
  afterPaint() {
    const i = this.pendingScroll;
    this.pendingScroll = null;
    if (i != null && this.columns.hasQuery(i)) {
      this.columns.scrollToQuery(this.scroll, i);
      this.drawStrip();
    }
    this.markFound();
  }

  /** Find `text` among the query tokens in range; `jump`: go to the first hit. */
  search(text, jump) {
    if (!this.shown) return; // nothing drawn yet
    const [q0, q1] = this.shown.ranges.q;
    const matches = findTokens(this.shown.queryTokens.slice(q0, q1), text).map((i) => i + q0);
    this.find = { query: text, matches, current: -1 };
    this.root.dataset.matches = String(matches.length);
    if (jump && matches.length) this.jump(0);
    else {
      this.showBar();
      this.markFound();
    }
  }

  /** The next search hit (`step` 1) or the previous one (-1). */
  next(step) {
    this.jump(nextMatch(this.find.matches, this.find.current, step));
  }

  /** Go to search match number m: the window moves there, the token scrolls into view, highlighted. */
  jump(m) {
    if (m < 0) return;
    this.find.current = m;
    const i = this.find.matches[m];
    this.pendingScroll = i;
    this.root.dataset.found = String(i);
    if (i < this.shown.window[0] || i >= this.shown.window[1]) {
      this.setState({ qstart: this.windowAt(i, true)[0] });
    } else {
      this.showBar();
      this.afterPaint();
    }
  }

  /** Search hits (class "match") and the current one ("found") in both columns (self-attention). */
  markFound() {
    const found = this.find.current >= 0 ? this.find.matches[this.find.current] : null;
    const columns = this.cross ? [this.columns.left] : [this.columns.left, this.columns.right];
    for (const column of columns) {
      column.mark("match", this.find.matches);
      column.mark("found", found == null ? [] : [found]);
    }
    if (found == null) delete this.root.dataset.found;
  }
}
