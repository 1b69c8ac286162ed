// The head view's controls for long inputs: the query window (rows, previous / next, a strip of
// the whole input to drag it along, with search hits marked), find-a-token, lines per query,
// words, and hiding the first token; and the navigation they drive, as methods mixed into the
// view (moving the window, following the scroll, search hits, bringing a row on screen).

import { el, select, sizeCanvas, cssVar } from "../dom.js";
import { rowAt } from "./head_columns.js";

// -- the query window and token search, pure (tests/js/head_window.test.js) -------------------

export const WHOLE_INPUT_ROWS = 512; // up to this many query rows every line is drawn, as in bertviz
export const DEFAULT_WINDOW_ROWS = 128;
export const WINDOW_CHOICES = [32, 64, 128, 256, 512];

/** Rows of the window by default: the whole input when short, else DEFAULT_WINDOW_ROWS. */
export function defaultWindowRows(total) {
  return total <= WHOLE_INPUT_ROWS ? total : DEFAULT_WINDOW_ROWS;
}

/** The window [start, end) of `rows` rows from `start`, within 0..total. */
export function windowRange(total, start, rows) {
  const n = Math.max(1, Math.min(total, Math.round(rows) || total));
  const s = Math.max(0, Math.min(total - n, Math.round(start) || 0));
  return [s, s + n];
}

/** The window of `rows` rows centred on row `centre`. */
export function centredWindow(total, centre, rows) {
  return windowRange(total, centre - Math.floor(rows / 2), rows);
}

/**
 * Where the window goes when the user scrolled: unchanged while the rows on screen [top, bottom)
 * stay inside it, else centred on them.
 */
export function followScroll(total, range, top, bottom) {
  const [s, e] = range;
  if (top >= s && bottom <= e) return range;
  return centredWindow(total, Math.floor((top + bottom) / 2), e - s);
}

/**
 * Indices of the items whose text matches `query`: "#123" (or "123" when no text matches) is
 * that position; otherwise a case-insensitive substring of the text, exact matches first.
 */
export function findTokens(texts, query) {
  const q = query.trim();
  if (!q) return [];
  const position = /^#?(\d{1,9})$/.exec(q);
  const needle = q.toLowerCase();
  const exact = [];
  const partial = [];
  texts.forEach((t, i) => {
    const text = t.trim().toLowerCase();
    if (text === needle) exact.push(i);
    else if (text.includes(needle)) partial.push(i);
  });
  if (position && (q.startsWith("#") || (!exact.length && !partial.length))) {
    const i = Number(position[1]);
    return i < texts.length ? [i] : [];
  }
  return exact.concat(partial);
}

/** The next match after `current` (wrapping), or before it when `step` is -1. */
export function nextMatch(matches, current, step = 1) {
  if (!matches.length) return -1;
  if (current < 0) return step > 0 ? 0 : matches.length - 1;
  return (current + step + matches.length) % matches.length;
}

// -- the controls ------------------------------------------------------------------------------

const STRIP_W = 220;
const STRIP_H = 16;
const TOPK_CHOICES = [
  [0, "all"],
  [1, "1"],
  [2, "2"],
  [3, "3"],
  [5, "5"],
  [10, "10"],
];

/**
 * The window strip: the input's rows [lo, hi) across STRIP_W px, the window as a box, search
 * hits as ticks; dragging or clicking moves the window there (onMove(centre row), throttled by the caller).
 */
export class WindowStrip {
  constructor(onMove) {
    this.canvas = el("canvas", {
      class: "hv-strip",
      title: "The whole input: drag the box (the query window) along it",
      role: "slider",
      tabindex: "0",
    });
    this.g = sizeCanvas(this.canvas, STRIP_W, STRIP_H);
    this.onMove = onMove;
    const at = (e) => {
      const rect = this.canvas.getBoundingClientRect();
      return Math.round(this.lo + ((e.clientX - rect.left) / rect.width) * (this.hi - this.lo));
    };
    this.canvas.addEventListener("pointerdown", (e) => {
      this.canvas.setPointerCapture(e.pointerId);
      this.dragging = true;
      this.onMove(at(e), true);
    });
    this.canvas.addEventListener("pointermove", (e) => this.dragging && this.onMove(at(e), true));
    this.canvas.addEventListener("pointerup", (e) => {
      this.dragging = false;
      this.onMove(at(e), false);
    });
    // Keys move the window: arrows by an eighth of it, Page Up / Down by all of it, Home / End.
    this.canvas.addEventListener("keydown", (e) => {
      const n = this.w1 - this.w0;
      const step = { ArrowLeft: -n / 8, ArrowRight: n / 8, PageUp: -n, PageDown: n, Home: -Infinity, End: Infinity }[
        e.key
      ];
      if (step === undefined) return;
      e.preventDefault(); // (the panel's arrow keys move the step otherwise)
      this.onMove(Math.round(Math.max(this.lo, Math.min(this.hi, (this.w0 + this.w1) / 2 + step))), false);
    });
  }

