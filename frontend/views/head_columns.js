// The head view's two token columns and the canvases between them: row geometry (a gap with an
// A/B divider between sentences when both are in a column; every y goes through rowY so lines
// land on their tokens), building the DOM for the shown ranges, and the tiled line canvases.

import { el, sizeCanvas, tokenLabel } from "../dom.js";
import { strokeGroups } from "./head_lines.js";

const CHUNK_ROWS = 64;

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

/** Row height for `rows` rows: comfortable when short, down to 12 px (less past 2600 rows: the canvas limit). */
export function rowHeight(rows) {
  if (rows <= 30) return 22;
  return Math.max(Math.min(12, Math.floor(30000 / rows)), Math.min(22, Math.floor(660 / rows)), 4);
}

/**
 * Width of a column of `labels` (CSS px): the widest label plus padding and a weight read-out, at
 * most 220 px. Fixed, so the rows the browser skips off screen cannot change it.
 */
let fontFamily = null;
function columnWidth(labels, ax, rowH) {
  const g = document.createElement("canvas").getContext("2d");
  const fontPx = Math.min(13, rowH - 3);
  if (!fontFamily) fontFamily = getComputedStyle(document.body).fontFamily || "sans-serif";
  const family = fontFamily;
  g.font = `${fontPx}px ${family}`;
  let widest = 0;
  for (let i = ax.start; i < ax.end; i++) widest = Math.max(widest, g.measureText(tokenLabel(labels[i])).width);
  g.font = `${fontPx * 0.85}px ${family}`;
  const weight = g.measureText("0.00").width;
  return Math.min(220, Math.ceil(widest + weight + 12 + 6 + 2));
}

function column(labels, ax, side, rowH, on) {
  const col = el("div", {
    class: `hv-col hv-${side}`,
    role: "list",
    "aria-label": side === "left" ? "Query tokens (positions being updated)" : "Key tokens (positions attended to)",
  });
  const nodes = [];
  const frag = document.createDocumentFragment();
  // Rows in chunks the browser may skip laying out and painting while off screen
  // (content-visibility); each chunk's height is known exactly, so nothing moves.
  let chunk = null;
  // One node cloned per token (2048 tokens x 2 columns: building them is most of a render).
  const template = el(
    "div",
    { class: "tok", role: "listitem" },
    el("span", { class: "tok-text" }),
    el("span", { class: "tok-weight" }),
  );
  for (let i = ax.start; i < ax.end; i++) {
    if (i === ax.gapAt) {
      // The divider between the sentences; decorative (the filter bar names them for AT).
      chunk = null;
      frag.append(
        el(
          "div",
          { class: "hv-gap", "aria-hidden": "true", title: "sentence A above, sentence B below" },
          el("span", { class: "hv-gap-label" }, "A"),
          el("span", { class: "hv-gap-rule" }),
          el("span", { class: "hv-gap-label" }, "B"),
        ),
      );
    }
    if (!chunk || chunk.childElementCount >= CHUNK_ROWS) {
      chunk = el("div", { class: "hv-chunk" });
      frag.append(chunk);
    }
    const node = template.cloneNode(true);
    node.dataset.index = String(i);
    node.firstChild.textContent = tokenLabel(labels[i]);
    nodes.push(node);
    chunk.append(node);
  }
  col.append(frag);
  // Exact heights for skipped chunks (a chunk ends early at the sentence divider).
  for (const c of col.querySelectorAll(".hv-chunk"))
    c.style.containIntrinsicHeight = `auto ${c.childElementCount * rowH}px`;
  col.style.width = `${columnWidth(labels, ax, rowH)}px`;
  col.addEventListener("mouseover", (e) => on.over(e, side));
  col.addEventListener("mouseleave", () => on.leave());
  col.addEventListener("click", (e) => on.click(e, side));
  return [col, nodes];
}

/**
 * The head view's token columns and the line canvases between them, for the rows a HeadSelection
 * shows (head_window.js): built into `scroll` once, kept while the shown tokens and ranges stay.
 * Fields: rowH, gapH (CSS px), qAxis, kAxis (row geometry), left, right (the columns), leftNodes,
 * rightNodes (a node per row from the axis start), band (the query window behind the left
 * column), mid, stage, width, height, base (tiled canvas of every line), overlay (of a hovered
 * token's lines). `on`: {over(event, side), leave(), click(event, side)} for the token rows.
 */
