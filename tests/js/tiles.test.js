// Tiles of a heat map read from /tile: their geometry, which ones a view draws (the detail window
// drawn from the finest stored level outside it), the cache of fetched tiles (bounded in bytes,
// a fetch nobody waits for aborted), and the sources' hidden keys and differences.
import { test } from "node:test";
import assert from "node:assert/strict";

import { TILE, TileCache, gridAt, tilePlan, tileShape, tileSpan, tilesFor, topFactor } from "../../frontend/tiles.js";
import { differenceSource, hiddenSource, pooledMask, renormalised, runsOf } from "../../frontend/views/tile_sources.js";

const N = 32768;

test("tiles cover the grid at each factor; the top factor's grid is one tile", () => {
  assert.equal(topFactor(N, N), N / TILE);
  assert.deepEqual(gridAt(N, N, 64), [512, 512]);
  assert.deepEqual(tileSpan(N, N, 64, 1, 0), { q0: 64 * TILE, q1: N, k0: 0, k1: 64 * TILE });
  assert.deepEqual(tileShape(300, 1000, 1, 1, 3), [300 - TILE, 1000 - 3 * TILE]);
  assert.deepEqual(tileShape(300, 1000, 2, 0, 1), [150, 1000 / 2 - TILE]);
  assert.equal(topFactor(100, 100), 1);
});

test("the tiles of a view, the centre's first", () => {
  const tiles = tilesFor({ r0: 0, r1: N, c0: 0, c1: N }, 64);
  assert.equal(tiles.length, 4);
  const at = tilesFor({ r0: 1000, r1: 1700, c0: 5000, c1: 5600 }, 1);
  assert.deepEqual(
    at.map(String).sort(),
    ["3,19", "3,20", "3,21", "4,19", "4,20", "4,21", "5,19", "5,20", "5,21", "6,19", "6,20", "6,21"].sort(),
  );
  assert.deepEqual(at[0], [4, 20]); // nearest the centre (tile rows 3..6, columns 19..21)
});

test("past the finest stored level, rows outside the detail come from it", () => {
  const vis = { r0: 0, r1: 2048, c0: 0, c1: 2048 };
  const grid = { rows: 4096, cols: 4096, finest: 32, detail: [3072, 4096] };
  assert.deepEqual(tilePlan(vis, 32, grid), [{ f: 32, tiles: [[0, 0]] }]);
  const plan = tilePlan({ ...vis, r1: 4096 }, 4, grid);
  assert.deepEqual(plan[0], { f: 32, tiles: [[0, 0]] }); // the finest level for rows 0..3071
  assert.equal(plan[1].f, 4);
  assert.ok(plan[1].tiles.every(([i]) => (i + 1) * TILE * 4 > 3072)); // only tiles holding detail rows
  assert.deepEqual(tilePlan(vis, 4, { ...grid, detail: null }).length, 1);
  assert.deepEqual(tilePlan({ r0: 0, r1: 512, c0: 0, c1: 512 }, 1, grid)[1].tiles, []);
});

function deferred() {
  let resolve;
  let reject;
  const promise = new Promise((a, b) => {
    resolve = a;
    reject = b;
  });
  return { promise, resolve, reject };
}

test("a tile is fetched once; a fetch nobody waits for is aborted and asked again later", async () => {
  const cache = new TileCache(1000);
  const calls = [];
  const fetcher = (signal) => {
    const d = deferred();
    calls.push({ signal, d });
    signal.addEventListener("abort", () => d.reject(Object.assign(new Error("aborted"), { name: "AbortError" })));
    return d.promise;
  };
  const a = cache.get("t", fetcher);
  const b = cache.get("t", fetcher);
  assert.equal(calls.length, 1);
  a.release();
  assert.equal(calls[0].signal.aborted, false); // b still waits
  b.release();
  assert.equal(calls[0].signal.aborted, true);
  await assert.rejects(a.promise, /aborted/);
  const c = cache.get("t", fetcher);
  assert.equal(calls.length, 2);
  calls[1].d.resolve({ data: new Float32Array(10) });
  assert.equal((await c.promise).data.length, 10);
  c.release(); // arrived: kept, not aborted
  assert.equal(cache.peek("t").data.length, 10);
  assert.equal(cache.bytes, 40);
});

test("tiles past the byte budget go, least recently used first; a failed one is asked again", async () => {
  const cache = new TileCache(120); // three tiles of 40 bytes
  const tile = (n) => () => Promise.resolve({ data: new Float32Array(n) });
  for (const key of ["a", "b", "c"]) await cache.get(key, tile(10)).promise;
  await cache.get("a", tile(10)).promise; // a used again: b is the oldest
  await cache.get("d", tile(10)).promise;
  assert.deepEqual([...cache.entries.keys()], ["c", "a", "d"]);
  assert.ok(cache.bytes <= 120);
  await assert.rejects(cache.get("x", () => Promise.reject(new Error("no"))).promise, /no/);
  assert.equal((await cache.get("x", tile(1)).promise).data.length, 1);
});

