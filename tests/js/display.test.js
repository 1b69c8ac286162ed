// Hidden keys and renormalised rows, over pieces or words.
import { test } from "node:test";
import assert from "node:assert/strict";

import { displaySlab, hideKeys, hiddenItems, positionText, tokenRows, words } from "../../frontend/words.js";

const near = (a, b, eps = 1e-6) => assert.ok(Math.abs(a - b) < eps, `${a} vs ${b}`);

test("hiding the first key renormalises each row over the others", () => {
  const data = new Float32Array([1, 0, 0, /* */ 0.6, 0.4, 0, /* */ 0.5, 0.25, 0.25]);
  const { data: out, hiddenMass } = hideKeys(data, 1, 3, 3, [0]);
  assert.deepEqual(Array.from(out.slice(0, 3)), [0, 0, 0]); // nothing left: all 0
  near(out[4], 1);
  near(out[7], 0.5);
  near(out[8], 0.5);
  assert.equal(out[6], 0);
  near(hiddenMass[1], 0.6);
  assert.deepEqual(Array.from(data.slice(0, 3)), [1, 0, 0]); // the input is untouched
});

test("hidden positions out of range or repeated are ignored", () => {
  const data = new Float32Array([0.5, 0.5]);
  const { data: out } = hideKeys(data, 1, 1, 2, [1, 1, 7, -1]);
  assert.deepEqual(Array.from(out), [1, 0]);
});

test("display slab: words merged after hiding; hidden word columns flagged", () => {
  const seq = { tokens: ["[CLS]", "straw", "##berries"], wordIds: [0, 1, 1] };
  const data = new Float32Array([1, 0, 0, 0.5, 0.25, 0.25, 0.2, 0.4, 0.4]);
  const d = displaySlab({ data, rows: 3, cols: 3, rowSeq: seq, colSeq: seq, merge: true, hidden: [0] });
  assert.equal(d.rows, 2);
  assert.equal(d.cols, 2);
  assert.deepEqual(Array.from(d.hiddenCols), [1, 0]);
  assert.deepEqual(
    d.colItems.map((w) => w.text),
    ["[CLS]", "strawberries"],
  );
  near(d.data[3], 1); // strawberries -> strawberries: every row renormalised to 1
  near(d.hiddenMass[1], (0.5 + 0.2) / 2);
  // Without hiding or merging the data passes through as it is.
  const same = displaySlab({ data, rows: 3, cols: 3, rowSeq: seq, colSeq: seq });
  assert.equal(same.data, data);
  assert.equal(same.hiddenMass, null);
});

test("a window of word rows maps to token rows", () => {
  const items = words({ tokens: ["a", "b", "##c", "d"], wordIds: [0, 1, 1, 2] });
  assert.deepEqual(tokenRows(items, 1, 3), [1, 4]);
  assert.deepEqual(tokenRows(items, 0, 0), [0, 0]);
  assert.equal(positionText(items[1]), "1\u20132");
  assert.equal(positionText(items[0]), "0");
  assert.deepEqual(Array.from(hiddenItems(items, [1])), [0, 0, 0]);
  assert.deepEqual(Array.from(hiddenItems(items, [1, 2])), [0, 1, 0]);
});
