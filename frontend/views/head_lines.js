// The head view's lines: which (head, query, key) lines a layer has above a threshold, grouped
// so that one stroke() draws every line of a head in one opacity bucket, and how they are stroked.

import { headColor } from "../colors.js";

const BUCKETS = 20; // lines batched into opacity buckets: one stroke() per head per bucket (per band)

/**
 * Lines of `set` (head_lineset.js LineSet) at or above `threshold`, grouped by head and opacity
 * bucket (one stroke each; heads ascending, then buckets), with the y of each end from `qy(q)` /
 * `ky(k)`: {count, groups: [{head, bucket, ys: [yQuery, yKey, ...]}]}; within a group the lines
 * are in query order.
 */
export function collectLines(set, qRange, kRange, threshold, qy, ky, topK = 0) {
  const perHead = new Map();
  let count = 0;
  const qys = [];
  for (let q = qRange[0]; q < qRange[1]; q++) qys.push(qy(q));
  const kys = [];
  for (let k = kRange[0]; k < kRange[1]; k++) kys.push(ky(k));
  set.forEachLine(
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
  for (const [head, buckets] of [...perHead].sort((a, b) => a[0] - b[0])) {
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

/** Index (even) of the first line of `ys` (pairs, in query order) whose query y is at least `y`. */
function firstFrom(ys, y) {
  let lo = 0;
  let hi = ys.length / 2;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ys[2 * mid] < y) lo = mid + 1;
    else hi = mid;
  }
  return 2 * lo;
}

/**
 * The lines of `groups` whose query end is in the frame [top, bottom] (canvas y of what is on
 * screen, of a column `height` tall). A key beyond the frame is drawn in the `zone` px at the
 * frame's edge on its side, where keys keep their order (the first key at the very top, the last
 * at the very bottom), so lines to far keys fan out there instead of leaving the screen.
 * visit(group, yQuery, yKey, side, yKeyTrue): side -1 for a key above the frame, 1 below, 0 in it.
 */
export function forEachFramed(groups, [top, bottom], zone, height, visit) {
  const room = Math.max(0, zone - 2);
  for (const g of groups) {
    const { ys } = g;
    for (let i = firstFrom(ys, top); i < ys.length && ys[i] <= bottom; i += 2) {
      const yk = ys[i + 1];
      if (yk < top) visit(g, ys[i], top + 1 + (room * yk) / Math.max(1, top), -1, yk);
      else if (yk > bottom) visit(g, ys[i], bottom - 1 - (room * (height - yk)) / Math.max(1, height - bottom), 1, yk);
      else visit(g, ys[i], yk, 0, yk);
    }
  }
}

/**
 * Stroke the lines of a frame (forEachFramed) onto a canvas whose y 0 is the frame's top: lines to
 * keys beyond the frame end in its edge zones, dashed. Returns {above, below}: lines that do.
 */
export function strokeFrame(ctx, groups, { width, threshold, dense, frame, zone, height }) {
  const x0 = 2;
  const x1 = width - 2;
  const counts = { above: 0, below: 0 };
  const beyond = [];
  let current = null;
  const style = (g) => {
    const w = (g.bucket + 0.5) / BUCKETS;
    ctx.strokeStyle = headColor(g.head);
    ctx.globalAlpha = Math.min(1, Math.max(threshold, w));
    ctx.lineWidth = lineWidth(w, dense);
    ctx.beginPath();
  };
  forEachFramed(groups, frame, zone, height, (g, yq, yk, side) => {
    if (side) {
      beyond.push(g, yq, yk);
      if (side < 0) counts.above++;
      else counts.below++;
      return;
    }
    if (g !== current) {
      if (current) ctx.stroke();
      current = g;
      style(g);
    }
    ctx.moveTo(x0, yq - frame[0]);
    ctx.lineTo(x1, yk - frame[0]);
  });
  if (current) ctx.stroke();
  ctx.setLineDash([4, 3]);
  for (let i = 0; i < beyond.length; i += 3) {
    if (beyond[i] !== beyond[i - 3]) {
      if (i) ctx.stroke();
      style(beyond[i]);
    }
    ctx.moveTo(x0, beyond[i + 1] - frame[0]);
    ctx.lineTo(x1, beyond[i + 2] - frame[0]);
  }
  if (beyond.length) ctx.stroke();
  ctx.setLineDash([]);
  ctx.globalAlpha = 1;
  return counts;
}

/** The weight a group's lines stand for (the middle of its opacity bucket). */
export function groupWeight(g) {
  return (g.bucket + 0.5) / BUCKETS;
}
