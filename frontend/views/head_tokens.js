// One token column of the head view. Up to 512 rows every token is a DOM node, as in bertviz;
// longer columns hold only the rows on screen and a margin (`show(frame)` as the view scrolls),
// so a 32 768-token column is a few hundred nodes. Each row sits at its geometric y (head_columns.js
// rowY), so lines land on their tokens whatever is built. What rows carry (classes such as the
// search hits, the hover's weights) is kept per row index and given to a row when it is built.

import { el, tokenLabel } from "../dom.js";

export const EVERY_ROW_LIMIT = 512; // columns up to this many rows keep every row in the DOM
const MARGIN_PX = 480; // rows built beyond the frame on screen, above and below
const MEASURED = 2000; // longer columns measure their longest labels only

/** Row geometry of one column: rows [start, end), a gap before `gapAt` when it splits A from B. */
export function axis(start, end, sentenceB) {
  return { start, end, gapAt: sentenceB != null && start < sentenceB && sentenceB < end ? sentenceB : null };
}

/** y (CSS px, canvas coordinates) of the centre of row i of an axis. */
export function rowY(ax, i, rowH, gapH) {
  return (i - ax.start + 0.5) * rowH + (ax.gapAt != null && i >= ax.gapAt ? gapH : 0);
}

/** The row of an axis at canvas y (clamped to the axis). */
export function rowAt(ax, y, rowH, gapH) {
  let i = Math.floor(y / rowH) + ax.start;
  if (ax.gapAt != null && i >= ax.gapAt) i = Math.max(ax.gapAt, Math.floor((y - gapH) / rowH) + ax.start);
  return Math.min(ax.end - 1, Math.max(ax.start, i));
}

/**
 * Width of a column of `labels` (CSS px): the widest label plus padding and a weight read-out, at
 * most 220 px. Fixed, so the rows built as the column scrolls cannot change it.
 */
let fontFamily = null;
function columnWidth(labels, ax, rowH) {
  const g = document.createElement("canvas").getContext("2d");
  const fontPx = Math.min(13, rowH - 3);
  if (!fontFamily) fontFamily = getComputedStyle(document.body).fontFamily || "sans-serif";
  g.font = `${fontPx}px ${fontFamily}`;
  let rows = labels.slice(ax.start, ax.end);
  if (rows.length > MEASURED) {
    // The longest labels by characters: a length no more than MEASURED / 8 of them reach.
    const counts = new Map();
    for (const t of rows) counts.set(t.length, (counts.get(t.length) || 0) + 1);
    let least = Infinity;
    let taken = 0;
    for (const len of [...counts.keys()].sort((a, b) => b - a)) {
      if (taken >= MEASURED / 8) break;
      taken += counts.get(len);
      least = len;
    }
    rows = rows.filter((t) => t.length >= least).slice(0, MEASURED);
  }
  let widest = 0;
  for (const t of rows) widest = Math.max(widest, g.measureText(tokenLabel(t)).width);
  g.font = `${fontPx * 0.85}px ${fontFamily}`;
  const weight = g.measureText("0.00").width;
  return Math.min(220, Math.ceil(widest + weight + 12 + 6 + 2));
}

/** The divider between the sentences; decorative (the filter bar names them for AT). */
function gapDivider(top, gapH) {
  return el(
    "div",
    {
      class: "hv-gap",
      "aria-hidden": "true",
      title: "sentence A above, sentence B below",
      style: { top: `${top}px`, height: `${gapH}px` },
    },
    el("span", { class: "hv-gap-label" }, "A"),
    el("span", { class: "hv-gap-rule" }),
    el("span", { class: "hv-gap-label" }, "B"),
  );
}

