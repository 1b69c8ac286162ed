// The head view's display rows of a sparse record's rows as fetched (layer_data.js rowsOf: the
// entries each row kept), as words.js displaySlab makes them of dense rows: hidden keys dropped
// and each token row renormalised without them, then word pieces merged (to a word: the sum over
// its pieces; from a word: the mean over its pieces). Sums run in the order and float32 precision
// displaySlab's do, so the lines are the same; a 32 768-key row is never widened. Pure.

import { displayItems, groupOf, hiddenItems } from "../words.js";

/** The hidden key columns of `keys` that displaySlab drops, in its order. */
function cutColumns(hidden, keys) {
  return [...new Set(hidden)].filter((c) => Number.isInteger(c) && c >= 0 && c < keys);
}

/**
 * Add token row `row` of `sparse` ({offsets, indices, values}) to `acc` (Float32Array per column
 * item, through `group`), the hidden columns `cut` (flagged in `isCut`) dropped and the row
 * renormalised without them; `touched` gets the items added to.
 */
function addRow(sparse, row, cut, isCut, group, acc, touched) {
  const { offsets, indices, values } = sparse;
  const [a, b] = [offsets[row], offsets[row + 1]];
  let f = 1;
  if (cut.length) {
    let h = 0; // the row's weight on hidden keys, summed in displaySlab's order (cut's)
    for (const c of cut) for (let e = a; e < b && indices[e] <= c; e++) if (indices[e] === c) h += values[e];
    if (1 - h <= 1e-6) return; // nothing left to show in this row: all 0, as displaySlab
    f = 1 / (1 - h);
  }
  for (let e = a; e < b; e++) {
    const k = indices[e];
    if (isCut && isCut[k]) continue;
    touched.push(group[k]);
    acc[group[k]] += isCut ? Math.fround(values[e] * f) : values[e];
  }
}

/**
 * Display rows [i0, i1) of `slab` (kept entries of token rows from its dataRow0) for `shown` (a
 * HeadSelection: qSeq, kSeq, merge, hidden): {slab (display rows as kept entries, keys ascending),
 * hiddenCols (a flag per key item, or null when no key is hidden)}.
 */
export function displaySparse(slab, shown, i0, i1) {
  const rowItems = displayItems(shown.qSeq, shown.merge);
  const colItems = displayItems(shown.kSeq, shown.merge);
  const group = groupOf(colItems, slab.keys);
  const cut = cutColumns(shown.hidden, slab.keys);
  const isCut = cut.length ? new Uint8Array(slab.keys) : null;
  for (const c of cut) isCut[c] = 1;
  const acc = new Float32Array(colItems.length);
  const [offsets, indices, values] = [[0], [], []];
  const touched = [];
  for (let s = 0; s < slab.heads; s++) {
    for (let i = i0; i < i1; i++) {
      const { start, end } = rowItems[i];
      touched.length = 0;
      for (let r = start; r < end; r++) {
        addRow(slab.sparse, s * slab.dataRows + (r - slab.dataRow0), cut, isCut, group, acc, touched);
      }
      touched.sort((a, b) => a - b);
      for (let t = 0; t < touched.length; t++) {
        const j = touched[t];
        if (t && j === touched[t - 1]) continue;
        if (end - start > 1) acc[j] /= end - start;
        indices.push(j);
        values.push(acc[j]);
        acc[j] = 0;
      }
      offsets.push(indices.length);
    }
  }
  const sparse = {
    offsets: Int32Array.from(offsets),
    indices: Int32Array.from(indices),
    values: Float32Array.from(values),
  };
  const { heads, slot } = slab;
  const out = { keys: colItems.length, data: null, sparse, slot, dataRow0: i0, dataRows: i1 - i0, heads };
  return { slab: out, hiddenCols: shown.hidden.length ? hiddenItems(colItems, shown.hidden) : null };
}
