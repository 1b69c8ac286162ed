// Zoom and pan math of the matrix view.
import { test } from "node:test";
import assert from "node:assert/strict";

import {
  cellAt,
  centreOn,
  clampView,
  fitView,
  levelFor,
  panBy,
  sameView,
  visibleCells,
  zoomAt,
  MAX_CELL_PX,
} from "../../frontend/zoom.js";

const N = 2048;
const W = 640;

test("fit shows the whole grid; the reset view", () => {
  const v = fitView(N, N, W, W);
  assert.equal(v.scale, W / N);
  assert.deepEqual(visibleCells(v, N, N, W, W), { r0: 0, r1: N, c0: 0, c1: N });
});

test("zoom about a point keeps the cell under it", () => {
  const fit = fitView(N, N, W, W);
  const v = zoomAt(fit, 8, 320, 160, N, N, W, W);
  assert.equal(v.scale, 8 * fit.scale);
  const before = cellAt(fit, 320, 160, N, N, W, W);
  const after = cellAt(v, 320, 160, N, N, W, W);
  assert.deepEqual(after, before);
  const vis = visibleCells(v, N, N, W, W);
  assert.equal(vis.c1 - vis.c0, N / 8);
});

test("zoom stays within fit and the largest cells", () => {
  const fit = fitView(N, N, W, W);
  assert.ok(sameView(zoomAt(fit, 0.1, 10, 10, N, N, W, W), fit));
  assert.equal(zoomAt(fit, 1e6, 10, 10, N, N, W, W).scale, MAX_CELL_PX);
  // A small grid that fits at large cells cannot be zoomed out past them.
  assert.equal(clampView({ scale: 1, x0: 3, y0: 3 }, 19, 19, 494, 494).scale, 26);
});

test("pan moves the visible region and stops at the edges", () => {
  const v = zoomAt(fitView(N, N, W, W), 16, 0, 0, N, N, W, W);
  const moved = panBy(v, -100, -50, N, N, W, W);
  assert.ok(moved.x0 > v.x0 && moved.y0 > v.y0);
  assert.equal(visibleCells(moved, N, N, W, W).c0, Math.floor(100 / v.scale));
  const edge = panBy(v, 1e9, 1e9, N, N, W, W);
  assert.equal(edge.x0, 0);
  assert.equal(panBy(v, -1e9, 0, N, N, W, W).x0, N - W / v.scale);
  const c = centreOn(v, 1000, 1000, N, N, W, W);
  assert.ok(Math.abs(c.x0 + W / c.scale / 2 - 1000) < 1e-9);
});

test("the pyramid level gives each pooled cell at least a pixel", () => {
  assert.equal(levelFor(W / N, 11), 2); // 0.3125 px/cell -> 4 x 4 cells per pixel... 1.25 px per pooled cell
  assert.equal(levelFor(1, 11), 0);
  assert.equal(levelFor(0.5, 11), 1);
  assert.equal(levelFor(1e-6, 3), 3);
});
