// The weights a render of the head view draws its lines from: the shown heads' rows of the query
// window (layer_data.js rowsOf: the whole layer when it is fetched whole, else blocks of rows
// fetched one after another and dropped once read; a sparse record's as the entries they kept),
// with words merged and hidden keys dropped as the selection asks (words.js displaySlab;
// head_sparse.js for kept entries), kept compact (head_lineset.js); the sink and window
// shares of each row (head_shares.js); for sparse records the weight each row kept (read by
// hovers only, so it may arrive after the first paint).

import { displaySlab, mergeRows, tokenRows } from "../words.js";
import { readoutWindow } from "../structure.js";
import { collectLines } from "./head_lines.js";
import { LineSet } from "./head_lineset.js";
import { displaySparse } from "./head_sparse.js";
import { itemShares, rowShares } from "./head_shares.js";
import { keptOf, rowsOf, sparseRows, wholeLayer } from "./layer_data.js";

// Weights (or a sparse record's kept entries) fetched at once when a layer is not fetched whole.
const BLOCK_VALUES = 4 * 2 ** 20; // 16 MB as float32
const KEPT_WINDOWS = 8; // windows of lines kept per view (a few hundred kB each)
const IN_FLIGHT = 4; // blocks fetched at once (each at most 16 MB as float32 while it is read)

/** The slab display rows [i0, i1) are read from: as fetched, or with words merged / keys hidden. */
function displayed(slab, shown, i0, i1) {
  if (!shown.merge && !shown.hidden.length) return { slab, hiddenCols: null };
  if (slab.sparse) return displaySparse(slab, shown, i0, i1);
  const d = displaySlab({
    data: slab.data,
    slabs: slab.heads,
    rows: slab.dataRows,
    cols: slab.keys,
    rowSeq: shown.qSeq,
    colSeq: shown.kSeq,
    merge: shown.merge,
    hidden: shown.hidden,
    rowRange: [i0, i1],
    dataRow0: slab.dataRow0,
  });
  const out = { keys: d.cols, data: d.data, slot: slab.slot, dataRow0: i0, dataRows: i1 - i0, heads: slab.heads };
  return { slab: out, hiddenCols: shown.hidden.length ? d.hiddenCols : null };
}

/**
 * The window's display rows in blocks [i0, i1) of at most BLOCK_VALUES fetched weights (at least
 * one item; a word's pieces stay in one block), or one block when the layer is fetched whole.
 * `keys`: the weights fetched per row and head (a sparse record's rows: the keys they keep).
 */
export function rowBlocks(items, window, heads, keys, whole) {
  const [w0, w1] = window;
  if (whole || w1 <= w0) return [[w0, w1]];
  const rows = Math.max(1, Math.floor(BLOCK_VALUES / (Math.max(1, heads) * keys)));
  const out = [];
  let i0 = w0;
  while (i0 < w1) {
    let i1 = i0 + 1;
    while (i1 < w1 && items[i1].end - items[i0].start <= rows) i1++;
    out.push([i0, i1]);
    i0 = i1;
  }
  return out;
}

/**
 * Weights fetched per query row and head: a sparse record's rule keeps at most `top_k` keys a
 * row (/steps `sparse`; by mass alone, up to every key), a dense row has every key.
 */
function keptPerRow(meta) {
  const keys = meta.shape[3];
  const topK = sparseRows(meta) && meta.sparse ? meta.sparse.top_k : null;
  return Number.isInteger(topK) && topK > 0 ? Math.min(keys, topK) : keys;
}

/** Blocks holding rows of `first` ([q0, q1) or null) first, then the others nearest first. */
function loadOrder(blocks, first) {
  if (!first) return blocks;
  const distance = ([i0, i1]) => (i1 <= first[0] ? first[0] - i1 + 1 : i0 >= first[1] ? i0 - first[1] + 1 : 0);
  return [...blocks].sort((a, b) => distance(a) - distance(b));
}

export class HeadLines {
  /**
   * Lines of `shown` (a HeadSelection): `set` (LineSet of display rows), `hiddenCols` (a flag per
   * key item; null when no key is hidden), `shares` (per fetched block, head_shares.js) and the
   * window they are read against; `kept` (sparse records) is set when it arrives.
   */
  constructor(shown, { least, leastMean, window }) {
    Object.assign(this, { heads: shown.heads, window: shown.window, topk: shown.topk, readout: window });
    this.set = new LineSet(shown.heads, least, leastMean);
    this.hiddenCols = null;
    this.shares = [];
    this.kept = null;
    this.complete = false;
  }

