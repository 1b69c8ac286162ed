// Head importance as the views look it up (views/importance.js): the step that goes with a shown
// step, a head's value by the model's numbers, and the words for a tile and an ablation check.
import { test } from "node:test";
import assert from "node:assert/strict";

import { ablationText, headImportance, importanceAt, importanceText } from "../../frontend/views/importance.js";

const BODY = {
  steps: [0, 10, 30],
  values: [[[1, 2]], [[3, 4]], [[5, 6]]],
  normalized: [[[0.4, 0.9]], [[0.6, 0.8]], [[0.64, 0.77]]],
  loss: [0.7, 0.5, null],
  examples: [8, 8, 8],
  ablation: [null, { mode: "zero", k: 1, base_loss: 0.5, joint: { most: 0.625, least: 0.49 } }, null],
};

test("a shown step gets its own importance, else the latest logged before it", () => {
  assert.equal(importanceAt(BODY, 10).step, 10);
  assert.equal(importanceAt(BODY, 10).exact, true);
  const later = importanceAt(BODY, 20);
  assert.deepEqual([later.step, later.exact, later.loss], [10, false, 0.5]);
  assert.equal(importanceAt(BODY, 99).step, 30);
  assert.equal(importanceAt({ ...BODY, steps: [5], normalized: [[[1]]] }, 2), null);
  assert.equal(importanceAt({ steps: [] }, 2), null);
  assert.equal(importanceAt(null, 2), null);
});

test("a head's value is looked up by the model's layer and head numbers", () => {
  const entry = importanceAt(BODY, 10);
  assert.equal(headImportance(entry, 0, 1), 0.8);
  assert.equal(headImportance(entry, 1, 0), null);
  assert.equal(headImportance(entry, 0, 5), null);
  assert.equal(importanceText(entry, 0.8), "importance 0.80");
  assert.equal(importanceText(importanceAt(BODY, 20), 0.8), "importance 0.80 (step 10)");
  assert.equal(importanceText(entry, null), "");
});

test("the ablation check says how much zeroing each group moved the eval loss", () => {
  assert.equal(
    ablationText(BODY.ablation[1]),
    "Eval loss 0.5000; the 1 most important heads zeroed: +0.1250, the 1 least important heads zeroed: -0.0100",
  );
  assert.equal(ablationText(null), "");
});
