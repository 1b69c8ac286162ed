// The weights a render of the head view draws its lines from: the shown heads' rows of the query
// window (layer_data.js rowsOf: the whole layer when it is fetched whole), with words merged and
// hidden keys dropped as the selection asks (words.js displaySlab), and for sparse records the
// weight each row kept (read by hovers only, so it may arrive after the first paint).

import { displaySlab, mergeRows, tokenRows } from "../words.js";
import { collectLines } from "./head_lines.js";
import { keptOf, rowsOf } from "./layer_data.js";

/** The slab the lines are read from: as fetched, or with words merged / keys hidden for the window. */
function displayed(slab, shown) {
  if (!slab || (!shown.merge && !shown.hidden.length)) return { slab, hiddenCols: null };
  const d = displaySlab({
    data: slab.data,
    slabs: slab.heads,
    rows: slab.dataRows,
    cols: slab.keys,
    rowSeq: shown.qSeq,
    colSeq: shown.kSeq,
    merge: shown.merge,
    hidden: shown.hidden,
    rowRange: shown.window,
    dataRow0: slab.dataRow0,
  });
  const [w0, w1] = shown.window;
  const out = { keys: d.cols, data: d.data, slot: slab.slot, dataRow0: w0, dataRows: w1 - w0, heads: slab.heads };
  return { slab: out, hiddenCols: shown.hidden.length ? d.hiddenCols : null };
}

export class HeadLines {
  /**
   * `slab` (head_lines.js forEachLine's layer, in display rows) of `shown` (a HeadSelection);
   * `hiddenCols`: a flag per key item (null when no key is hidden). `kept` (the weight each
   * display row kept, sparse records) is set when it arrives.
   */
  constructor(slab, shown, hiddenCols) {
    Object.assign(this, { slab, hiddenCols, heads: shown.heads, window: shown.window, topk: shown.topk });
    this.kept = null;
  }

  /** The lines of `shown` at this step and layer; `isCurrent()` false once another render started. */
  static async load(ctx, shown) {
    const { state, meta } = ctx;
    const [t0, t1] = tokenRows(shown.qItems, shown.window[0], shown.window[1]);
    const source = { layer: ctx.layer, selection: ctx.selection };
    const kept = keptOf(source, meta, state.step, state.layer, shown.heads);
    const fetched = shown.heads.length
      ? await rowsOf(source, meta, state.step, state.layer, shown.heads, t0, t1)
      : null;
    const { slab, hiddenCols } = displayed(fetched, shown);
    const lines = new HeadLines(slab, shown, hiddenCols);
    kept.then(
      (k) => ctx.current() && (lines.kept = k && (shown.merge ? mergeRows(k, shown.qItems) : k)),
      () => {},
    );
    return lines;
  }

  /**
   * Lines of query rows `qRange` (within the window) to keys `kRange` at or above `threshold`,
   * placed on `columns` (head_columns.js ColumnLayout): head_lines.js collectLines' answer.
   */
  collect(qRange, kRange, threshold, columns) {
    if (!this.slab) return { count: 0, groups: [] };
    const q = [Math.max(qRange[0], this.window[0]), Math.min(qRange[1], this.window[1])];
    const qy = (i) => columns.rowY(columns.qAxis, i);
    const ky = (k) => columns.rowY(columns.kAxis, k);
    return collectLines(this.slab, this.heads, q, kRange, threshold, qy, ky, this.topk);
  }

  /** Weight of (head, query, key) in the slab. */
  weight(h, q, k) {
    const { keys, data, dataRow0, dataRows, slot } = this.slab;
    return data[(slot(h) * dataRows + (q - dataRow0)) * keys + k];
  }

  /**
   * The mean over the shown heads of query `index`'s weights on the keys of `range` (`fromQuery`),
   * or of the weights on key `index` from the queries of `range`: [[mean, j]] of those at least
   * `least`, largest first.
   */
  meanWeights(fromQuery, index, range, least) {
    const out = [];
    if (!this.slab || !this.heads.length) return out;
    for (let j = range[0]; j < range[1]; j++) {
      let sum = 0;
      for (const h of this.heads) sum += fromQuery ? this.weight(h, index, j) : this.weight(h, j, index);
      const mean = sum / this.heads.length;
      if (mean >= least) out.push([mean, j]);
    }
    return out.sort((a, b) => b[0] - a[0]);
  }
}
