// Colour scales (linear, square root, log) and their legends; max-pooled pyramid levels.
import { test } from "node:test";
import assert from "node:assert/strict";

import { defaultScale, logFloor, makeScale, paintScaled, position, tickLabel, ticks } from "../../frontend/scales.js";
import { indexOf, sequentialScale } from "../../frontend/colors.js";
import { buildLevels, levelCount, pool2 } from "../../frontend/pyramid.js";

test("linear is colors.js's own mapping, so cells read as cssColor", () => {
  const s = makeScale("linear", 0, 1);
  for (const v of [0, 0.001, 0.5, 0.998, 1, 1.5, -0.2, 0.1234]) assert.equal(s.index(v), indexOf(v, 0, 1), String(v));
  assert.equal(s.index(NaN), 0);
});

test("square root and log spread small weights", () => {
  const sq = makeScale("sqrt", 0, 1);
  assert.equal(sq.index(0.25), 128);
  assert.equal(sq.index(0), 0);
  assert.equal(sq.index(1), 255);
  const log = makeScale("log", 0, 1, 1e-4);
  assert.equal(log.index(1e-4), 0);
  assert.equal(log.index(1e-2), 128);
  assert.equal(log.index(1), 255);
  assert.equal(log.index(0), 0);
  assert.equal(log.index(1e-9), 0);
  assert.ok(position(log, 0.001) > position(makeScale("linear"), 0.001) + 0.2);
});

test("log floor: the power of ten under the smallest positive value", () => {
  assert.equal(logFloor(new Float32Array([0, 0.5, 0.0039])), 1e-3);
  assert.equal(logFloor(new Float32Array([0, 0])), 0.01); // nothing positive: hi / 100
  assert.equal(logFloor(new Float32Array([1e-12])), 1e-6);
  assert.equal(defaultScale(19), "linear");
  assert.equal(defaultScale(2048), "log");
});

test("legend ticks span the scale", () => {
  const lin = ticks(makeScale("linear", 0, 1));
  assert.deepEqual(
    lin.map((t) => t.label),
    ["0", "0.25", "0.5", "0.75", "1"],
  );
  assert.equal(lin[4].at, 1);
  const log = ticks(makeScale("log", 0, 1, 1e-4));
  assert.deepEqual(
    log.map((t) => t.label),
    ["1e\u22124", "1e\u22123", "0.01", "0.1", "1"],
  );
  assert.equal(log[0].at, 0);
  const sq = ticks(makeScale("sqrt", 0, 1));
  assert.deepEqual(
    sq.map((t) => t.label),
    ["0", "0.1", "0.25", "0.5", "1"],
  );
  assert.equal(sq[2].at, 128 / 255); // sqrt(0.25) = half-way
});

test("painting masks hidden columns", () => {
  const px = new Uint8ClampedArray(2 * 2 * 4);
  paintScaled(
    px,
    new Float32Array([0, 1, 1, 0]),
    2,
    2,
    sequentialScale("light"),
    makeScale("linear"),
    new Uint8Array([0, 1]),
    [9, 9, 9],
  );
  assert.deepEqual(Array.from(px.slice(0, 8)), [255, 255, 255, 255, 9, 9, 9, 255]);
  assert.deepEqual(Array.from(px.slice(8, 12)), [8, 48, 107, 255]);
});

test("pyramid levels keep a single strong cell and pool the masks", () => {
  const v = new Float32Array(5 * 5);
  v[4 * 5 + 3] = 0.9;
  const p = pool2(v, 5, 5, new Uint8Array([1, 1, 1, 0, 1]));
  assert.equal(p.rows, 3);
  assert.equal(p.cols, 3);
  assert.equal(p.values[2 * 3 + 1], Math.fround(0.9));
  assert.deepEqual(Array.from(p.mask), [1, 0, 1]);
  assert.equal(levelCount(2048, 2048), 11);
  const levels = buildLevels(v, 5, 5, levelCount(5, 5));
  assert.equal(levels.length, 4);
  assert.equal(levels[3].rows, 1);
  assert.equal(levels[3].values[0], Math.fround(0.9));
});

test("signed pyramid levels keep the change farthest from 0, sign kept", () => {
  // A difference map: a strong fall beside small rises must not pool to a rise (or to 0).
  const v = new Float32Array([0.01, -0.3, 0.02, 0.0, 0.05, 0.0, 0.0, 0.0, 0.0]);
  const p = pool2(v, 3, 3, null, true);
  assert.equal(p.values[0], Math.fround(-0.3));
  assert.equal(p.values[1], Math.fround(0.02));
  assert.equal(pool2(v, 3, 3).values[0], Math.fround(0.05)); // unsigned: the largest value
  const levels = buildLevels(v, 3, 3, levelCount(3, 3), null, true);
  assert.equal(levels[levels.length - 1].values[0], Math.fround(-0.3));
});

test("tick labels of a signed (difference) scale read as numbers on both sides of 0", () => {
  const labels = ticks(makeScale("linear", -0.6, 0.6)).map((t) => t.label);
  assert.deepEqual(labels, ["\u22120.6", "\u22120.3", "0", "0.3", "0.6"]);
  assert.equal(tickLabel(-0.004), "\u22124e\u22123");
});

test("a signed square-root scale keeps small differences visible, 0 in the middle, sign by side", () => {
  const s = makeScale("signed-sqrt", -0.5, 0.5);
  assert.equal(s.index(0), 128);
  assert.equal(s.index(0.5), 255);
  assert.equal(s.index(-0.5), 0);
  assert.equal(s.index(-2), 0); // beyond the range: clipped to the end
  // A change of 1/100 of the range is a tenth of the way out, not a hundredth.
  assert.equal(s.index(0.005), Math.round(127.5 + 0.1 * 127.5));
  assert.equal(s.index(-0.005), Math.round(127.5 - 0.1 * 127.5));
  assert.equal(s.index(NaN), 128);
  assert.deepEqual(
    ticks(s).map((t) => [t.label, Math.round(t.at * 100) / 100]),
    [
      ["\u22120.5", 0],
      ["\u22120.13", 0.25],
      ["0", 0.5],
      ["0.13", 0.75],
      ["0.5", 1],
    ],
  );
});
