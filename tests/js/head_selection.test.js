// What the head view shows, as plain objects: the HeadSelection of a selection state and the
// HeadLines a render reads its lines and hover weights from (head_window.js, head_data.js).
import { test } from "node:test";
import assert from "node:assert/strict";

import { headSelection, windowLimit } from "../../frontend/views/head_window.js";
import { HeadLines, rowBlocks } from "../../frontend/views/head_data.js";
import { DEFAULTS } from "../../frontend/state.js";

const TOKENS = ["[CLS]", "straw", "##berries", "are", "[SEP]", "red", "[SEP]"];
const META = {
  shape: [2, 3, 7, 7],
  tokens: TOKENS,
  word_ids: [0, 1, 1, 2, 3, 4, 5],
  key_tokens: null,
  key_word_ids: null,
  sentence_b_start: 5,
};

test("a selection: pieces or words, sentence ranges in display rows, the window and the options", () => {
  const s = headSelection({ ...DEFAULTS, hide: [0, 9], topk: 2 }, META, [0, 2]);
  assert.equal(s.merge, false);
  assert.deepEqual(s.queryTokens, TOKENS);
  assert.deepEqual(s.ranges, { q: [0, 7], k: [0, 7] });
  assert.equal(s.sentenceB, 5);
  assert.deepEqual([s.total, s.rows, s.window], [7, 7, [0, 7]]);
  assert.deepEqual([s.heads, s.hidden, s.topk], [[0, 2], [0], 2]); // key 9 is out of range

  const w = headSelection({ ...DEFAULTS, words: "1", filter: "bb" }, META, [1]);
  assert.deepEqual(w.queryTokens, ["[CLS]", "strawberries", "are", "[SEP]", "red", "[SEP]"]);
  assert.equal(w.sentenceB, 4); // token 5 is display row 4 once "straw ##berries" is one word
  assert.deepEqual(w.ranges, { q: [4, 6], k: [4, 6] });
  assert.deepEqual(w.window, [4, 6]);
});

test("the query window: rows asked for, from qstart, kept inside the filter's range", () => {
  const long = { ...META, shape: [1, 2, 7, 7] };
  const s = headSelection({ ...DEFAULTS, qrows: 2, qstart: 6 }, long, [0, 1]);
  assert.deepEqual([s.rows, s.window], [2, [5, 7]]);
  assert.deepEqual(headSelection({ ...DEFAULTS, qrows: 3, qstart: 1 }, long, [0]).window, [1, 4]);
  // Cross-attention has no sentence B: filters do nothing.
  const cross = { ...META, key_tokens: ["x", "y"], key_word_ids: [0, 1], shape: [1, 1, 7, 2] };
  const c = headSelection({ ...DEFAULTS, filter: "ab" }, cross, [0]);
  assert.equal(c.sentenceB, null);
  assert.deepEqual(c.ranges, { q: [0, 7], k: [0, 2] });
  assert.deepEqual(c.keyTokens, ["x", "y"]);
  assert.equal(windowLimit(32, 2048), 512);
});

test("head lines: lines of the window only, the mean weight of a token over the shown heads, row shares", () => {
  // 2 heads x 3 queries x 3 keys, as layer_data.js rowsOf gives a whole layer.
  const data = new Float32Array([1, 0, 0, 0.5, 0.5, 0, 0.2, 0.3, 0.5, /* head 1 */ 0, 1, 0, 0.5, 0.25, 0.25, 0, 0, 1]);
  const slab = { keys: 3, data, slot: (h) => h, dataRow0: 0, dataRows: 3, heads: 2 };
  const toks = ["a", "b", "c"];
  const meta = { shape: [1, 2, 3, 3], tokens: toks, word_ids: [0, 1, 2], key_tokens: null, sentence_b_start: null };
  const shown = headSelection({ ...DEFAULTS, qstart: 1, qrows: 2 }, meta, [0, 1]);
  assert.deepEqual(shown.window, [1, 3]);
  const lines = new HeadLines(shown, { least: 0.01, leastMean: 0.005, window: { size: 2, own: true } });
  lines.read(slab, shown, [1, 3], false);
  const columns = { qAxis: "q", kAxis: "k", rowY: (ax, i) => (ax === "q" ? i : 100 + i) };
  const { count, groups } = lines.collect([0, 3], [0, 3], 0.2, columns);
  assert.equal(count, 2 + 3 + 3 + 1); // rows 1 and 2 of each head, weights >= 0.2; row 0 is outside
  assert.ok(groups.every((g) => g.ys.every((y, i) => (i % 2 ? y >= 100 : y >= 1 && y <= 2))));
  assert.deepEqual(lines.meanWeights(true, 1, [0, 3], 0.3), [
    [0.5, 0],
    [0.375, 1],
  ]);
  assert.deepEqual(lines.meanWeights(false, 2, [1, 3], 0.01), [
    [0.75, 2],
    [0.125, 1],
  ]);
  // Row 2: key 0 (the sink) took (0.2 + 0) / 2; its window of 2 keys (1, 2) took (0.8 + 1) / 2.
  const shares = lines.sharesOf({ start: 2, end: 3 });
  assert.ok(Math.abs(shares.sink - 0.1) < 1e-7 && Math.abs(shares.window - 0.9) < 1e-7);
  assert.equal(lines.sharesOf({ start: 0, end: 1 }), null); // row 0 is not read
  const none = new HeadLines({ ...shown, heads: [] }, { least: 0.01, leastMean: 0.005, window: null });
  assert.deepEqual(none.collect([0, 3], [0, 3], 0, columns), { count: 0, groups: [] });
  assert.deepEqual(none.meanWeights(true, 0, [0, 3], 0), []);
});

test("a window is read in blocks of rows that keep words whole", () => {
  const items = [0, 1, 2, 4, 5, 6].map((s, i, a) => ({ start: s, end: a[i + 1] || 8 })); // a word of 2 pieces at 2
  assert.deepEqual(rowBlocks(items, [0, 6], 1, 4, true), [[0, 6]]);
  // 2 heads x 2^20 keys: 2 rows a block; the word of tokens 2-3 stays whole.
  assert.deepEqual(rowBlocks(items, [0, 6], 2, 2 ** 20, false), [
    [0, 2],
    [2, 3],
    [3, 5],
    [5, 6],
  ]);
});
