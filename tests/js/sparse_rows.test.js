// A sparse record's rows as /layer?form=sparse sends them: decoded as the headers lay them out,
// and read by the head view (lines, hover means, shares, words merged, keys hidden) exactly as
// the same rows densified.
import { test } from "node:test";
import assert from "node:assert/strict";

import { DecodeError, decodeSparse } from "../../frontend/decode.js";
import { displaySlab } from "../../frontend/words.js";
import { rowShares } from "../../frontend/views/head_shares.js";
import { LineSet } from "../../frontend/views/head_lineset.js";
import { displaySparse } from "../../frontend/views/head_sparse.js";

/** The body of a sparse answer: uint32 counts, uint16 indices, then `values` (a typed array). */
function body(counts, indices, values) {
  const parts = [new Uint32Array(counts), new Uint16Array(indices), values].map((a) => new Uint8Array(a.buffer));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) (out.set(p, at), (at += p.length));
  return out.buffer;
}

const LAYOUT = { keys: 8, countDtype: "uint32", indexDtype: "uint16", dtype: "float32" };

test("counts, key indices and values as the headers lay them out (values unaligned after odd indices)", () => {
  const values = new Float32Array([0.5, 0.25, 0.125]);
  const got = decodeSparse(body([2, 0, 1], [0, 7, 3], values), { ...LAYOUT, rows: 3, entries: 3 });
  assert.deepEqual(Array.from(got.counts), [2, 0, 1]);
  assert.deepEqual(Array.from(got.offsets), [0, 2, 2, 3]);
  assert.deepEqual(Array.from(got.indices), [0, 7, 3]);
  assert.deepEqual(Array.from(got.values), [0.5, 0.25, 0.125]);
  const none = decodeSparse(body([0, 0], [], new Float32Array(0)), { ...LAYOUT, rows: 2, entries: 0 });
  assert.equal(none.values.length, 0);
});

test("coded values: uint16 codes in byte planes through the table, times the scale", () => {
  const table = new Float32Array([0, 0.5, 0.25]);
  const codes = new Uint8Array([2, 1, 0, 0]); // codes 2 and 1, low bytes then high bytes
  const layout = { ...LAYOUT, dtype: "uint16", rows: 1, entries: 2, table, planes: 2, scale: 2 };
  const got = decodeSparse(body([2], [1, 4], codes), layout);
  assert.deepEqual(Array.from(got.values), [0.5, 1]);
});

test("a body that disagrees with its headers is refused with a message", () => {
  const ok = body([1], [3], new Float32Array([1]));
  const refused = (layout, pattern, buffer = ok) =>
    assert.throws(
      () => decodeSparse(buffer, { ...LAYOUT, rows: 1, entries: 1, ...layout }),
      (e) => {
        return e instanceof DecodeError && pattern.test(e.message);
      },
    );
  refused({ entries: 2 }, /bytes, expected/);
  refused({ keys: 3 }, /key index 3 is outside 3 keys/);
  refused({ indexDtype: "int8" }, /unknown index dtype "int8"/);
  refused({ entries: 1 }, /counts sum to 2, not 1/, body([2], [3], new Float32Array([1])).slice(0, 4 + 2 + 4));
  refused({ rows: -1 }, /bad sparse layout/);
});

// -- the head view reads kept entries as it reads the rows densified ----------------------------

function random(seed) {
  let s = seed;
  return () => ((s = (s * 1103515245 + 12345) % 2 ** 31), s / 2 ** 31);
}

/** `slabs` x `rows` x `keys` float32 rows keeping `kept` keys each (a sparse record's, densified). */
function denseRows(slabs, rows, keys, kept, seed) {
  const next = random(seed);
  const data = new Float32Array(slabs * rows * keys);
  for (let r = 0; r < slabs * rows; r++) {
    let left = 1;
    for (let i = 0; i < kept; i++) {
      const k = i === 0 ? 0 : Math.floor(next() * keys); // key 0 (the sink) kept by every row
      const w = i === kept - 1 ? left : left * next() * 0.7;
      data[r * keys + k] += w;
      left -= w;
    }
  }
  return data;
}

