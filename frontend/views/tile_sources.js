// Where the tiles of a tiled heat map (tile_images.js) come from: one layer of one record (a head,
// or the mean of heads) read with /tile; the same with hidden keys; B - A of two such sources.
// A source is {rows, cols, finest, detail, tile(f, i, j) -> {promise, release}} (`finest`: the
// finest pooled factor the record stores, `detail`: the rows it keeps in detail, [first, end),
// null for all); its tiles are {data: Float32Array [rows x cols of the tile] (NaN: not stored),
// mask (Uint8Array per column: hidden) | null, mass (per row: weight on hidden keys) | null}.
//
// Hidden keys are honest about what a pooled cell is: at factor 1 (single weights, exact rows)
// each row is renormalised over the other keys as the whole-map path does (words.js hideKeys),
// from the hidden keys' own weights in those rows (fetched beside the tile); zoomed out, a cell
// is the largest of f x f weights of several rows, so no row can be renormalised: cells holding
// a hidden key are drawn as hidden and the others as stored.

import { tileShape, tileSpan } from "../tiles.js";

/** A handle whose promise is mapped through `fn` (release unchanged). */
function mapped(handle, fn) {
  return { promise: handle.promise.then(fn), release: handle.release };
}

/** All of `handles` (one promise of their values, one release). */
function all(handles) {
  return {
    promise: Promise.all(handles.map((h) => h.promise)),
    release: () => handles.forEach((h) => h.release()),
  };
}

/**
 * One layer's cells, a head or the mean of `heads` (of H), from /tile. `tile(run, tag, step,
 * layer, region)` is the context's (data.js); `levels` and `detail` as /steps gives them
 * (`levels`, `detail_rows`). Also region(f, q0, q1, k0, k1): any block of cells.
 */
export function layerSource(tile, { run, tag, step, layer, heads, H, rows, cols, levels = null, detail = null }) {
  const which = heads.length === 1 ? { heads } : { heads: heads.length === H ? null : heads, reduce: "mean" };
  const region = (factor, q0, q1, k0, k1) => {
    if (!heads.length) {
      // No head shown: zero weights, as a whole map of no heads is (nothing to fetch).
      const data = new Float32Array(Math.ceil((q1 - q0) / factor) * Math.ceil((k1 - k0) / factor));
      return { promise: Promise.resolve({ data, mask: null, mass: null }), release: () => {} };
    }
    return mapped(tile(run, tag, step, layer, { q0, q1, k0, k1, factor, ...which }), (t) => ({
      data: t.data,
      mask: null,
      mass: null,
    }));
  };
  return {
    rows,
    cols,
    finest: levels && levels.length ? Math.min(...levels) : null,
    detail,
    region,
    tile(f, i, j) {
      const s = tileSpan(rows, cols, f, i, j);
      return region(f, s.q0, s.q1, s.k0, s.k1);
    },
  };
}

/** Runs [start, end) of consecutive positions in sorted `positions`. */
export function runsOf(positions) {
  const out = [];
  for (const p of positions) {
    const last = out[out.length - 1];
    if (last && last[1] === p) last[1] = p + 1;
    else out.push([p, p + 1]);
  }
  return out;
}

/** Uint8Array per pooled column of the `n` columns from key k0 at factor f: whether it holds a hidden key. */
export function pooledMask(hidden, k0, n, f) {
  const mask = new Uint8Array(n);
  for (const p of hidden) {
    const c = Math.floor((p - k0) / f);
    if (c >= 0 && c < n) mask[c] = 1;
  }
  return mask;
}

/**
 * Rows of a factor-1 tile (`rows` x `cols`, keys from k0) renormalised over the keys not hidden:
 * weight / (1 - the row's weight on hidden keys), given those weights (`columns`: per run of
 * hidden keys, rows x run length; a hidden weight not stored counts as 0). Hidden cells are 0 and
 * masked; a row with nothing left is 0, NaN (not stored) stays NaN.
 */
export function renormalised(data, rows, cols, k0, hidden, runs, columns) {
  const mass = new Float32Array(rows);
  runs.forEach(([a, b], n) => {
    const w = b - a;
    const col = columns[n];
    for (let r = 0; r < rows; r++) for (let c = 0; c < w; c++) mass[r] += col[r * w + c] || 0;
  });
  const mask = pooledMask(hidden, k0, cols, 1);
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) {
    const left = 1 - mass[r];
    const scale = left > 1e-6 ? 1 / left : 0;
    for (let c = 0; c < cols; c++) out[r * cols + c] = mask[c] ? 0 : data[r * cols + c] * scale;
  }
  return { data: out, mask, mass };
}

/** `base` with the keys at sorted token positions `hidden` hidden (see the top of this module). */
export function hiddenSource(base, hidden) {
  const { rows, cols } = base;
  const runs = runsOf(hidden);
  return {
    ...base,
    tile(f, i, j) {
      const s = tileSpan(rows, cols, f, i, j);
      const [tr, tc] = tileShape(rows, cols, f, i, j);
      if (f > 1) {
        return mapped(base.tile(f, i, j), (t) => ({ ...t, mask: pooledMask(hidden, s.k0, tc, f) }));
      }
      const handles = [base.tile(1, i, j), ...runs.map(([a, b]) => base.region(1, s.q0, s.q1, a, b))];
      return mapped(all(handles), ([t, ...columns]) =>
        renormalised(
          t.data,
          tr,
          tc,
          s.k0,
          hidden,
          runs,
          columns.map((x) => x.data),
        ),
      );
    },
  };
}

/**
 * B - A of two sources of one grid: tiles {data: B - A (NaN where either is), a, b (their tiles)};
 * rows are in detail where both keep them in detail.
 */
export function differenceSource(a, b) {
  const detail = a.detail || b.detail ? shared(a.detail, b.detail, a.rows) : null;
  const finest = a.finest && b.finest ? Math.max(a.finest, b.finest) : null;
  return {
    rows: a.rows,
    cols: a.cols,
    finest,
    detail,
    tile(f, i, j) {
      return mapped(all([a.tile(f, i, j), b.tile(f, i, j)]), ([ta, tb]) => {
        const data = new Float32Array(ta.data.length);
        for (let k = 0; k < data.length; k++) data[k] = tb.data[k] - ta.data[k];
        return { data, mask: ta.mask, mass: null, a: ta, b: tb };
      });
    },
  };
}

/** The rows both detail windows hold (null: all rows), [first, end). */
function shared(a, b, rows) {
  const [a0, a1] = a || [0, rows];
  const [b0, b1] = b || [0, rows];
  return [Math.max(a0, b0), Math.max(Math.max(a0, b0), Math.min(a1, b1))];
}
