// Tiles of a heat map too large to fetch whole (docs/http_api.md, /tile): at zoom factor f (a
// power of two: each cell the largest of f x f weights), the grid of ceil(rows / f) x
// ceil(cols / f) cells is cut into tiles of TILE x TILE cells; tile (i, j) holds cells
// [i TILE, (i + 1) TILE) x [j TILE, (j + 1) TILE), i.e. weights [i TILE f, (i + 1) TILE f) x ...
// Geometry (pure) and the cache of fetched tiles (bounded in bytes; a fetch nobody waits for any
// more is aborted).

export const TILE = 256; // cells per tile side: 256 KB of float32, about a third of a plot at 1 px a cell

/** Cells of the grid at factor f: [rows, cols]. */
export function gridAt(rows, cols, f) {
  return [Math.ceil(rows / f), Math.ceil(cols / f)];
}

/** The coarsest factor needed: the one whose whole grid fits one tile. */
export function topFactor(rows, cols) {
  let f = 1;
  while (Math.max(...gridAt(rows, cols, f)) > TILE) f *= 2;
  return f;
}

/** The weights tile (i, j) at factor f covers: {q0, q1, k0, k1} (end exclusive, clamped to the grid). */
export function tileSpan(rows, cols, f, i, j) {
  const side = TILE * f;
  return {
    q0: i * side,
    q1: Math.min(rows, (i + 1) * side),
    k0: j * side,
    k1: Math.min(cols, (j + 1) * side),
  };
}

/** Cells of tile (i, j) at factor f: [rows, cols]. */
export function tileShape(rows, cols, f, i, j) {
  const s = tileSpan(rows, cols, f, i, j);
  return [Math.ceil((s.q1 - s.q0) / f), Math.ceil((s.k1 - s.k0) / f)];
}

/**
 * The tiles at factor f that cover the weights `vis` ({r0, r1, c0, c1}, end exclusive), the
 * centre's first (they are fetched in this order): [[i, j], ...].
 */
export function tilesFor(vis, f) {
  const side = TILE * f;
  const i0 = Math.floor(vis.r0 / side);
  const i1 = Math.floor((Math.max(vis.r1, vis.r0 + 1) - 1) / side);
  const j0 = Math.floor(vis.c0 / side);
  const j1 = Math.floor((Math.max(vis.c1, vis.c0 + 1) - 1) / side);
  const ci = (i0 + i1) / 2;
  const cj = (j0 + j1) / 2;
  const out = [];
  for (let i = i0; i <= i1; i++) for (let j = j0; j <= j1; j++) out.push([i, j]);
  return out.sort((a, b) => Math.hypot(a[0] - ci, a[1] - cj) - Math.hypot(b[0] - ci, b[1] - cj));
}

/**
 * Tile answers by key, kept while under `maxBytes` (least recently used first out). `get(key,
 * fetcher)` returns {promise, release}: `fetcher(signal)` runs once per key until the answer is
 * evicted; `release()` says the caller no longer waits, and a fetch that nobody waits for any
 * more is aborted (and forgotten). A failed fetch is forgotten too: the next get asks again.
 */
export class TileCache {
  constructor(maxBytes = 64 * 2 ** 20) {
    this.maxBytes = maxBytes;
    this.bytes = 0;
    this.entries = new Map(); // key -> {promise, controller, users, value, bytes}; order is recency
  }

  get(key, fetcher) {
    let entry = this.entries.get(key);
    if (entry) {
      this.entries.delete(key);
      this.entries.set(key, entry);
    } else {
      entry = { controller: new AbortController(), users: 0, value: null, bytes: 0 };
      entry.promise = fetcher(entry.controller.signal).then(
        (value) => this.settle(key, entry, value),
        (error) => {
          if (this.entries.get(key) === entry) this.entries.delete(key);
          throw error;
        },
      );
      entry.promise.catch(() => {}); // callers see the failure; an abandoned one is not unhandled
      this.entries.set(key, entry);
    }
    entry.users++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      entry.users--;
      if (entry.users > 0 || entry.value) return;
      entry.controller.abort();
      if (this.entries.get(key) === entry) this.entries.delete(key);
    };
    return { promise: entry.promise, release };
  }

  settle(key, entry, value) {
    entry.value = value;
    if (this.entries.get(key) !== entry) return value; // aborted or cleared meanwhile
    entry.bytes = value.byteLength || (value.data && value.data.byteLength) || 0;
    this.bytes += entry.bytes;
    this.evict();
    return value;
  }

  /** The answer for `key` if it has arrived (no fetch), else null. */
  peek(key) {
    const entry = this.entries.get(key);
    return entry && entry.value ? entry.value : null;
  }

  evict() {
    for (const [key, entry] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      if (!entry.value) continue; // in flight: its bytes are not counted yet
      this.entries.delete(key);
      this.bytes -= entry.bytes;
    }
  }

  clear() {
    for (const entry of this.entries.values()) if (!entry.value) entry.controller.abort();
    this.entries.clear();
    this.bytes = 0;
  }
}

/**
 * The tiles a view draws at factor f over the weights `vis`: [{f, tiles: [[i, j]...]}], coarse
 * first. A record that keeps only rows [detail) in detail (/steps detail_rows) stores nothing
 * finer than its finest pooled level (`finest`) for the other rows: zoomed in past that level,
 * those rows are drawn from it (cells larger than the zoom's), and only the tiles holding detail
 * rows are read at f (what they hold outside the detail is left transparent: tile_images.js).
 */
export function tilePlan(vis, f, { rows, cols, finest = null, detail = null }) {
  if (!detail || !finest || f >= finest) return [{ f, tiles: tilesFor(vis, f) }];
  const [d0, d1] = detail;
  const span = (g, i) => tileSpan(rows, cols, g, i, 0);
  const outside = tilesFor(vis, finest).filter(([i]) => span(finest, i).q0 < d0 || span(finest, i).q1 > d1);
  const inside = tilesFor(vis, f).filter(([i]) => span(f, i).q0 < d1 && span(f, i).q1 > d0);
  return [
    { f: finest, tiles: outside },
    { f, tiles: inside },
  ];
}
