// Pure parts of the views: the registry, sentence filters, line collection, rule text, defaults.
import { test } from "node:test";
import assert from "node:assert/strict";

import { HEAD_VIEWS, VIEWS, viewEntry, isView } from "../../frontend/views/registry.js";
import { parse } from "../../frontend/state.js";
import { filterRanges } from "../../frontend/views/head_window.js";
import { collectLines, forEachFramed, strokeFrame } from "../../frontend/views/head_lines.js";
import { LineSet } from "../../frontend/views/head_lineset.js";
import { ruleText } from "../../frontend/views/patterns_view.js";
import { defaultStepB, difference } from "../../frontend/views/compare_view.js";
import { toggledHidden } from "../../frontend/views/map_controls.js";
import { fileName } from "../../frontend/export.js";

test("the registry names each view once, and unknown names fall back to the first", () => {
  const names = VIEWS.map((v) => v.name);
  assert.equal(new Set(names).size, names.length);
  assert.equal(viewEntry("nope").name, names[0]);
  assert.ok(isView("patterns") && !isView("nope"));
  for (const v of VIEWS) assert.match(v.module, /^\.\/\w+\.js$/);
});

test("the views a head opens in come from the registry, and only they are kept in the URL", () => {
  assert.deepEqual(
    HEAD_VIEWS.map((v) => v.name),
    VIEWS.filter((v) => v.opensHead).map((v) => v.name),
  );
  assert.ok(HEAD_VIEWS.length >= 2 && HEAD_VIEWS[0] === VIEWS[0] && HEAD_VIEWS.every((v) => v.perLayer));
  for (const v of VIEWS) assert.equal(parse(`open=${v.name}`).open, v.opensHead ? v.name : undefined);
});

test("sentence filters pick the A/B ranges; cross-attention ignores them", () => {
  assert.deepEqual(filterRanges("ab", 10, 10, 4), { q: [0, 4], k: [4, 10] });
  assert.deepEqual(filterRanges("ba", 10, 10, 4), { q: [4, 10], k: [0, 4] });
  assert.deepEqual(filterRanges("bb", 10, 10, null), { q: [0, 10], k: [0, 10] });
  assert.deepEqual(filterRanges("aa", 3, 7, 2), { q: [0, 3], k: [0, 7] });
});

test("lines at or above the threshold, grouped by head and opacity bucket", () => {
  // 2 heads x 2 queries x 3 keys
  const data = new Float32Array([0.5, 0.5, 0, 0.01, 0.03, 0.96, /* head 1 */ 1, 0, 0, 0, 0.25, 0.75]);
  const set = new LineSet([0, 1], 0.01, 1);
  set.add({ keys: 3, data, slot: (h) => h, dataRow0: 0, dataRows: 2 }, 0, 2);
  const seen = [];
  set.forEachLine([0, 2], [0, 3], 0.02, (h, q, k) => seen.push([h, q, k]));
  // Row by row, each row's heads in order.
  assert.deepEqual(seen, [
    [0, 0, 0],
    [0, 0, 1],
    [1, 0, 0],
    [0, 1, 1],
    [0, 1, 2],
    [1, 1, 1],
    [1, 1, 2],
  ]);
  const one = new LineSet([1], 0.01, 1);
  one.add({ keys: 3, data, slot: (h) => h, dataRow0: 0, dataRows: 2 }, 0, 2);
  const { count, groups } = collectLines(
    one,
    [0, 2],
    [0, 3],
    0.02,
    (q) => 10 * q,
    (k) => 100 + k,
  );
  assert.equal(count, 3);
  const byBucket = Object.fromEntries(groups.map((g) => [g.bucket, g.ys]));
  assert.deepEqual(byBucket, { 19: [0, 100], 5: [10, 101], 15: [10, 102] }); // 1.0, 0.25, 0.75
});

test("a frame's lines: queries in the frame only, keys beyond it in its edge zones, in order", () => {
  // Lines (query y, key y) of one group, in query order: above, in, below the frame [100, 200] of
  // a column 1000 px tall.
  const group = { head: 0, bucket: 10, ys: [50, 60, 110, 10, 150, 160, 170, 90, 190, 500, 250, 120] };
  const seen = [];
  forEachFramed([group], [100, 200], 12, 1000, (g, yq, yk, side, yTrue) => seen.push([yq, yk, side, yTrue]));
  // Keys above end in [101, 111] by their place among the keys above (10 of 100 px: 102); below, the same.
  assert.deepEqual(seen, [
    [110, 102, -1, 10],
    [150, 160, 0, 160],
    [170, 110, -1, 90],
    [190, 192.75, 1, 500],
  ]);
  // Stroked on a canvas whose y 0 is the frame's top; the lines into the edge zones are counted.
  const calls = [];
  const ctx = new Proxy(
    {},
    {
      get:
        (_, name) =>
        (...args) =>
          calls.push([name, ...args]),
      set: () => true,
    },
  );
  const frame = { width: 104, threshold: 0.02, dense: false, frame: [100, 200], zone: 12, height: 1000 };
  assert.deepEqual(strokeFrame(ctx, [group], frame), { above: 2, below: 1 });
  const moves = calls.filter(([name]) => name === "moveTo" || name === "lineTo").map((c) => c.slice(1));
  // Lines to keys in the frame first, then those beyond it, dashed.
  assert.deepEqual(moves, [
    [2, 50],
    [102, 60],
    [2, 10],
    [102, 2],
    [2, 70],
    [102, 10],
    [2, 90],
    [102, 92.75],
  ]);
  assert.deepEqual(calls.find(([name]) => name === "setLineDash").slice(1), [[4, 3]]);
});

test("rule text states each label's metric and threshold", () => {
  const rules = {
    thresholds: [
      { label: "broad", metric: "entropy", threshold: 3.8 },
      { label: "cls", metric: "cls", threshold: 0.6 },
    ],
  };
  assert.equal(ruleText(rules), "broad: entropy > 3.8; cls: cls > 0.6");
});

test("compare defaults B to the last step, or the first when A is the last", () => {
  const steps = [{ step: 0 }, { step: 5 }, { step: 9 }];
  assert.equal(defaultStepB(steps, 0), 9);
  assert.equal(defaultStepB(steps, 9), 0);
  assert.equal(defaultStepB([], 3), null);
});

test("export file names keep the layer for per-layer views only, and only safe characters", () => {
  assert.equal(
    fileName({ run: "a/b", tag: "probe/x y", step: 3, layer: 2, view: "head" }, "png"),
    "attention_a-b_probe-x-y_step3_layer2_head.png",
  );
  assert.equal(
    fileName({ run: "r", tag: "t", step: 3, layer: 2, view: "model" }, "svg"),
    "attention_r_t_step3_model.svg",
  );
});

test("the compare view's difference is B - A with its largest magnitude", () => {
  const { diff, maxAbs } = difference(new Float32Array([0.5, 0.2, 0]), new Float32Array([0.25, 0.2, 0.125]));
  assert.deepEqual(Array.from(diff), [-0.25, 0, 0.125]);
  assert.equal(maxAbs, 0.25);
});

test("a click hides a word's pieces together and a second click shows them again", () => {
  const word = { start: 3, end: 5 };
  assert.deepEqual(toggledHidden([0], word), [0, 3, 4]);
  assert.deepEqual(toggledHidden([0, 3, 4], word), [0]);
  assert.equal(toggledHidden([3, 4], word), null);
  assert.deepEqual(toggledHidden([4], word), [3, 4]); // partly hidden: the whole word is hidden
});