  /** Draw rows [lo, hi), the window [w0, w1), hits (row indices) and the rows on screen [v0, v1). */
  draw(lo, hi, w0, w1, hits = [], v0 = null, v1 = null) {
    Object.assign(this, { lo, hi, w0, w1 });
    const g = this.g;
    const x = (i) => ((i - lo) / Math.max(1, hi - lo)) * STRIP_W;
    g.clearRect(0, 0, STRIP_W, STRIP_H);
    g.fillStyle = cssVar("--panel") || "#f5f5f5";
    g.fillRect(0, 3, STRIP_W, STRIP_H - 6);
    g.fillStyle = cssVar("--fg-muted") || "#666";
    for (const i of hits.slice(0, 2000)) g.fillRect(Math.floor(x(i)), 1, 1, STRIP_H - 2);
    if (v0 != null) {
      g.fillStyle = cssVar("--border") || "#ccc";
      g.fillRect(x(v0), 5, Math.max(2, x(v1) - x(v0)), STRIP_H - 10);
    }
    g.strokeStyle = cssVar("--accent") || "#f57c00";
    g.lineWidth = 2;
    g.strokeRect(x(w0) + 1, 1, Math.max(3, x(w1) - x(w0) - 2), STRIP_H - 2);
    this.canvas.setAttribute("aria-valuemin", String(lo));
    this.canvas.setAttribute("aria-valuemax", String(hi));
    this.canvas.setAttribute("aria-valuenow", String(w0));
    this.canvas.setAttribute("aria-valuetext", `query rows ${w0} to ${w1 - 1}`);
  }
}

/** Window sizes offered: the choices up to `limit` rows (and the whole range when it fits). */
export function windowChoices(total, limit) {
  const out = WINDOW_CHOICES.filter((n) => n < total && n <= limit);
  if (total <= limit) out.push(total);
  return out;
}

/**
 * Find-a-token: an input (Enter searches, or goes to the next hit; shift-Enter the previous),
 * previous / next buttons and a count. Made once per view and never re-parented, so it keeps
 * the focus while the view re-renders. `on`: {find(text), next(step)}.
 */
export class FindBox {
  constructor(on) {
    this.query = "";
    this.input = el("input", {
      type: "search",
      class: "hv-find",
      placeholder: "Find a token",
      "aria-label": "Find a token",
      title: "Find a token by its text (Enter: next hit, shift-Enter: previous); #123 goes to position 123",
      onkeydown: (e) => {
        if (e.key !== "Enter") return;
        e.preventDefault();
        if (this.input.value !== this.query) on.find(this.input.value);
        else on.next(e.shiftKey ? -1 : 1);
      },
    });
    this.prev = el(
      "button",
      { type: "button", class: "icon find-prev", "aria-label": "Previous match", onclick: () => on.next(-1) },
      "\u2191",
    );
    this.next = el(
      "button",
      { type: "button", class: "icon find-next", "aria-label": "Next match", onclick: () => on.next(1) },
      "\u2193",
    );
    this.count = el("output", { class: "find-count", "aria-live": "polite" });
    this.element = el("span", { class: "bar-group find-box" }, this.input, this.prev, this.next, this.count);
  }

  /** Show the search state {query, matches, current}. */
  sync(find) {
    this.query = find.query;
    if (document.activeElement !== this.input) this.input.value = find.query;
    this.prev.disabled = this.next.disabled = !find.matches.length;
    this.count.textContent = find.query
      ? find.matches.length
        ? `${find.current + 1} / ${find.matches.length}`
        : "no match"
      : "";
  }
}

/**
 * The bar's changing parts: [window controls, other controls]. `s`: {total, limit, rows, window:
 * [w0, w1], range: [lo, hi], topk, merge, sink}; `on`: {rows(n), shift(delta), topk(k), words(), sink()}.
 */
export function headBar(s, on, strip) {
  const choices = windowChoices(s.total, s.limit);
  const long = s.rows < s.total || s.total > WHOLE_INPUT_ROWS;
  const windowParts = [];
  if (long) {
    windowParts.push(
      el("span", { class: "bar-label" }, "Lines from queries"),
      el(
        "button",
        {
          type: "button",
          class: "icon window-prev",
          "aria-label": "Previous window",
          disabled: s.window[0] <= s.range[0],
          onclick: () => on.shift(-1),
        },
        "\u25c0",
      ),
      strip.canvas,
      el(
        "button",
        {
          type: "button",
          class: "icon window-next",
          "aria-label": "Next window",
          disabled: s.window[1] >= s.range[1],
          onclick: () => on.shift(1),
        },
        "\u25b6",
      ),
      el("output", { class: "window-label" }, `${s.window[0]}\u2013${s.window[1] - 1} of ${s.total}`),
      select(
        choices.map((n) => [n, n === s.total ? `all ${n}` : `${n} rows`]),
        s.rows,
        (v) => on.rows(Number(v)),
        { class: "window-rows", "aria-label": "Rows in the query window" },
      ),
    );
  }
  const options = [
    el(
      "label",
      { class: "field" },
      "Lines per query",
      select(TOPK_CHOICES, s.topk || 0, (v) => on.topk(Number(v)), {
        class: "topk-select",
        "aria-label": "Strongest lines per query and head",
      }),
    ),
    el(
      "button",
      {
        type: "button",
        class: "chip words-toggle",
        "aria-pressed": String(s.merge),
        onclick: () => on.words(),
        title: "Merge word pieces into words: attention to a word is the sum over its pieces, from a word the mean",
      },
      "Words",
    ),
    el(
      "button",
      {
        type: "button",
        class: "chip hide-sink",
        "aria-pressed": String(s.sink),
        onclick: () => on.sink(),
        title: "Hide the first token (the \u201cattention sink\u201d) and renormalise each row over the others",
      },
      "Hide first token",
    ),
  ];
  return [windowParts, options];
}

