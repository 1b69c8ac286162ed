// Pure parts of the Patterns and Rollout views: chosen heads in the URL, series over steps,
// thresholds from the server's rules, chart ranges, and the rollout view's defaults.
import { test } from "node:test";
import assert from "node:assert/strict";

import {
  chartRange,
  headBand,
  headSeries,
  parsePicks,
  thresholdOf,
  togglePick,
} from "../../frontend/views/patterns_chart.js";
import { defaultQuery, isCausal, maxOf } from "../../frontend/views/rollout_view.js";
import { VIEWS } from "../../frontend/views/registry.js";
import { DEFAULTS, parse, serialize } from "../../frontend/state.js";

test("picks parse from the URL text, drop what is out of range or malformed, and toggle", () => {
  assert.deepEqual(parsePicks("3,17,3", 24), [3, 17]);
  assert.deepEqual(parsePicks("3,99", 24), [3]);
  assert.deepEqual(parsePicks("1,x", 24), []);
  assert.deepEqual(parsePicks(null, 24), []);
  assert.equal(parsePicks(Array.from({ length: 20 }, (_, i) => i).join(","), 24).length, 12);
  assert.equal(togglePick([3, 17], 17), "3");
  assert.equal(togglePick([3], 5), "3,5");
  assert.equal(togglePick([3], 3), "");
});

test("picks and the rollout position survive the URL state", () => {
  const state = { ...DEFAULTS, view: "rollout", picks: "3,17", query: "4", method: "flow", runB: "lr-2" };
  assert.deepEqual({ ...DEFAULTS, ...parse(serialize(state)) }, state);
  assert.ok(VIEWS.some((v) => v.name === "rollout" && v.module === "./rollout_view.js"));
});

test("a head's series skips steps without scores or without the metric", () => {
  const body = {
    steps: [0, 10, 20, 30],
    scores: [
      {
        induction: [
          [0.1, 0.2],
          [0.0, 0.05],
        ],
      },
      null,
      {
        induction: [
          [0.1, 0.2],
          [0.5, null],
        ],
      },
      {
        previous_token: [
          [0.9, 0.1],
          [0.1, 0.1],
        ],
      }, // a record of the old metric set
    ],
  };
  assert.deepEqual(headSeries(body, "induction", 1, 0), [
    [0, 0.0],
    [20, 0.5],
  ]);
  assert.deepEqual(headSeries(body, "induction", 1, 1), [[0, 0.05]]);
  assert.deepEqual(headSeries(body, "induction", 5, 0), []);
});

test("thresholds come from the rules; the chart range holds points, 0..1 and the threshold", () => {
  const rules = {
    thresholds: [
      { label: "induction", metric: "induction", threshold: 0.4 },
      { label: "broad", metric: "entropy", threshold: 3.8 },
    ],
  };
  assert.equal(thresholdOf(rules, "induction"), 0.4);
  assert.equal(thresholdOf(rules, "entropy"), 3.8);
  assert.equal(thresholdOf(rules, "confidence"), null);
  const range = chartRange(
    [
      {
        points: [
          [0, 0.2],
          [50, 0.7],
        ],
      },
      { points: [[10, 1.5]] },
    ],
    3.8,
  );
  assert.deepEqual(range, { x0: 0, x1: 50, y0: 0, y1: 3.8 });
});

test("rollout defaults: the last position of a causal map, else the first; causal maps detected", () => {
  const lower = Float32Array.from([1, 0, 0, 0.5, 0.5, 0, 0.2, 0.3, 0.5]);
  const full = Float32Array.from([0.5, 0.5, 0, 0.5, 0.5, 0, 0.2, 0.3, 0.5]);
  assert.ok(isCausal(lower, 3) && !isCausal(full, 3) && !isCausal(Float32Array.from([1]), 1));
  assert.equal(defaultQuery(["<s>", "a", "b"], true), 2);
  assert.equal(defaultQuery(["[CLS]", "a", "[SEP]"], false), 0);
  assert.equal(maxOf(Float32Array.from([0.1, NaN, 0.3])), Float32Array.from([0.3])[0]);
  assert.equal(maxOf([]), 1e-6);
});

test("a head's band: the interval the server gives at each step of a set of examples", () => {
  const bounds = (v) => ({ sink: [[v, null]] });
  const body = {
    steps: [0, 10, 20],
    examples: [{ low: bounds(0.1), high: bounds(0.3) }, null, { low: bounds(-0.2), high: bounds(1.4) }],
  };
  assert.deepEqual(headBand(body, "sink", 0, 0), [
    [0, 0.1, 0.3],
    [20, -0.2, 1.4],
  ]);
  assert.deepEqual(headBand(body, "sink", 0, 1), []); // no interval (fewer than 2 examples)
  assert.deepEqual(headBand(body, "entropy", 0, 0), []);
  assert.deepEqual(headBand({ steps: [0], scores: [null] }, "sink", 0, 0), []); // an older server
  const range = chartRange([{ points: [[10, 0.5]], band: headBand(body, "sink", 0, 0) }], null);
  assert.deepEqual(range, { x0: 0, x1: 20, y0: -0.2, y1: 1.4 });
});