/** A source of a rows x cols grid whose weight at (r, c) is value(r, c), answering every tile at once. */
function gridSource(rows, cols, value) {
  const region = (f, q0, q1, k0, k1) => {
    assert.equal(f, 1);
    const data = new Float32Array((q1 - q0) * (k1 - k0));
    for (let r = q0; r < q1; r++) for (let c = k0; c < k1; c++) data[(r - q0) * (k1 - k0) + c - k0] = value(r, c);
    return { promise: Promise.resolve({ data, mask: null, mass: null }), release: () => {} };
  };
  return {
    rows,
    cols,
    region,
    tile: (f, i, j) => {
      const s = tileSpan(rows, cols, f, i, j);
      return region(f, s.q0, s.q1, s.k0, s.k1);
    },
  };
}

test("hidden keys: rows renormalised over the others at single weights, cells holding one masked above", async () => {
  assert.deepEqual(runsOf([0, 1, 2, 7, 9, 10]), [
    [0, 3],
    [7, 8],
    [9, 11],
  ]);
  assert.deepEqual([...pooledMask([0, 9], 0, 4, 4)], [1, 0, 1, 0]);
  assert.deepEqual([...pooledMask([300], 256, 4, 16)], [0, 0, 1, 0]);
  const got = renormalised(new Float32Array([0.5, 0.25, 0.25, NaN, 0.5, 0.5]), 2, 3, 0, [0], [[0, 1]], [[0.5, NaN]]);
  assert.deepEqual(
    [...got.data].map((v) => (Number.isNaN(v) ? "nan" : v)),
    [0, 0.5, 0.5, 0, 0.5, 0.5],
  );
  assert.deepEqual([...got.mass], [0.5, 0]); // a hidden weight not stored counts as 0
  // Through a source: key 0 of a 300 x 300 grid (weights 1/300 and a sink of 0.4 on key 0).
  const base = gridSource(300, 300, (r, c) => (c === 0 ? 0.4 : 0.6 / 299));
  const tile = await hiddenSource(base, [0]).tile(1, 0, 1).promise; // keys 256..299: not the sink's tile
  assert.ok(Math.abs(tile.data[0] - 1 / 299) < 1e-7 && Math.abs(tile.mass[5] - 0.4) < 1e-7);
});

test("B - A of two sources: NaN where either is not stored, both tiles kept for the read-out", async () => {
  const a = gridSource(4, 4, (r, c) => (r === c ? NaN : 0.25));
  const b = gridSource(4, 4, () => 0.5);
  a.detail = [2, 4];
  b.detail = [1, 4];
  a.finest = b.finest = 2;
  const diff = differenceSource(a, b);
  assert.deepEqual(diff.detail, [2, 4]);
  const t = await diff.tile(1, 0, 0).promise;
  assert.ok(Number.isNaN(t.data[0]) && t.data[1] === 0.25 && t.a.data[1] === 0.25 && t.b.data[1] === 0.5);
});

test("a sparse layer held whole: a 0 its mask does not explain is not stored", async () => {
  const { notStoredAsNaN } = await import("../../frontend/views/layer_data.js");
  const source = new Float32Array([1, 0, 0, 0.5, 0.5, 0, 0.25, 0, 0.75]); // 3 x 3, causal
  const show = (a) => [...a].map((v) => (Number.isNaN(v) ? "n" : v));
  const causal = notStoredAsNaN(source, source, 3, 3, { causal: true, windows: null }, 0);
  assert.deepEqual(show(causal), [1, 0, 0, 0.5, 0.5, 0, 0.25, "n", 0.75]); // after the query: known 0
  assert.deepEqual(show(source), [1, 0, 0, 0.5, 0.5, 0, 0.25, 0, 0.75]); // the fetched array is left as it was
  const unknown = notStoredAsNaN(source, source, 3, 3, { causal: null }, 0);
  assert.deepEqual(show(unknown), [1, "n", "n", 0.5, 0.5, "n", 0.25, "n", 0.75]);
  const far = new Float32Array([1, 0, 0, 0.5, 0.5, 0, 0, 0.25, 0.75]); // row 2 puts nothing on key 0
  const windowed = notStoredAsNaN(far, far, 3, 3, { causal: true, windows: [2] }, 0);
  assert.deepEqual(show(windowed), [1, 0, 0, 0.5, 0.5, 0, 0, 0.25, 0.75]); // key 0 is outside row 2's window
  assert.ok(Number.isNaN(notStoredAsNaN(far, far, 3, 3, { causal: true }, 0)[6])); // without a window: dropped
  const hidden = notStoredAsNaN(source, source, 3, 3, { causal: null }, 0, new Uint8Array([0, 1, 0]));
  assert.equal(hidden[1], 0);
});

test("pooling values that may be NaN: the largest stored one, NaN only where none is", async () => {
  const { pool2 } = await import("../../frontend/pyramid.js");
  const values = new Float32Array([NaN, NaN, 0.2, NaN, NaN, NaN, NaN, 0.1]); // 2 x 4
  const show = (a) => [...a].map((v) => (Number.isNaN(v) ? "n" : v));
  assert.deepEqual(show(pool2(values, 2, 4, null, false, true).values), ["n", Math.fround(0.2)]);
  assert.deepEqual(show(pool2(values, 2, 4).values), [0, Math.fround(0.2)]); // without: as before
});
