// Colour scales and the max-pooling that keeps thin peaks visible in thumbnails.
import { test } from "node:test";
import assert from "node:assert/strict";

import {
  cssColor,
  divergingScale,
  headColor,
  indexOf,
  paint,
  poolFarthest,
  sequentialScale,
} from "../../frontend/colors.js";

test("scale ends are the palette's ends", () => {
  const light = sequentialScale("light");
  assert.equal(light.length, 768);
  assert.equal(cssColor(light, 0), "rgb(255,255,255)");
  assert.equal(cssColor(light, 1), "rgb(8,48,107)");
  assert.equal(cssColor(divergingScale("light"), 0, -1, 1), "rgb(247,247,247)"); // no change: neutral
  assert.equal(cssColor(divergingScale("light"), -1, -1, 1), "rgb(178,24,43)"); // attention fell: red
  assert.notEqual(cssColor(sequentialScale("dark"), 0), cssColor(light, 0));
});

test("indexOf clamps and survives NaN and empty ranges", () => {
  assert.equal(indexOf(0.5, 0, 1), 128);
  assert.equal(indexOf(2, 0, 1), 255);
  assert.equal(indexOf(-1, 0, 1), 0);
  assert.equal(indexOf(NaN, 0, 1), 0);
  assert.equal(indexOf(0.5, 1, 1), 0);
});

test("max-pooling keeps a single strong cell", () => {
  const values = new Float32Array(16 * 16);
  values[5 * 16 + 11] = 0.9;
  const pooled = poolFarthest(values, 16, 16, 4, 4, 0, 1);
  assert.equal(pooled.length, 16);
  assert.equal(pooled[1 * 4 + 2], Math.fround(0.9));
  assert.equal(pooled.filter((v) => v > 0).length, 1);
});

test("signed pooling keeps the largest change with its sign", () => {
  const values = new Float32Array([0.1, -0.7, 0.2, 0.0]);
  assert.deepEqual(Array.from(poolFarthest(values, 2, 2, 1, 1, -1, 1)), [Math.fround(-0.7)]);
  assert.deepEqual(Array.from(poolFarthest(new Float32Array(4), 2, 2, 1, 1, -1, 1)), [0]);
});

test("paint writes opaque table colours", () => {
  const table = sequentialScale("light");
  const px = new Uint8ClampedArray(8);
  paint(px, new Float32Array([0, 1]), 2, table, 0, 1);
  assert.deepEqual(Array.from(px), [255, 255, 255, 255, 8, 48, 107, 255]);
});

test("head colours are distinct for 32 heads", () => {
  const colours = new Set(Array.from({ length: 32 }, (_, h) => headColor(h)));
  assert.equal(colours.size, 32);
});
