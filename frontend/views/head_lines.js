// The head view's lines: which (head, query, key) lines a layer has above a threshold, grouped
// so that one stroke() draws every line of a head in one opacity bucket, and how they are stroked.

import { headColor } from "../colors.js";

const BUCKETS = 20; // lines batched into opacity buckets: one stroke() per head per bucket (per band)

/**
 * Visit every line of `layer` for `heads` at or above `threshold` (with `topK`, only the topK
 * strongest of each head's query row). `layer`: {queries, keys, data} of every head, or a slab
 * {keys, data, slot(h), dataRow0, dataRows} holding some heads' rows [dataRow0, dataRow0 + dataRows).
 */
export function forEachLine(layer, heads, qRange, kRange, threshold, visit, topK = 0) {
  const { keys, data } = layer;
  const rows = layer.dataRows ?? layer.queries;
  const row0 = layer.dataRow0 ?? 0;
  const best = [];
  for (const h of heads) {
    const base = (layer.slot ? layer.slot(h) : h) * rows * keys;
    const q0 = Math.max(qRange[0], row0);
    const q1 = Math.min(qRange[1], row0 + rows);
    for (let q = q0; q < q1; q++) {
      const row = base + (q - row0) * keys;
      if (!topK) {
        for (let k = kRange[0]; k < kRange[1]; k++) {
          const w = data[row + k];
          if (w >= threshold) visit(h, q, k, w);
        }
        continue;
      }
      best.length = 0;
      for (let k = kRange[0]; k < kRange[1]; k++) {
        const w = data[row + k];
        if (w >= threshold) best.push(k);
      }
      if (best.length > topK) {
        best.sort((a, b) => data[row + b] - data[row + a] || a - b);
        best.length = topK;
        best.sort((a, b) => a - b);
      }
      for (const k of best) visit(h, q, k, data[row + k]);
    }
  }
}

/**
 * Lines at or above `threshold`, grouped by head and opacity bucket (one stroke each), with the
 * y of each end from `qy(q)` / `ky(k)`: {count, groups: [{head, bucket, ys: [yQuery, yKey, ...]}]}.
 */
export function collectLines(layer, heads, qRange, kRange, threshold, qy, ky, topK = 0) {
  const perHead = new Map();
  let count = 0;
  const qys = [];
  for (let q = qRange[0]; q < qRange[1]; q++) qys.push(qy(q));
  const kys = [];
  for (let k = kRange[0]; k < kRange[1]; k++) kys.push(ky(k));
  forEachLine(
    layer,
    heads,
    qRange,
    kRange,
    threshold,
    (h, q, k, w) => {
      let buckets = perHead.get(h);
      if (!buckets) perHead.set(h, (buckets = Array.from({ length: BUCKETS }, () => [])));
      buckets[Math.min(BUCKETS - 1, Math.floor(w * BUCKETS))].push(qys[q - qRange[0]], kys[k - kRange[0]]);
      count++;
    },
    topK,
  );
  const groups = [];
  for (const [head, buckets] of perHead) {
    buckets.forEach((ys, bucket) => ys.length && groups.push({ head, bucket, ys }));
  }
  return { count, groups };
}

/** Line width of a weight: hairlines when dense, else growing with the weight. */
export function lineWidth(w, dense) {
  return dense ? (w < 0.5 ? 1 : 1.5) : 0.75 + 2.25 * w;
}

/**
 * Stroke line groups from x = 2 to width - 2; with `band` [top, bottom) only the lines crossing
 * it, clipped to it.
 */
export function strokeGroups(ctx, groups, { width, threshold, dense, band = null }) {
  const x0 = 2;
  const x1 = width - 2;
  const top = band ? band[0] - 3 : -Infinity; // 3 px: half the widest stroke, plus antialiasing
  const bottom = band ? band[1] + 3 : Infinity;
  if (band) {
    ctx.save();
    ctx.beginPath();
    ctx.rect(0, band[0], width, band[1] - band[0]);
    ctx.clip();
  }
  for (const { head, bucket, ys } of groups) {
    const w = (bucket + 0.5) / BUCKETS;
    ctx.strokeStyle = headColor(head);
    ctx.globalAlpha = Math.min(1, Math.max(threshold, w));
    ctx.lineWidth = lineWidth(w, dense);
    ctx.beginPath();
    let any = false;
    for (let i = 0; i < ys.length; i += 2) {
      const a = ys[i];
      const b = ys[i + 1];
      if ((a < b ? b : a) < top || (a < b ? a : b) > bottom) continue;
      ctx.moveTo(x0, a);
      ctx.lineTo(x1, b);
      any = true;
    }
    if (any) ctx.stroke();
  }
  ctx.globalAlpha = 1;
  if (band) ctx.restore();
}
