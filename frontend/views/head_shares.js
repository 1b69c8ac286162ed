// How much of a query row's stored weight the first key (the "attention sink", position 0) and
// the sliding window took: sums over the row as fetched (before words are merged or keys
// hidden), the mean over the shown heads. A windowed layer's row i sees keys i - window < j <= i
// (docs/http_api.md, `windows`); a sparse row's sums count only the keys it kept. Pure.

/**
 * Shares of token rows [t0, t1) of `slab` (layer_data.js rowsOf: {keys, data, slot(h),
 * dataRow0, dataRows}, or its kept entries in `sparse`) for `heads`, with the window `size`
 * (null: none): {t0, sink, window} (Float64Array per row; window null without a size).
 */
export function rowShares(slab, heads, t0, t1, size) {
  const n = t1 - t0;
  const sink = new Float64Array(n);
  const window = size ? new Float64Array(n) : null;
  if (slab.sparse) {
    sparseShares(slab, heads, t0, t1, size, sink, window);
    return { t0, sink, window };
  }
  const { keys, data, dataRow0, dataRows } = slab;
  for (const h of heads) {
    const slot = slab.slot(h);
    if (slot < 0) continue;
    for (let t = t0; t < t1; t++) {
      const base = (slot * dataRows + (t - dataRow0)) * keys;
      sink[t - t0] += data[base] / heads.length;
      if (!window) continue;
      let sum = 0;
      for (let k = Math.max(0, t - size + 1); k <= Math.min(t, keys - 1); k++) sum += data[base + k];
      window[t - t0] += sum / heads.length;
    }
  }
  return { t0, sink, window };
}

/** rowShares of a slab of kept entries (layer_data.js rowsOf), summing the entries each row kept. */
function sparseShares(slab, heads, t0, t1, size, sink, window) {
  const { offsets, indices, values } = slab.sparse;
  const { dataRow0, dataRows } = slab;
  for (const h of heads) {
    const slot = slab.slot(h);
    if (slot < 0) continue;
    for (let t = t0; t < t1; t++) {
      const row = slot * dataRows + (t - dataRow0);
      const [a, b] = [offsets[row], offsets[row + 1]];
      // Keys ascend within a row: key 0 can only be its first entry.
      sink[t - t0] += (b > a && indices[a] === 0 ? values[a] : 0) / heads.length;
      if (!window) continue;
      let sum = 0;
      for (let e = a; e < b; e++) if (indices[e] > t - size && indices[e] <= t) sum += values[e];
      window[t - t0] += sum / heads.length;
    }
  }
}

/** Shares of a display item {start, end} (token rows): the mean over its tokens, or null when not held. */
export function itemShares(shares, item) {
  if (!shares || item.start < shares.t0 || item.end > shares.t0 + shares.sink.length) return null;
  const mean = (values) => {
    let s = 0;
    for (let t = item.start; t < item.end; t++) s += values[t - shares.t0];
    return s / (item.end - item.start);
  };
  return { sink: mean(shares.sink), window: shares.window ? mean(shares.window) : null };
}