function toSparse(data, rows, keys) {
  const offsets = [0];
  const [indices, values] = [[], []];
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < keys; k++) if (data[r * keys + k] !== 0) (indices.push(k), values.push(data[r * keys + k]));
    offsets.push(indices.length);
  }
  return { offsets: Int32Array.from(offsets), indices: Uint16Array.from(indices), values: Float32Array.from(values) };
}

const KEYS = 24;
const ROWS = 10;
const HEADS = [0, 2, 3]; // slot of head h: h (head 1 fetched but not shown)
const DATA = denseRows(4, ROWS, KEYS, 5, 7);
const slabOf = (sparse) => ({
  keys: KEYS,
  data: sparse ? null : DATA,
  sparse: sparse ? toSparse(DATA, 4 * ROWS, KEYS) : undefined,
  slot: (h) => (h < 4 ? h : -1),
  dataRow0: 0,
  dataRows: ROWS,
  heads: 4,
});

function linesOf(slab, r0, r1) {
  const set = new LineSet([...HEADS, 9], 0.01, 0.005); // head 9 is not in the slab
  set.add(slab, r0, r1);
  const lines = [];
  set.forEachLine([r0, r1], [0, KEYS], 0.01, (...line) => lines.push(line));
  const means = [];
  for (let q = r0; q < r1; q++) means.push(set.meanWeights(true, q, [0, KEYS], 0.005));
  return { lines, means, size: set.size };
}

test("lines and hover means of kept entries are those of the rows densified", () => {
  const dense = linesOf(slabOf(false), 0, ROWS);
  assert.ok(dense.lines.length > 40);
  assert.deepEqual(linesOf(slabOf(true), 0, ROWS), dense);
});

test("the sink and window shares of kept entries are those of the rows densified", () => {
  for (const size of [null, 4])
    assert.deepEqual(rowShares(slabOf(true), HEADS, 2, 9, size), rowShares(slabOf(false), HEADS, 2, 9, size));
});

test("words merged and keys hidden: the display rows of kept entries are those of the rows densified", () => {
  const tokens = Array.from({ length: KEYS }, (_, i) => `t${i}`);
  // Words of three pieces, then single pieces.
  const wordIds = Array.from({ length: KEYS }, (_, i) => Math.floor(i / 3) + (i > 12 ? i : 0));
  const seq = { tokens, wordIds };
  for (const [merge, hidden] of [
    [true, []],
    [false, [0]],
    [true, [0, 5, 5, 99]],
  ]) {
    const shown = { qSeq: seq, kSeq: seq, merge, hidden };
    const rows = merge ? [1, 3] : [3, 9]; // display items: words 1-2 are token rows 3-8
    const d = displaySlab({
      data: DATA,
      slabs: 4,
      rows: ROWS,
      cols: KEYS,
      rowSeq: seq,
      colSeq: seq,
      merge,
      hidden,
      rowRange: rows,
    });
    const denseSlab = { keys: d.cols, data: d.data, slot: (h) => h, dataRow0: rows[0], dataRows: rows[1] - rows[0] };
    const got = displaySparse(slabOf(true), shown, ...rows);
    assert.deepEqual(got.hiddenCols, hidden.length ? d.hiddenCols : null);
    const read = (slab) => {
      const set = new LineSet(HEADS, 0.001, 0.001);
      set.add(slab, ...rows);
      const lines = [];
      set.forEachLine(rows, [0, d.cols], 0.001, (...line) => lines.push(line));
      return { lines, means: set.meanWeights(true, rows[0], [0, d.cols], 0.001) };
    };
    const want = read(denseSlab);
    assert.ok(want.lines.length > 10, `${merge} ${hidden}`);
    assert.deepEqual(read(got.slab), want, `${merge} ${hidden}`);
  }
});
