// Word pieces into words by the word ids the server sends (/steps word_ids), prettified token
// text, and attention between words: to a word the sum over its pieces, from a word their mean.
import { test } from "node:test";
import assert from "node:assert/strict";

import {
  convention,
  groupOf,
  keySequence,
  mergeGroups,
  mergeRows,
  prettyTokens,
  querySequence,
  words,
} from "../../frontend/words.js";

const SEED = "[CLS] i went to the store . [SEP] at the store , i bought fresh straw ##berries . [SEP]".split(" ");
// The ids /steps serves for SEED (tokens.word_ids): "straw ##berries" is word 15.
const SEED_IDS = [...Array.from({ length: 16 }, (_, i) => i), 15, 16, 17];

test("WordPiece: the pieces of one word id join, their ## dropped", () => {
  const ws = words({ tokens: SEED, wordIds: SEED_IDS });
  assert.equal(ws.length, SEED.length - 1);
  const straw = ws.find((w) => w.text === "strawberries");
  assert.deepEqual(straw, { start: 15, end: 17, text: "strawberries" });
  const lone = words({ tokens: ["[CLS]", "##a", "b", "##c"], wordIds: [0, 1, 2, 2] });
  assert.deepEqual(
    lone.map((w) => w.text),
    ["[CLS]", "##a", "bc"],
  ); // a piece that starts a word keeps its "##"
  assert.equal(convention(SEED), "wordpiece");
  assert.deepEqual(prettyTokens(SEED), SEED); // WordPiece pieces keep their "##"
});

test("GPT-2 byte BPE: a piece without \u0120 continues the word; markers are not shown", () => {
  const toks = [
    "<|begin_of_text|>",
    "The",
    "\u0120straw",
    "berries",
    "\u0120are",
    "\u0120red",
    ".",
    "\u0120",
    "\u010a",
  ];
  assert.deepEqual(
    words({ tokens: toks, wordIds: [0, 1, 2, 2, 3, 4, 4, 5, 5] }).map((w) => w.text),
    ["<|begin_of_text|>", "The", "strawberries", "are", "red.", " \n"],
  );
  assert.deepEqual(prettyTokens(toks), ["<|begin_of_text|>", "The", "straw", "berries", "are", "red", ".", " ", "\n"]);
  assert.equal(convention(toks), "bytebpe");
});

test("SentencePiece: markers are not shown; special tokens read as they are", () => {
  const toks = ["<s>", "\u2581straw", "berries", "</s>", "berries", "[PAD]", "x", "<unk>"];
  assert.deepEqual(prettyTokens(toks), ["<s>", "straw", "berries", "</s>", "berries", "[PAD]", "x", "<unk>"]);
  assert.deepEqual(
    words({ tokens: toks, wordIds: [0, 1, 1, 2, 3, 4, 5, 6] }).map((w) => w.text),
    ["<s>", "strawberries", "</s>", "berries", "[PAD]", "x", "<unk>"],
  );
  assert.equal(convention(toks), "sentencepiece");
});

test("plain tokens read as they are; a lone ## is no piece", () => {
  assert.equal(convention(["a", "b", "c"]), "plain");
  assert.equal(convention(["##"]), "plain");
});

test("a part's sequences: its queries, and its keys (the queries unless cross-attention)", () => {
  const self = { tokens: ["a", "b"], word_ids: [0, 1], key_tokens: null, key_word_ids: null };
  assert.deepEqual(querySequence(self), { tokens: ["a", "b"], wordIds: [0, 1] });
  assert.deepEqual(keySequence(self), querySequence(self));
  const cross = { ...self, key_tokens: ["x", "##y"], key_word_ids: [0, 0] };
  assert.deepEqual(keySequence(cross), { tokens: ["x", "##y"], wordIds: [0, 0] });
  assert.deepEqual(
    words(keySequence(cross)).map((w) => w.text),
    ["xy"],
  );
});

test("words follow the ids given, whatever the markers suggest", () => {
  const tokens = ["a", "b", "c"];
  assert.deepEqual(
    words({ tokens, wordIds: [0, 0, 1] }).map((w) => [w.start, w.end, w.text]),
    [
      [0, 2, "ab"],
      [2, 3, "c"],
    ],
  );
  const again = ["a", "b", "c"]; // another array: its own ids
  assert.equal(words({ tokens: again, wordIds: [0, 1, 2] }).length, 3);
});

test("merging: attention to a word is the sum over its pieces, from a word the mean", () => {
  // tokens: a, straw, ##berries  -> words: a, strawberries
  const toks = ["a", "straw", "##berries"];
  const items = words({ tokens: toks, wordIds: [0, 1, 1] });
  // rows sum to 1
  const data = new Float32Array([0.5, 0.3, 0.2, /* straw */ 0.1, 0.6, 0.3, /* ##berries */ 0.2, 0.2, 0.6]);
  const out = mergeGroups(data, 1, 3, 3, items, items);
  const near = (a, b) => assert.ok(Math.abs(a - b) < 1e-6, `${a} vs ${b}`);
  near(out[0], 0.5);
  near(out[1], 0.5); // a -> strawberries: 0.3 + 0.2
  near(out[2], 0.15); // strawberries -> a: mean(0.1, 0.2)
  near(out[3], 0.85); // mean(0.9, 0.8)
  near(out[2] + out[3], 1);
  assert.deepEqual(Array.from(groupOf(items, 3)), [0, 1, 1]);
  const kept = mergeRows(new Float32Array([1, 0.5, 0.7]), items);
  near(kept[1], 0.6);
});

test("merging a window of rows of several slabs, from a later first data row", () => {
  const toks = ["a", "b", "##c", "d"];
  const items = words({ tokens: toks, wordIds: [0, 1, 1, 2] }); // a | bc | d
  // 2 slabs, data rows 1..3 (b, ##c, d) x 4 keys
  const data = new Float32Array(2 * 3 * 4).map((_, i) => i);
  const out = mergeGroups(data, 2, 3, 4, items, items, 1, 3, 1);
  assert.equal(out.length, 2 * 2 * 3);
  // slab 0, word "bc" = mean of rows b (0,1,2,3) and ##c (4,5,6,7): a = 2, bc = (1+2+5+6)/2 = 7, d = 5
  assert.deepEqual(Array.from(out.slice(0, 3)), [2, 7, 5]);
  // slab 1, word "d" = data row 3 of slab 1: 20..23 -> a 20, bc 43, d 23
  assert.deepEqual(Array.from(out.slice(9, 12)), [20, 43, 23]);
});
