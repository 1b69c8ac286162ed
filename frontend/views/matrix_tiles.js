// The matrix and compare views' heat maps of a record read as tiles (layer_data.js tiledGrid):
// the source of a record's tiles for the selection (tile_sources.js), the colour scale, what a
// read-out says of a cell (a single weight, or the largest of f x f; not stored; loading), and
// the note on hidden keys, which are renormalised only at single weights.

import { LOG_FLOOR_MIN, makeScale } from "../scales.js";
import { tokenLabel } from "../dom.js";
import { cellText } from "./map_controls.js";
import { hiddenSource, layerSource } from "./tile_sources.js";

/**
 * The tiles of one layer of a record: `record` {run, tag, step, meta}, `heads` (one, or those
 * whose mean is shown), `hidden` key positions (sorted). `tile` is the context's.
 */
export function recordTiles(tile, record, layer, heads, hidden) {
  const [, H, Q, K] = record.meta.shape;
  const { run, tag, step } = record;
  const { levels, detail_rows: detail } = record.meta;
  const base = layerSource(tile, { run, tag, step, layer, heads, H, rows: Q, cols: K, levels, detail });
  return hidden.length ? hiddenSource(base, hidden) : base;
}

/**
 * The colour scale of a tiled map: on a log scale the floor is the lowest a log scale takes
 * (scales.js), since the smallest weight of a record read in tiles is never known in the tab.
 */
export function tiledScale(kind) {
  return makeScale(kind, 0, 1, LOG_FLOOR_MIN);
}

/** "queries 64–127 → keys 0–63" of a pooled cell of factor f at (r, c) (weights), clamped to the grid. */
function blockText(r, c, f, rows, cols) {
  const q0 = r - (r % f);
  const k0 = c - (c % f);
  return `queries ${q0}\u2013${Math.min(rows, q0 + f) - 1} \u2192 keys ${k0}\u2013${Math.min(cols, k0 + f) - 1}`;
}

/** Where cell (r, c) is, in words: its tokens at single weights, else the block of weights it pools. */
export function cellPlace(r, c, cell, { meta, rowItems, colItems }) {
  const [, , Q, K] = meta.shape;
  return cell.factor === 1 ? cellText(rowItems[r], colItems[c]) : blockText(r, c, cell.factor, Q, K);
}

/** What a record keeps of single weights, in words (why a cell may hold no value). */
export function storedRule(meta) {
  const d = meta.detail_rows;
  const window = d ? `rows ${d[0]}\u2013${d[1] - 1} are kept in detail` : null;
  const sparse = meta.encoding === "sparse" ? "each row keeps only its strongest keys" : null;
  return [window, sparse].filter(Boolean).join("; ") || "outside what the record keeps";
}

/**
 * The read-out of cell (r, c) of a tiled map: `cell` is tile_images.js's (null while loading),
 * `value` the number shown; `info` {meta, rowItems, colItems, mean (heads averaged), kept (per
 * row, sparse) | null, rule (the sparse rule's text)}.
 */
export function tileReadout(r, c, value, cell, info) {
  const { meta, rowItems, colItems } = info;
  if (!cell) return `${cellText(rowItems[r], colItems[c])}: loading\u2026`;
  const f = cell.factor;
  const where = cellPlace(r, c, cell, info);
  if (cell.tile.mask && cell.tile.mask[cell.col]) return `${where}: hidden key${f > 1 ? " among them" : ""}`;
  if (value !== value) return `${where}: not stored (${storedRule(meta)})`;
  let text;
  if (f === 1) text = `${where}: ${value.toFixed(4)}`;
  else {
    const what = info.mean ? "the heads' mean of their largest weight" : "largest weight";
    text = `${where} (${f} \u00d7 ${f} weights): ${what} ${value.toFixed(4)}`;
  }
  if (cell.coarser) text += `; nothing finer is stored here (${storedRule(meta)})`;
  const mass = cell.tile.mass;
  if (mass) text += ` (renormalised: ${mass[cell.row].toFixed(3)} of the row was on hidden keys)`;
  if (info.kept && f === 1) text += ` \u00b7 stored row kept ${info.kept[r].toFixed(3)} of its weight (${info.rule})`;
  return text;
}

/** The hidden-keys note of a tiled map: which keys, and that rows are renormalised at single weights only. */
export function tiledHiddenNote(hidden, colTokens) {
  const named = hidden
    .slice(0, 4)
    .map((p) => `${p} \u201c${tokenLabel(colTokens[p])}\u201d`)
    .join(", ");
  const more = hidden.length > 4 ? ` and ${hidden.length - 4} more` : "";
  return (
    `Hidden key${hidden.length > 1 ? "s" : ""} ${named}${more} (grey). Zoomed in to single weights, each row ` +
    "is renormalised over the other keys (weight \u00f7 (1 \u2212 the row\u2019s weight on hidden keys)); " +
    "zoomed out, a cell is the largest of many weights of several rows, so none is renormalised: " +
    "cells that hold a hidden key are grey, the others show the stored weight."
  );
}