// -- navigation: methods of HeadView (Object.assign(HeadView.prototype, navigation)) ----------

export const navigation = {
  /** Move the window to start at `start` (display row); `scroll`: bring it on screen. */
  moveWindow(start, scroll) {
    const [w0] = windowRange(this.total, start - this.ranges.q[0], this.rows).map((i) => i + this.ranges.q[0]);
    if (scroll) this.pendingScroll = w0 + Math.floor(this.rows / 2);
    if (w0 !== this.window[0]) this.ctx.setState({ qstart: w0 });
    else this.afterPaint();
  },

  dragWindow(centre, dragging) {
    const [w0, w1] = centredWindow(this.total, centre - this.ranges.q[0], this.rows).map((i) => i + this.ranges.q[0]);
    this.strip.draw(this.ranges.q[0], this.ranges.q[1], w0, w1, this.find.matches);
    clearTimeout(this.dragTimer);
    this.dragTimer = setTimeout(() => this.moveWindow(w0, true), dragging ? 120 : 0);
  },

  /** The query rows on screen [first, end). */
  visibleRows() {
    if (!this.mid) return [0, 0];
    const [top, bottom] = this.visibleRange();
    return [rowAt(this.qAxis, top, this.rowH, this.gapH), rowAt(this.qAxis, bottom, this.rowH, this.gapH) + 1];
  },

  followScroll() {
    if (!this.ctx || this.rows >= this.total) return this.mid && this.drawStrip();
    const [v0, v1] = this.visibleRows();
    const [w0] = followScroll(
      this.total,
      this.window.map((i) => i - this.ranges.q[0]),
      v0 - this.ranges.q[0],
      v1 - this.ranges.q[0],
    );
    if (w0 + this.ranges.q[0] !== this.window[0]) this.ctx.setState({ qstart: w0 + this.ranges.q[0] });
    else this.drawStrip();
  },

  /** Scroll a row asked for (a search hit, a moved window) into view, and mark the search hit. */
  afterPaint() {
    const i = this.pendingScroll;
    this.pendingScroll = null;
    if (i != null && i >= this.qAxis.start && i < this.qAxis.end) {
      // The scroll box only (scrollIntoView would scroll the page too, moving the toolbar away).
      const y = this.rowY(this.qAxis, i);
      const box = this.scroll;
      const offset = this.stage.getBoundingClientRect().top - box.getBoundingClientRect().top + box.scrollTop;
      box.scrollTop = Math.max(0, offset + y - box.clientHeight / 2);
      this.drawStrip();
    }
    this.markFound();
  },

  searchTokens(text, jump) {
    const [q0, q1] = this.ranges.q;
    const matches = findTokens(this.queryTokens.slice(q0, q1), text).map((i) => i + q0);
    this.find = { query: text, matches, current: -1 };
    this.root.dataset.matches = String(matches.length);
    if (jump && matches.length) this.jump(0);
    else if (this.ctx) {
      this.renderBar(this.ctx);
      this.markFound();
    }
  },

  /** Go to search match number m: the window moves there, the token scrolls into view, highlighted. */
  jump(m) {
    if (m < 0) return;
    this.find.current = m;
    const i = this.find.matches[m];
    this.pendingScroll = i;
    this.root.dataset.found = String(i);
    if (i < this.window[0] || i >= this.window[1]) {
      this.ctx.setState({ qstart: centredWindow(this.total, i - this.ranges.q[0], this.rows)[0] + this.ranges.q[0] });
    } else {
      this.renderBar(this.ctx);
      this.afterPaint();
    }
  },

  /** Search hits (class "match") and the current one ("found") in both columns (self-attention). */
  markFound() {
    for (const n of this.hits || []) n.classList.remove("match", "found");
    this.hits = [];
    const found = this.find.current >= 0 ? this.find.matches[this.find.current] : null;
    const columns = [[this.leftNodes, this.qAxis]];
    if (!Array.isArray(this.ctx.meta.key_tokens)) columns.push([this.rightNodes, this.kAxis]);
    for (const [nodes, ax] of columns) {
      for (const i of this.find.matches) {
        const n = nodes[i - ax.start];
        if (!n) continue;
        n.classList.add("match");
        if (i === found) n.classList.add("found");
        this.hits.push(n);
      }
    }
    if (found == null) delete this.root.dataset.found;
  },
};
