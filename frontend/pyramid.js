// Max-pooled levels of a heat map, for drawing it zoomed out without losing thin peaks: level L
// holds ceil(rows / 2^L) x ceil(cols / 2^L) cells, each the largest of the 2^L x 2^L cells it
// covers (for a signed map, such as a difference, the one farthest from 0, sign kept), and a
// column mask: a pooled column is masked when every column it covers is. Pure.

/**
 * One level up: 2 x 2 max-pooling of `values` (rows x cols; by |value| when `signed`) and of a
 * column mask. With `nan` (values that may be NaN: not stored), a pooled cell is the largest of
 * the values it covers that are not NaN, and NaN only when all are.
 */
export function pool2(values, rows, cols, mask = null, signed = false, nan = false) {
  const outRows = Math.ceil(rows / 2);
  const outCols = Math.ceil(cols / 2);
  const out = new Float32Array(outRows * outCols);
  if (nan) out.fill(NaN);
  for (let r = 0; r < rows; r++) {
    const o = (r >> 1) * outCols;
    const base = r * cols;
    for (let c = 0; c < cols; c++) {
      const v = values[base + c];
      const p = o + (c >> 1);
      const w = out[p];
      if (signed ? Math.abs(v) > Math.abs(w) : v > w) out[p] = v;
      else if (nan && w !== w && v === v) out[p] = v;
    }
  }
  let outMask = null;
  if (mask) {
    outMask = new Uint8Array(outCols);
    for (let c = 0; c < outCols; c++) outMask[c] = mask[2 * c] && (2 * c + 1 >= cols || mask[2 * c + 1]) ? 1 : 0;
  }
  return { values: out, rows: outRows, cols: outCols, mask: outMask };
}

/** How many levels above 0 a rows x cols grid has (until one side is a single cell). */
export function levelCount(rows, cols) {
  let n = 0;
  for (let s = Math.max(rows, cols); s > 1; s = Math.ceil(s / 2)) n++;
  return n;
}

/** Levels 0..upTo of a grid: [{values, rows, cols, mask}] (level 0 is the input itself). */
export function buildLevels(values, rows, cols, upTo, mask = null, signed = false) {
  const levels = [{ values, rows, cols, mask }];
  for (let l = 1; l <= upTo; l++) {
    const p = levels[l - 1];
    levels.push(pool2(p.values, p.rows, p.cols, p.mask, signed));
  }
  return levels;
}
