// Word pieces into words (the rule of tb_attention/analysis/tokens.py), prettified token text,
// and attention between words: to a word the sum over its pieces, from a word their mean.
import { test } from "node:test";
import assert from "node:assert/strict";

import { convention, groupOf, mergeGroups, mergeRows, prettyTokens, wordIds, words } from "../../frontend/words.js";

const SEED = "[CLS] i went to the store . [SEP] at the store , i bought fresh straw ##berries . [SEP]".split(" ");

test("WordPiece: ## pieces join the word before them", () => {
  const ws = words(SEED);
  assert.equal(ws.length, SEED.length - 1);
  const straw = ws.find((w) => w.text === "strawberries");
  assert.deepEqual(straw, { start: 15, end: 17, text: "strawberries" });
  assert.deepEqual(Array.from(wordIds(["[CLS]", "##a", "b", "##c", "##d", "[SEP]", "##e"])), [0, 1, 2, 2, 2, 3, 4]);
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
  assert.deepEqual(Array.from(wordIds(toks)), [0, 1, 2, 2, 3, 4, 4, 5, 5]);
  assert.deepEqual(
    words(toks).map((w) => w.text),
    ["<|begin_of_text|>", "The", "strawberries", "are", "red.", " \n"],
  );
  assert.deepEqual(prettyTokens(toks), ["<|begin_of_text|>", "The", "straw", "berries", "are", "red", ".", " ", "\n"]);
  assert.equal(convention(toks), "bytebpe");
});

test("SentencePiece: \u2581 starts a word; specials stand alone and never join", () => {
  const toks = ["<s>", "\u2581straw", "berries", "</s>", "berries", "[PAD]", "x", "<unk>"];
  assert.deepEqual(Array.from(wordIds(toks)), [0, 1, 1, 2, 3, 4, 5, 6]);
  assert.deepEqual(prettyTokens(toks), ["<s>", "straw", "berries", "</s>", "berries", "[PAD]", "x", "<unk>"]);
  assert.equal(convention(toks), "sentencepiece");
});

test("plain tokens: one word each", () => {
  assert.deepEqual(Array.from(wordIds(["a", "b", "c"])), [0, 1, 2]);
  assert.deepEqual(Array.from(wordIds(["##"])), [0]); // a lone "##" is not a piece
});

test("merging: attention to a word is the sum over its pieces, from a word the mean", () => {
  // tokens: a, straw, ##berries  -> words: a, strawberries
  const toks = ["a", "straw", "##berries"];
  const items = words(toks);
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
  const items = words(toks); // a | bc | d
  // 2 slabs, data rows 1..3 (b, ##c, d) x 4 keys
  const data = new Float32Array(2 * 3 * 4).map((_, i) => i);
  const out = mergeGroups(data, 2, 3, 4, items, items, 1, 3, 1);
  assert.equal(out.length, 2 * 2 * 3);
  // slab 0, word "bc" = mean of rows b (0,1,2,3) and ##c (4,5,6,7): a = 2, bc = (1+2+5+6)/2 = 7, d = 5
  assert.deepEqual(Array.from(out.slice(0, 3)), [2, 7, 5]);
  // slab 1, word "d" = data row 3 of slab 1: 20..23 -> a 20, bc 43, d 23
  assert.deepEqual(Array.from(out.slice(9, 12)), [20, 43, 23]);
});
