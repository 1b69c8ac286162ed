// The head view's query window, token search and top-k lines (head_bar.js, head_lines.js).
import { test } from "node:test";
import assert from "node:assert/strict";

import {
  centredWindow,
  defaultWindowRows,
  findTokens,
  followScroll,
  nextMatch,
  windowRange,
} from "../../frontend/views/head_window.js";
import { LineSet } from "../../frontend/views/head_lineset.js";

test("windows stay inside the input", () => {
  assert.equal(defaultWindowRows(19), 19);
  assert.equal(defaultWindowRows(512), 512);
  assert.equal(defaultWindowRows(2048), 128);
  assert.deepEqual(windowRange(2048, 2000, 128), [1920, 2048]);
  assert.deepEqual(windowRange(100, -5, 128), [0, 100]);
  assert.deepEqual(centredWindow(2048, 1500, 128), [1436, 1564]);
  assert.deepEqual(followScroll(2048, [0, 128], 10, 60), [0, 128]);
  assert.deepEqual(followScroll(2048, [0, 128], 1000, 1050), [961, 1089]);
});

test("search: exact matches first, then substrings, case-insensitive; #n is a position", () => {
  const texts = ["the", "Needle", "needles", "other", "7"];
  assert.deepEqual(findTokens(texts, "needle"), [1, 2]);
  assert.deepEqual(findTokens(texts, " NEEDLE "), [1, 2]);
  assert.deepEqual(findTokens(texts, "#3"), [3]);
  assert.deepEqual(findTokens(texts, "7"), [4]); // a token's text wins over a position
  assert.deepEqual(findTokens(texts, "2"), [2]);
  assert.deepEqual(findTokens(texts, "#99"), []);
  assert.deepEqual(findTokens(texts, ""), []);
  assert.equal(nextMatch([4, 9], -1), 0);
  assert.equal(nextMatch([4, 9], 1), 0);
  assert.equal(nextMatch([4, 9], 0, -1), 1);
  assert.equal(nextMatch([], 0), -1);
});

test("top-k keeps each row's strongest lines; slabs hold a window of rows of some heads", () => {
  // 1 head x 2 rows x 4 keys
  const data = new Float32Array([0.1, 0.4, 0.3, 0.2, 0.7, 0.1, 0.1, 0.1]);
  const set = new LineSet([0], 0.05, 1);
  set.add({ keys: 4, data, dataRow0: 0, dataRows: 2, slot: (h) => h }, 0, 2);
  const seen = [];
  set.forEachLine([0, 2], [0, 4], 0.05, (h, q, k) => seen.push([q, k]), 2);
  assert.deepEqual(seen, [
    [0, 1],
    [0, 2],
    [1, 0],
    [1, 1],
  ]);
  // A slab of head 5's rows 10..11 only.
  const slab = { keys: 4, data, dataRow0: 10, dataRows: 2, slot: (h) => (h === 5 ? 0 : -1) };
  const rows = [];
  const five = new LineSet([5], 0.01, 1);
  five.add(slab, 10, 12);
  five.forEachLine([9, 12], [0, 4], 0.35, (h, q, k, w) => rows.push([h, q, k, w]));
  assert.deepEqual(rows, [
    [5, 10, 1, Math.fround(0.4)],
    [5, 11, 0, Math.fround(0.7)],
  ]);
});
