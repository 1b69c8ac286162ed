// The head view's controls for long inputs: the query window (rows, previous / next, a strip of
// the whole input to drag it along, with search hits marked), find-a-token, lines per query,
// words, and hiding the first token. What they do is the view's (head_nav.js moves the window).

import { el, select, sizeCanvas, cssVar } from "../dom.js";
import { WHOLE_INPUT_ROWS, WINDOW_CHOICES } from "./head_window.js";

const FILTER_LABELS = { all: "All", aa: "A\u2192A", bb: "B\u2192B", ab: "A\u2192B", ba: "B\u2192A" };
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

/** The sentence filter's label and buttons (`current` pressed); `pick(filter)` on a click. */
export function filterButtons(current, pick) {
  const buttons = Object.entries(FILTER_LABELS).map(([value, label]) =>
    el(
      "button",
      {
        type: "button",
        class: "chip",
        "aria-pressed": String(value === current),
        dataset: { filter: value },
        onclick: () => pick(value),
      },
      label,
    ),
  );
  return [el("span", { class: "bar-label" }, "Sentences"), ...buttons];
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

function windowButton(className, label, disabled, onclick, text) {
  return el("button", { type: "button", class: `icon ${className}`, "aria-label": label, disabled, onclick }, text);
}

/** The query window's controls (none while every row is drawn), for headBar. */
function windowControls(s, on, strip) {
  if (!(s.rows < s.total || s.total > WHOLE_INPUT_ROWS)) return [];
  const choices = windowChoices(s.total, s.limit);
  return [
    el("span", { class: "bar-label" }, "Lines from queries"),
    windowButton("window-prev", "Previous window", s.window[0] <= s.range[0], () => on.shift(-1), "\u25c0"),
    strip.canvas,
    windowButton("window-next", "Next window", s.window[1] >= s.range[1], () => on.shift(1), "\u25b6"),
    el("output", { class: "window-label" }, `${s.window[0]}\u2013${s.window[1] - 1} of ${s.total}`),
    select(
      choices.map((n) => [n, n === s.total ? `all ${n}` : `${n} rows`]),
      s.rows,
      (v) => on.rows(Number(v)),
      { class: "window-rows", "aria-label": "Rows in the query window" },
    ),
  ];
}

function toggle(className, pressed, onclick, title, text) {
  return el(
    "button",
    { type: "button", class: `chip ${className}`, "aria-pressed": String(pressed), onclick, title },
    text,
  );
}

/**
 * The bar's changing parts: [window controls, other controls]. `s`: {total, limit, rows, window:
 * [w0, w1], range: [lo, hi], topk, merge, sink}; `on`: {rows(n), shift(delta), topk(k), words(), sink()}.
 */
export function headBar(s, on, strip) {
  const topk = select(TOPK_CHOICES, s.topk || 0, (v) => on.topk(Number(v)), {
    class: "topk-select",
    "aria-label": "Strongest lines per query and head",
  });
  const options = [
    el("label", { class: "field" }, "Lines per query", topk),
    toggle(
      "words-toggle",
      s.merge,
      () => on.words(),
      "Merge word pieces into words: attention to a word is the sum over its pieces, from a word the mean",
      "Words",
    ),
    toggle(
      "hide-sink",
      s.sink,
      () => on.sink(),
      "Hide the first token (the \u201cattention sink\u201d) and renormalise each row over the others",
      "Hide first token",
    ),
  ];
  return [windowControls(s, on, strip), options];
}
