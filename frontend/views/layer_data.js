// Which part of a layer a view fetches. A layer of up to WHOLE_LAYER_VALUES weights is fetched
// whole (cached, shared by the views: switching heads is instant); a larger one (32 heads x 2048
// tokens is 134 M weights) only as needed: one head, the mean of the shown heads computed by the
// server, or the shown heads' rows of a window of queries (docs/http_api.md).

//
// A heat map (matrix and compare views) holds one head or the mean of heads whole, pooled in the
// tab, when it is at most WHOLE_GRID_CELLS and the record keeps every row in detail; a longer one,
// or one whose record keeps only a window of rows in detail (/steps `detail_rows`), is read as
// tiles at the zoom's factor (/tile: the stored pooled levels zoomed out, the detail zoomed in).

export const WHOLE_LAYER_VALUES = 16 * 2 ** 20; // 64 MB as float32
export const WHOLE_GRID_CELLS = 2048 * 2048; // one head or a mean, 16 MB as float32

export function wholeLayer(meta) {
  const [, H, Q, K] = meta.shape;
  return H * Q * K <= WHOLE_LAYER_VALUES;
}

/** Whether a heat map of one head (or a mean) of this part is read as tiles (see above). */
export function tiledGrid(meta) {
  const [, , Q, K] = meta.shape;
  return Q * K > WHOLE_GRID_CELLS || meta.detail_rows != null;
}

/** Mean over the given heads of a layer: Float32Array [queries * keys]. */
export function meanOfHeads(layer, heads) {
  const n = layer.queries * layer.keys;
  const out = new Float32Array(n);
  if (!heads.length) return out;
  for (const h of heads) {
    const base = h * n;
    for (let i = 0; i < n; i++) out[i] += layer.data[base + i];
  }
  if (heads.length > 1) for (let i = 0; i < n; i++) out[i] /= heads.length;
  return out;
}

/** The selection of `heads` (sorted) of H for the server: null for all of them. */
function headsParam(heads, H) {
  return heads.length === H ? null : heads;
}

/**
 * One head, or the mean of `heads`, of a layer: Float32Array [Q * K]. `source`: {layer(step, l),
 * selection(step, l, opts)} (the context's, or those of another run for the compare view).
 */
export async function meanOf(source, meta, step, layer, heads) {
  const [, H, Q, K] = meta.shape;
  if (!heads.length) return new Float32Array(Q * K);
  if (wholeLayer(meta)) return meanOfHeads(await source.layer(step, layer), heads);
  const opts = heads.length === 1 ? { heads } : { heads: headsParam(heads, H), reduce: "mean" };
  return (await source.selection(step, layer, opts)).data;
}

/** The weight each query row kept (sparse records; the mean over `heads`): Float32Array [Q], or null. */
export async function keptOf(source, meta, step, layer, heads) {
  if (meta.encoding !== "sparse" || !heads.length) return null;
  const H = meta.shape[1];
  const opts =
    heads.length === 1 ? { heads, form: "kept" } : { heads: headsParam(heads, H), reduce: "mean", form: "kept" };
  return (await source.selection(step, layer, opts)).data;
}

/** Whether the head view reads rows as the entries they kept (/layer form=sparse), not dense. */
export function sparseRows(meta) {
  return meta.encoding === "sparse" && !wholeLayer(meta);
}

/**
 * Query rows [q0, q1) of `heads`, as a slab the head view reads (head_lines.js forEachLine):
 * {keys, data, slot(h), dataRow0, dataRows, heads}. Taken from the whole layer when it is
 * fetched whole, else fetched for those heads and rows (`once`: not cached). A sparse record's
 * rows come as the entries they kept: `data` is null and `sparse` ({counts, offsets, indices,
 * values}, row (slot, q) at slot * dataRows + q - dataRow0) holds them.
 */
export async function rowsOf(source, meta, step, layer, heads, q0, q1, once = false) {
  const [, H, Q, K] = meta.shape;
  if (wholeLayer(meta)) {
    const whole = await source.layer(step, layer);
    return { keys: K, data: whole.data, slot: (h) => h, dataRow0: 0, dataRows: Q, heads: whole.heads };
  }
  const form = sparseRows(meta) ? "sparse" : null;
  const opts = { heads: headsParam(heads, H), qStart: q0, qEnd: q1, once, form };
  const got = await source.selection(step, layer, opts);
  const ids = got.headIds || Array.from({ length: H }, (_, h) => h);
  const slots = new Map(ids.map((h, i) => [h, i]));
  return {
    keys: K,
    data: got.data,
    sparse: got.sparse,
    slot: (h) => (slots.has(h) ? slots.get(h) : -1),
    dataRow0: q0,
    dataRows: q1 - q0,
    heads: ids.length,
  };
}

/** Whether a slab holds rows [q0, q1) of every head in `heads`. */
export function slabHolds(slab, heads, q0, q1) {
  return q0 >= slab.dataRow0 && q1 <= slab.dataRow0 + slab.dataRows && heads.every((h) => slab.slot(h) >= 0);
}

/** How a sparse record chose the keys it keeps, in words (read-outs). */
export function sparseRule(meta) {
  const rule = meta.sparse && meta.sparse.top_k ? `the ${meta.sparse.top_k} strongest keys` : "its strongest keys";
  return `sparse record: ${rule}`;
}

/**
 * `values` (a map of rows x cols drawn from `source`, the weights of a sparse layer as /layer
 * gives them: a key a row dropped reads 0) with the keys the record does not store as NaN: a 0
 * that the layer's mask does not explain (a key after the query in a causal layer, or before its
 * sliding window; /steps `causal`, `windows`), as /tile marks them; hidden key columns stay. A
 * new array.
 */
export function notStoredAsNaN(values, source, rows, cols, meta, layer, hiddenCols = null) {
  const out = values === source ? new Float32Array(values) : values;
  const causal = meta.causal === true;
  const window = (meta.windows && meta.windows[layer]) || 0;
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    // Keys [lo, hi] of row r are the ones its mask lets it see; a 0 there was not stored.
    const lo = window ? Math.max(0, r - window + 1) : 0;
    const hi = causal ? Math.min(cols - 1, r) : cols - 1;
    for (let c = lo; c <= hi; c++) if (source[base + c] === 0 && !(hiddenCols && hiddenCols[c])) out[base + c] = NaN;
  }
  return out;
}
