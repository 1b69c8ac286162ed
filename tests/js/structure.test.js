// The model's structure as /steps gives it (structure.js) and where the model view draws it
// (model_grid.js): KV groups, windowed layers, their labels.
import { test } from "node:test";
import assert from "node:assert/strict";

import { kvGroups, layerLabel, readoutWindow } from "../../frontend/structure.js";
import { cellName, gridLabels, modelGrid } from "../../frontend/views/model_grid.js";

const GQA = { shape: [4, 8, 64, 64], kv_heads: [0, 0, 0, 0, 1, 1, 1, 1], windows: [4096, null, 4096, null] };

test("KV groups in the order of their first head; none when the part does not say", () => {
  assert.deepEqual(kvGroups(GQA), [
    { kv: 0, heads: [0, 1, 2, 3] },
    { kv: 1, heads: [4, 5, 6, 7] },
  ]);
  // A subset of heads, not in KV order: grouped, heads kept in stored order within a group.
  assert.deepEqual(kvGroups({ kv_heads: [1, 0, 1] }), [
    { kv: 1, heads: [0, 2] },
    { kv: 0, heads: [1] },
  ]);
  for (const old of [{}, { kv_heads: null }, { kv_heads: [] }]) assert.equal(kvGroups(old), null);
});

test("windowed layers: their label, and the window a row is read against", () => {
  assert.equal(layerLabel({ ...GQA, layer_ids: [10, 11, 12, 13] }, 0), "10 \u00b7 window 4\u2009096");
  assert.equal(layerLabel(GQA, 1), "1");
  assert.equal(layerLabel({ shape: [2, 1, 4, 4] }, 1), "1");
  assert.deepEqual(readoutWindow(GQA, 0), { size: 4096, own: true });
  // A global layer of a model with windowed layers: the model's window.
  assert.deepEqual(readoutWindow({ ...GQA, windows: [8, null, 16, null] }, 1), { size: 8, own: false });
  assert.equal(readoutWindow({ ...GQA, windows: null }, 0), null);
  assert.equal(readoutWindow({ ...GQA, causal: false, windows: [null, 7, null, 7] }, 0), null);
});

test("the model view's grid: groups side by side, apart; windows under the layer numbers", () => {
  const g = modelGrid(4, 8, GQA, 1000);
  const step = g.cell + g.gap;
  assert.deepEqual(
    g.xs.map((x) => x - g.labelW),
    [0, 1, 2, 3].map((i) => i * step).concat([4, 5, 6, 7].map((i) => i * step + 12)),
  );
  assert.deepEqual(g.at(g.x(5) + 1, g.y(2) + 1), [2, 5]);
  assert.equal(g.at(g.x(3) + g.cell + g.gap + 2, g.y(0) + 1), null); // in the gap between groups
  assert.equal(g.at(2, g.y(0) + 1), null);
  const labels = gridLabels(g).map((l) => l.text);
  assert.deepEqual(labels.slice(8, 10), ["KV 0", "KV 1"]);
  assert.deepEqual(labels.slice(10), ["L0", "w4096", "L1", "L2", "w4096", "L3"]);
  assert.equal(cellName(g, 0, 5), "Layer 0 (sliding window of 4096 tokens), head 5 (reads KV head 1)");
  // No structure: the grid as before, one label per head and layer.
  const plain = modelGrid(2, 3, { shape: [2, 3, 8, 8] }, 1000);
  assert.deepEqual(
    plain.xs,
    [0, 1, 2].map((h) => plain.labelW + h * (plain.cell + plain.gap)),
  );
  assert.equal(plain.groups, null);
  assert.equal(cellName(plain, 1, 2), "Layer 1, head 2");
});
