// The compare view's frame of two records held whole: record B, A's and B's display slabs (the
// shown heads' mean, hidden keys renormalised, words merged), B - A and the colour scales; and
// what makes two records comparable. (Records read as tiles: compare_tiles.js.)

import { SCALES, defaultScale, logFloor, makeScale } from "../scales.js";
import { displaySlab, keySequence, querySequence } from "../words.js";
import { notStoredAsNaN } from "./layer_data.js";

/** The default B: the last step when A is not the last one, else the first. */
export function defaultStepB(steps, stepA) {
  if (!steps.length) return null;
  const last = steps[steps.length - 1].step;
  return last !== stepA ? last : steps[0].step;
}

/** B - A of two equal-length arrays (NaN where either is), and the largest |B - A|. */
export function difference(a, b) {
  const diff = new Float32Array(a.length);
  let maxAbs = 0;
  for (let i = 0; i < diff.length; i++) {
    diff[i] = b[i] - a[i];
    const m = Math.abs(diff[i]);
    if (m > maxAbs) maxAbs = m;
  }
  return { diff, maxAbs };
}

/** Why A and B cannot be compared (a message), or null when they can. */
export function mismatch(state, meta, b) {
  if (!b.entry) return `run ${b.run} has no steps of tag ${state.tag}`;
  if (!b.meta) return `step ${b.step} of ${b.run} has no ${meta.kind} attention`;
  const [, H, Q, K] = meta.shape;
  const shapeB = b.meta.shape.slice(1);
  if (shapeB.join() === [H, Q, K].join() && state.layer < b.meta.shape[0]) return null;
  return (
    `cannot compare: A has shape [${H}, ${Q}, ${K}] and B [${shapeB.join(", ")}] in layer ${state.layer}; ` +
    "compare records of the same input"
  );
}

export function sameTokens(meta, metaB) {
  const text = (tokens) => tokens.join("\u0000");
  return (
    text(metaB.tokens) === text(meta.tokens) &&
    text(metaB.key_tokens || metaB.tokens) === text(meta.key_tokens || meta.tokens)
  );
}

/**
 * What one render compares (a CompareFrame): record B, A's and B's display slabs (words.js displaySlab of
 * the shown heads' mean), B - A, and the colour scales, for the selection `state`.
 */
export function compareFrame(state, meta, recordB, va, vb, heads) {
  const [, , Q, K] = meta.shape;
  const merge = state.words === "1";
  const hidden = (state.hide || []).filter((p) => p < K);
  const same = sameTokens(meta, recordB.meta);
  const slab = (data, m) =>
    displaySlab({ data, rows: Q, cols: K, rowSeq: querySequence(m), colSeq: keySequence(m), merge, hidden });
  // Words of B's tokens may group differently: on other tokens, B is grouped as A is.
  const a = slab(va, meta);
  const b = slab(vb, merge && !same ? meta : recordB.meta);
  // Keys a sparse record dropped: not stored, never a zero weight (word sums count them 0).
  const sparse = [meta, recordB.meta].map((m) => !merge && m.encoding === "sparse");
  if (sparse[0]) a.data = notStoredAsNaN(a.data, va, Q, K, meta, state.layer, a.hiddenCols);
  if (sparse[1]) b.data = notStoredAsNaN(b.data, vb, Q, K, recordB.meta, state.layer, b.hiddenCols);
  const { diff, maxAbs } = difference(a.data, b.data);
  const kind = SCALES.includes(state.scale) ? state.scale : defaultScale(K);
  const floor = kind === "log" ? Math.min(logFloor(a.data), logFloor(b.data)) : 1e-4;
  const range = Math.max(maxAbs, 1e-3);
  return {
    recordB,
    heads,
    nan: sparse[0] || sparse[1],
    merge,
    hidden,
    sameTokens: same,
    a,
    b,
    diff,
    range,
    kind,
    scale: makeScale(kind, 0, 1, floor),
    // The difference follows A and B's scale: linear with linear, else a signed square root.
    diffScale: makeScale(kind === "linear" ? "linear" : "signed-sqrt", -range, range),
  };
}
