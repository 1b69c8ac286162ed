// The Query/Key view's pure parts: the server's arrays decoded, which dimensions are drawn in
// which order, and what the notes say of the vectors.
import { test } from "node:test";
import assert from "node:assert/strict";

import { defaultQuery, floats, pickColumns, shownDims, vectorNotes } from "../../frontend/views/qk_dims.js";

const answer = {
  head_dim: 4,
  a: { order: [2, 0, 3, 1] },
  changed: [1, 3, 0, 2],
  scaling: 0.125,
  causal: true,
  window: 7,
  softcap: null,
  rotary: true,
  unstored: [],
};

test("base64 float32 arrays decode exactly", () => {
  const values = new Float32Array([1.5, -0.25, 3.1415927]);
  const b64 = Buffer.from(values.buffer).toString("base64");
  assert.deepEqual(Array.from(floats(b64)), Array.from(values));
});

test("dimensions follow the server's ranking, a top n of it, or the model's order", () => {
  assert.deepEqual(shownDims(answer, "contribution", "all"), [2, 0, 3, 1]);
  assert.deepEqual(shownDims(answer, "contribution", "16"), [2, 0, 3, 1]);
  assert.deepEqual(shownDims({ ...answer, head_dim: 4 }, "model", "all"), [0, 1, 2, 3]);
  assert.deepEqual(shownDims(answer, "change", "all"), [1, 3, 0, 2]);
  assert.deepEqual(shownDims({ ...answer, changed: null }, "change", "all"), [2, 0, 3, 1]);
  const wide = { head_dim: 40, a: { order: Array.from({ length: 40 }, (_, i) => 39 - i) } };
  assert.deepEqual(
    shownDims(wide, "model", "16"),
    Array.from({ length: 16 }, (_, i) => 24 + i),
  );
});

test("columns are picked per row", () => {
  const values = new Float32Array([0, 1, 2, 3, 10, 11, 12, 13]);
  assert.deepEqual(Array.from(pickColumns(values, 2, 4, [3, 0])), [3, 0, 13, 10]);
});

test("the notes say rotary, mask, scaling and what the record does not keep", () => {
  const notes = vectorNotes(answer).join(" ");
  assert.match(notes, /after rotary position embedding/);
  assert.match(notes, /causal, sliding window of 7/);
  assert.match(notes, /0\.1250/);
  const t5 = vectorNotes({ ...answer, rotary: false, causal: false, unstored: ["position_bias"] }).join(" ");
  assert.match(t5, /No rotary embedding/);
  assert.match(t5, /position_bias/);
  assert.equal(defaultQuery(5, true), 4);
  assert.equal(defaultQuery(5, false), 0);
});
