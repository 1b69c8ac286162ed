// The URL/localStorage selection state: parsing drops what it cannot trust, serializing round-trips.
import { test } from "node:test";
import assert from "node:assert/strict";

import { DEFAULTS, parse, serialize } from "../../frontend/state.js";
import { VIEWS } from "../../frontend/views/registry.js";

test("parse reads ints, head lists and strings", () => {
  const s = parse("#run=finetune&step=200&layer=3&heads=0,4,11&view=matrix&filter=ab");
  assert.deepEqual(s, { run: "finetune", step: 200, layer: 3, heads: [0, 4, 11], view: "matrix", filter: "ab" });
});

test("parse drops unknown keys, malformed numbers and unknown views or filters", () => {
  const s = parse("evil=1&step=-3&layer=1e3&heads=1,x,2,-1&view=bogus&filter=zz&tag=a%2Fb");
  assert.deepEqual(s, { heads: [1, 2], tag: "a/b" });
});

test("every registered view is accepted from the URL", () => {
  for (const { name } of VIEWS) assert.equal(parse(`view=${name}`).view, name);
});

test("serialize leaves defaults out and round-trips through parse", () => {
  const state = { ...DEFAULTS, run: "r 1", tag: "probe/x", step: 7, heads: [2, 5], view: "compare", stepB: 9 };
  const text = serialize(state);
  assert.ok(!text.includes("filter="), text);
  assert.deepEqual({ ...DEFAULTS, ...parse(text) }, state);
  assert.equal(serialize(DEFAULTS), "");
});

test("an empty head list survives (no head shown is a choice)", () => {
  assert.deepEqual(parse(serialize({ ...DEFAULTS, heads: [] })).heads, []);
});

test("long-input fields: scale, hidden keys, words, window, top-k, click target", () => {
  const s = parse("scale=log&hide=0,5&words=1&qstart=900&qrows=128&topk=3&open=matrix");
  assert.deepEqual(s, { scale: "log", hide: [0, 5], words: "1", qstart: 900, qrows: 128, topk: 3, open: "matrix" });
  assert.deepEqual(parse("scale=cubic&words=yes&open=model&qrows=-1"), {});
  const state = { ...DEFAULTS, scale: "sqrt", hide: [0], words: "1", qstart: 7 };
  assert.deepEqual({ ...DEFAULTS, ...parse(serialize(state)) }, state);
});
