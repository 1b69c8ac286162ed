// The compare view of records read as tiles (layer_data.js tiledGrid): A's and B's tiles of the
// selection (matrix_tiles.js recordTiles) and B - A of the two (tile_sources.js), on the scales of
// a tiled map, and what a read-out says under each of the three maps. Zoomed out, B - A is the
// difference of the two records' pooled cells (each the largest of f x f weights), not the
// largest difference; at single weights it is the difference of the weights.

import { makeScale } from "../scales.js";
import { displayItems, keySequence, querySequence } from "../words.js";
import { differenceSource } from "./tile_sources.js";
import { cellPlace, recordTiles, tiledScale, tileReadout } from "./matrix_tiles.js";
import { topFactor } from "../tiles.js";
import { sparseRule } from "./layer_data.js";

/** The largest |B - A| of two top tiles (the whole maps, coarsest), at least 1e-3. */
function spread(ta, tb) {
  let m = 1e-3;
  for (let k = 0; k < ta.data.length; k++) {
    const d = Math.abs(tb.data[k] - ta.data[k]);
    if (d > m) m = d;
  }
  return m;
}

function items(meta) {
  return { rowItems: displayItems(querySequence(meta), false), colItems: displayItems(keySequence(meta), false) };
}

/**
 * What a render of two tiled records compares (compare_view.js's frame, tiled): the sources of A,
 * B and B - A, the display items, the scales (B - A's range from the whole maps' coarsest cells).
 * `b` is compare_view.js's record B; `same` whether A and B have the same tokens.
 */
export async function tiledCompareFrame(ctx, b, heads, kind, same) {
  const { state, meta } = ctx;
  const [, , Q, K] = meta.shape;
  const hidden = (state.hide || []).filter((p) => p < K);
  const recordA = { run: state.run, tag: state.tag, step: state.step, meta };
  const recordB = { run: b.run, tag: state.tag, step: b.step, meta: b.meta };
  const sources = [
    recordTiles(ctx.tile, recordA, state.layer, heads, hidden),
    recordTiles(ctx.tile, recordB, state.layer, heads, hidden),
  ];
  sources.push(differenceSource(sources[0], sources[1]));
  const top = sources[2].tile(topFactor(Q, K), 0, 0);
  let range;
  try {
    const t = await top.promise;
    range = spread(t.a, t.b);
  } finally {
    top.release();
  }
  const a = { rows: Q, cols: K, ...items(meta) };
  const bItems = { rows: Q, cols: K, ...items(same ? meta : b.meta) };
  const diffKind = kind === "linear" ? "linear" : "signed-sqrt";
  return {
    tiled: true,
    recordB: b,
    heads,
    merge: false,
    hidden,
    sameTokens: same,
    a,
    b: bItems,
    sources,
    range,
    kind,
    scale: tiledScale(kind),
    diffScale: makeScale(diffKind, -range, range),
  };
}

/** The read-out under map i (A, B, B - A) of a tiled frame at cell (r, c). */
export function tiledCompareReadout(frame, meta, i, r, c, value, cell) {
  const info = (d, m) => ({ meta: m, rowItems: d.rowItems, colItems: d.colItems, mean: frame.heads.length > 1 });
  if (i === 0) return tileReadout(r, c, value, cell, { ...info(frame.a, meta), rule: sparseRule(meta) });
  const metaB = frame.recordB.meta;
  if (i === 1) return tileReadout(r, c, value, cell, { ...info(frame.b, metaB), rule: sparseRule(metaB) });
  const text = tileReadout(r, c, value, cell, info(frame.a, meta));
  if (!cell || value !== value || (cell.tile.mask && cell.tile.mask[cell.col])) return text;
  const k = cell.row * cell.tile.cols + cell.col;
  const both = `(A ${cell.tile.a.data[k].toFixed(4)}, B ${cell.tile.b.data[k].toFixed(4)})`;
  const where = cellPlace(r, c, cell, info(frame.a, meta));
  return `${where}: B \u2212 A = ${value > 0 ? "+" : ""}${value.toFixed(4)} ${both}`;
}