export class TokenColumn {
  /**
   * `labels` (text per row index), `ax` (axis), `side` ("left": queries, "right": keys), `geom`
   * {rowH, gapH, height}, `on` {over(event, side), leave(), click(event, side)}.
   */
  constructor(labels, ax, side, geom, on) {
    Object.assign(this, { labels, ax, side, rowH: geom.rowH, gapH: geom.gapH });
    this.every = ax.end - ax.start <= EVERY_ROW_LIMIT;
    this.nodes = new Map(); // row index -> node, for the rows built
    this.range = [ax.start, ax.start];
    this.classes = new Map(); // class name -> Set of row indices
    this.weights = new Map(); // row index -> weight text
    const name = side === "left" ? "Query tokens (positions being updated)" : "Key tokens (positions attended to)";
    this.rows = el("div", { class: "hv-rows" });
    this.element = el("div", { class: `hv-col hv-${side}`, role: "list", "aria-label": name }, this.rows);
    this.element.style.height = `${geom.height}px`;
    this.element.dataset.rows = String(ax.end - ax.start);
    if (ax.gapAt != null) this.element.append(gapDivider(this.y(ax.gapAt) - this.rowH / 2 - this.gapH, this.gapH));
    this.element.style.width = `${columnWidth(labels, ax, this.rowH)}px`;
    this.element.addEventListener("mouseover", (e) => on.over(e, side));
    this.element.addEventListener("mouseleave", () => on.leave());
    this.element.addEventListener("click", (e) => on.click(e, side));
    this.template = el(
      "div",
      { class: "tok", role: "listitem" },
      el("span", { class: "tok-text" }),
      el("span", { class: "tok-weight" }),
    );
    if (this.every) this.build(ax.start, ax.end, false);
  }

  y(i) {
    return rowY(this.ax, i, this.rowH, this.gapH);
  }

  /** A row's node, with its classes and weight. */
  make(i) {
    const node = this.template.cloneNode(true);
    node.dataset.index = String(i);
    node.style.top = `${this.y(i) - this.rowH / 2}px`;
    node.firstChild.textContent = tokenLabel(this.labels[i]);
    for (const [name, rows] of this.classes) if (rows.has(i)) node.classList.add(name);
    const weight = this.weights.get(i);
    if (weight != null) node.lastChild.textContent = weight;
    this.nodes.set(i, node);
    return node;
  }

  /** Build rows [r0, r1) (none of them built yet) before the built ones, or after them. */
  build(r0, r1, before) {
    if (r1 <= r0) return;
    const frag = document.createDocumentFragment();
    for (let i = r0; i < r1; i++) frag.append(this.make(i));
    if (before) this.rows.prepend(frag);
    else this.rows.append(frag);
  }

  /** Hold the rows of the frame on screen [top, bottom] (canvas y) and a margin; no others. */
  show([top, bottom]) {
    if (this.every) return;
    const r0 = rowAt(this.ax, top - MARGIN_PX, this.rowH, this.gapH);
    const r1 = rowAt(this.ax, bottom + MARGIN_PX, this.rowH, this.gapH) + 1;
    const [o0, o1] = this.range;
    if (r0 === o0 && r1 === o1) return;
    for (const [i, node] of this.nodes) {
      if (i >= r0 && i < r1) continue;
      node.remove();
      this.nodes.delete(i);
    }
    if (r1 <= o0 || r0 >= o1) this.build(r0, r1, false);
    else {
      this.build(r0, o0, true);
      this.build(o1, r1, false);
    }
    this.range = [r0, r1];
  }

  /** The node of row i, or undefined when it is not built. */
  node(i) {
    return this.nodes.get(i);
  }

  /** Give class `name` to the rows `indices` (and to rows built later), none else. */
  mark(name, indices) {
    const old = this.classes.get(name) || new Set();
    const rows = new Set(indices);
    for (const i of old) if (!rows.has(i)) this.nodes.get(i)?.classList.remove(name);
    for (const i of rows) this.nodes.get(i)?.classList.add(name);
    this.classes.set(name, rows);
  }

  /** Weight texts beside rows: [[i, text]] (none else). */
  label(entries) {
    for (const i of this.weights.keys()) {
      const n = this.nodes.get(i);
      if (n) n.lastChild.textContent = "";
    }
    this.weights = new Map(entries);
    for (const [i, text] of this.weights) {
      const n = this.nodes.get(i);
      if (n) n.lastChild.textContent = text;
    }
  }
}