export class ColumnLayout {
  constructor(shown, scroll, on) {
    const [q0, q1] = shown.ranges.q;
    const [k0, k1] = shown.ranges.k;
    this.rowH = rowHeight(Math.max(q1 - q0, k1 - k0, 1));
    this.gapH = Math.max(12, Math.round(this.rowH * 0.8));
    this.qAxis = axis(q0, q1, shown.sentenceB);
    this.kAxis = axis(k0, k1, shown.sentenceB);
    [this.left, this.leftNodes] = column(shown.queryTokens, this.qAxis, "left", this.rowH, on);
    // The query window: one band behind the left column's rows whose lines are drawn.
    this.band = el("div", { class: "hv-window-band", "aria-hidden": "true" });
    this.left.prepend(this.band);
    [this.right, this.rightNodes] = column(shown.keyTokens, this.kAxis, "right", this.rowH, on);
    this.mid = el("div", { class: "hv-mid" });
    const style = { "--row-h": `${this.rowH}px`, "--gap-h": `${this.gapH}px` };
    this.stage = el("div", { class: "hv-stage", style }, this.left, this.mid, this.right);
    scroll.replaceChildren(this.stage);
    const span = (ax) => (ax.end - ax.start) * this.rowH + (ax.gapAt != null ? this.gapH : 0);
    this.height = Math.max(span(this.qAxis), span(this.kAxis), this.rowH);
    this.width = Math.max(120, this.mid.clientWidth);
    this.base = new TiledCanvas(this.mid, "hv-lines", this.width, this.height);
    this.overlay = new TiledCanvas(this.mid, "hv-overlay", this.width, this.height);
    this.marked = []; // key nodes marked hidden
  }

  /** y (canvas CSS px) of row i of an axis. */
  rowY(ax, i) {
    return rowY(ax, i, this.rowH, this.gapH);
  }

  /** The token node of display row i of a column ("left": queries, "right": keys), or undefined. */
  node(side, i) {
    return side === "left" ? this.leftNodes[i - this.qAxis.start] : this.rightNodes[i - this.kAxis.start];
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

  /** Scroll the scroll box (only: scrollIntoView would move the page and its toolbar) to query row i. */
  scrollToQuery(scroll, i) {
    const y = this.rowY(this.qAxis, i);
    const offset = this.stage.getBoundingClientRect().top - scroll.getBoundingClientRect().top + scroll.scrollTop;
    scroll.scrollTop = Math.max(0, offset + y - scroll.clientHeight / 2);
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
    for (const n of this.marked) n.classList.remove("hidden-key");
    this.marked = [];
    if (!hiddenCols) return;
    hiddenCols.forEach((hidden, j) => {
      const n = hidden && this.node("right", j);
      if (n) {
        n.classList.add("hidden-key");
        this.marked.push(n);
      }
    });
  }
}

// A tall canvas as a column of tiles (canvases of TILE_PX CSS px, made when first drawn on):
// 2048 tokens are a 24,576 px column, and one canvas that tall costs a 35 MB copy on every frame
// that touches it; tiles copy only what changed, and tiles never drawn on cost nothing.

export const TILE_PX = 2048;

export class TiledCanvas {
  /** Tiles of `className` (each also "hv-tile", data-top its offset) in `host`, width x height CSS px. */
  constructor(host, className, width, height) {
    Object.assign(this, { host, className, width, height });
    this.tiles = new Map(); // index -> {canvas, ctx, top}
    this.dirty = new Set();
    this.tile(0); // always there: what a short input draws on, and what tests and styles find first
  }

  tile(i) {
    let t = this.tiles.get(i);
    if (!t) {
      const top = i * TILE_PX;
      const h = Math.min(TILE_PX, this.height - top);
      const canvas = el("canvas", {
        class: `${this.className} hv-tile`,
        "aria-hidden": "true",
        dataset: { top: String(top) },
        style: { top: `${top}px` },
      });
      const ctx = sizeCanvas(canvas, this.width, h, 6e6);
      this.host.append(canvas);
      t = { canvas, ctx, top };
      this.tiles.set(i, t);
    }
    return t;
  }

  /** Stroke line groups (head_lines.js) crossing band [top, bottom) (null: all of them), tile by tile. */
  stroke(groups, opts, band = null) {
    const [top, bottom] = band || extent(groups, this.height);
    if (!(bottom > top)) return;
    const first = Math.max(0, Math.floor(top / TILE_PX));
    const last = Math.min(Math.ceil(this.height / TILE_PX) - 1, Math.floor((bottom - 1) / TILE_PX));
    for (let i = first; i <= last; i++) {
      const t = this.tile(i);
      const part = [Math.max(top, t.top), Math.min(bottom, t.top + TILE_PX)];
      t.ctx.save();
      t.ctx.translate(0, -t.top);
      strokeGroups(t.ctx, groups, { ...opts, width: this.width, band: part });
      t.ctx.restore();
      this.dirty.add(i);
    }
  }

  /** Clear every tile drawn on since the last clear. */
  clear() {
    for (const i of this.dirty) this.tiles.get(i).ctx.clearRect(0, 0, this.width, TILE_PX);
    this.dirty.clear();
  }
}

/** [top, bottom) of the lines in `groups` (3 px of stroke either side), within 0..height. */
function extent(groups, height) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const { ys } of groups) {
    for (const y of ys) {
      if (y < lo) lo = y;
      if (y > hi) hi = y;
    }
  }
  return [Math.max(0, Math.floor(lo - 3)), Math.min(height, Math.ceil(hi + 3))];
}