  /** Read one fetched block (token rows, as rowsOf gives them) holding display rows [i0, i1). */
  read(fetched, shown, [i0, i1], cross) {
    const [t0, t1] = tokenRows(shown.qItems, i0, i1);
    if (!cross) this.shares.push(rowShares(fetched, shown.heads, t0, t1, this.readout && this.readout.size));
    const { slab, hiddenCols } = displayed(fetched, shown, i0, i1);
    this.hiddenCols = hiddenCols;
    this.set.add(slab, i0, i1);
  }

  /**
   * The lines of `shown` at this step and layer. `opts`: {least, leastMean (LineSet), first
   * (display rows to read first, or null), painted(lines) (called, and awaited, once those are
   * read; the rest follows), cache (a Map kept by the view)}. Resolves when every row is read,
   * or early once another render started (check ctx.current()).
   */
  static async load(ctx, shown, opts) {
    const { state, meta } = ctx;
    const key = JSON.stringify([state.run, state.tag, state.step, state.layer, state.kind, shown.heads, shown.window]);
    const cacheKey = JSON.stringify([key, shown.merge, shown.hidden, shown.topk]);
    const cached = opts.cache.get(cacheKey);
    if (cached) return cached;
    const cross = Array.isArray(meta.key_tokens);
    const lines = new HeadLines(shown, { ...opts, window: cross ? null : readoutWindow(meta, state.layer) });
    const source = { layer: ctx.layer, selection: ctx.selection };
    keptOf(source, meta, state.step, state.layer, shown.heads).then(
      (k) => ctx.current() && (lines.kept = k && (shown.merge ? mergeRows(k, shown.qItems) : k)),
      () => {},
    );
    if (shown.heads.length) await lines.fetchAll(ctx, shown, source, opts, cross);
    if (!ctx.current()) return lines;
    lines.complete = true;
    opts.cache.set(cacheKey, lines);
    if (opts.cache.size > KEPT_WINDOWS) opts.cache.delete(opts.cache.keys().next().value);
    return lines;
  }

  /** Fetch and read the window's blocks, the `first` rows' first (IN_FLIGHT requests at a time). */
  async fetchAll(ctx, shown, source, opts, cross) {
    const { state, meta } = ctx;
    const whole = wholeLayer(meta);
    const perRow = keptPerRow(meta);
    const blocks = loadOrder(rowBlocks(shown.qItems, shown.window, shown.heads.length, perRow, whole), opts.first);
    const fetch = ([i0, i1]) => {
      const [t0, t1] = tokenRows(shown.qItems, i0, i1);
      return rowsOf(source, meta, state.step, state.layer, shown.heads, t0, t1, !whole);
    };
    const pending = blocks.map(() => null);
    const start = (i) => i < blocks.length && !pending[i] && (pending[i] = fetch(blocks[i]));
    let firstDone = !opts.first;
    for (let i = 0; i < blocks.length; i++) {
      for (let j = i; j < i + IN_FLIGHT; j++) start(j);
      const fetched = await pending[i];
      pending[i] = true; // read: its data may be freed
      if (!ctx.current()) return;
      this.read(fetched, shown, blocks[i], cross);
      if (!firstDone && this.set.holds(...opts.first)) {
        firstDone = true;
        if (i < blocks.length - 1) await opts.painted(this);
        if (!ctx.current()) return;
      }
    }
  }

  /**
   * Lines of query rows `qRange` (within the window) to keys `kRange` at or above `threshold`,
   * placed on `columns` (head_columns.js ColumnLayout): head_lines.js collectLines' answer.
   */
  collect(qRange, kRange, threshold, columns) {
    const q = [Math.max(qRange[0], this.window[0]), Math.min(qRange[1], this.window[1])];
    const qy = (i) => columns.rowY(columns.qAxis, i);
    const ky = (k) => columns.rowY(columns.kAxis, k);
    return collectLines(this.set, q, kRange, threshold, qy, ky, this.topk);
  }

  /** Visit the lines of rows `qRange` to keys `kRange` at or above `threshold` (with the view's lines per query). */
  forEachLine(qRange, kRange, threshold, visit) {
    this.set.forEachLine(qRange, kRange, threshold, visit, this.topk);
  }

  /** head_lineset.js LineSet.meanWeights. */
  meanWeights(fromQuery, index, range, least) {
    return this.set.meanWeights(fromQuery, index, range, least);
  }

  /** The sink and window shares of display item `item` ({start, end}), or null when not read. */
  sharesOf(item) {
    for (const part of this.shares) {
      const got = itemShares(part, item);
      if (got) return got;
    }
    return null;
  }
}
