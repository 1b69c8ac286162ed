// The plugin's HTTP API (docs/http_api.md): JSON routes and the binary routes (/layer, /tile,
// /rollout, /thumbnails), and the caches their answers are kept in (data.js holds them for the views). The
// browser undoes the payload's Content-Encoding; decode.js reads the values as the headers say.

import { decodeSparse, decodeWeights, dtypeSize, parsePlanes, parseShape, parseTable } from "./decode.js";

export class ApiError extends Error {}

function queryString(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value != null) search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

async function errorOf(route, resp) {
  let message = `${route}: HTTP ${resp.status}`;
  try {
    const body = await resp.json();
    if (body && typeof body.error === "string") message = body.error;
  } catch (_) {
    // Not JSON (e.g. a proxy's error page): the status line is all we have.
  }
  return new ApiError(message);
}

async function request(route, params, signal = null) {
  try {
    return await fetch(`./${route}${queryString(params)}`, signal ? { signal } : undefined);
  } catch (e) {
    if (e.name === "AbortError") throw e; // the caller no longer wants it: not an API error
    throw new ApiError(`cannot reach TensorBoard for /${route}: ${e.message}`);
  }
}

/** GET a JSON route; rejects with ApiError carrying the server's message. */
export async function getJSON(route, params = {}) {
  const resp = await request(route, params);
  if (!resp.ok) throw await errorOf(route, resp);
  return resp.json();
}

/** How an answer's values read, from its headers: {dtype, scale, table, planes}. */
function valueCoding(headers) {
  return {
    dtype: headers.get("X-Attention-Dtype"),
    scale: Number(headers.get("X-Attention-Scale") || "1"),
    table: parseTable(headers.get("X-Attention-Table")),
    planes: parsePlanes(headers.get("X-Attention-Planes")),
  };
}

/**
 * An array route's answer: {shape, precision, data: Float32Array} (the headers say how to read
 * it); a sparse answer (X-Attention-Form: sparse) as {shape, precision, sparse (decode.js
 * decodeSparse), bytes}.
 */
async function fetchArray(route, params, rank, what, signal = null) {
  const resp = await request(route, params, signal);
  if (!resp.ok) throw await errorOf(route, resp);
  try {
    const { headers } = resp;
    const shape = parseShape(headers.get("X-Attention-Shape"), rank);
    const precision = headers.get("X-Attention-Precision");
    const values = valueCoding(headers);
    const buffer = await resp.arrayBuffer();
    if (headers.get("X-Attention-Form") === "sparse") {
      const layout = {
        ...values,
        rows: shape[0] * shape[1],
        keys: shape[2],
        entries: Number(headers.get("X-Attention-Entries")),
        countDtype: headers.get("X-Attention-Count-Dtype"),
        indexDtype: headers.get("X-Attention-Index-Dtype"),
      };
      const sparse = decodeSparse(buffer, layout);
      const bytes = Object.values(sparse).reduce((n, part) => n + part.byteLength, 0);
      return { shape, precision, sparse, bytes };
    }
    const { dtype, scale, ...coding } = values;
    const data = decodeWeights(
      buffer,
      dtype,
      shape.reduce((a, b) => a * b, 1),
      scale,
      coding,
    );
    return { shape, precision, data };
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(`${what} cannot be read: ${e.message}`);
  }
}

/** The /layer parameters of a selection {heads: [h...] | null, reduce, qStart, qEnd, form}. */
function layerParams(run, tag, step, layer, kind, opts) {
  const { heads = null, reduce = null, qStart = null, qEnd = null, form = null } = opts;
  return {
    run,
    tag,
    step,
    layer,
    kind,
    heads: heads ? heads.join(",") : null,
    reduce,
    q_start: qStart,
    q_end: qEnd,
    form,
  };
}

/**
 * One layer, or a selection of it (docs/http_api.md: heads, query rows, the mean of heads, kept
 * weights): {heads, queries, keys, precision, data: Float32Array [heads, queries, keys]}, plus
 * {headIds (the heads fetched, or null for all), q0 (first query row)}. With form "kept",
 * data is [heads, queries] and keys is null; with form "sparse" (sparse records), data is null
 * and `sparse` holds the entries the rows kept (decode.js decodeSparse), `bytes` their size.
 */
export async function fetchLayer(run, tag, step, layer, kind = null, opts = {}) {
  const rank = opts.form === "kept" ? 2 : 3;
  const what = `layer ${layer} of step ${step}`;
  const got = await fetchArray("layer", layerParams(run, tag, step, layer, kind, opts), rank, what);
  const [heads, queries, keys = null] = got.shape;
  return {
    heads,
    queries,
    keys,
    precision: got.precision,
    data: got.data || null,
    sparse: got.sparse || null,
    bytes: got.data ? got.data.byteLength : got.bytes,
    headIds: opts.reduce ? null : opts.heads || null,
    q0: opts.qStart || 0,
  };
}

/**
 * A region of one layer at a zoom factor (/tile): `region` {q0, q1, k0, k1, factor, heads: [h...]
 * | null, reduce}; resolves to {heads, rows, cols, data: Float32Array [heads, rows, cols]} (NaN:
 * not stored). `signal` aborts it.
 */
export async function fetchTile(run, tag, step, layer, kind, region, signal = null) {
  const { q0, q1, k0, k1, factor, heads = null, reduce = null } = region;
  const params = { run, tag, step, layer, kind, q_start: q0, q_end: q1, k_start: k0, k_end: k1, factor, reduce };
  params.heads = heads ? heads.join(",") : null;
  const what = `a tile of layer ${layer} of step ${step}`;
  const { shape, data } = await fetchArray("tile", params, 3, what, signal);
  return { heads: shape[0], rows: shape[1], cols: shape[2], data };
}

/** Rollout of one step up to `layer` (/rollout): {queries, keys, data: Float32Array [queries, keys]}. */
export async function fetchRollout(run, tag, step, layer, kind = null) {
  const params = { run, tag, step, layer, kind };
  const { shape, data } = await fetchArray("rollout", params, 3, `rollout of step ${step}`);
  const [, queries, keys] = shape;
  return { queries, keys, data };
}

/**
 * The thumbnails, read as they arrive: `onLayer(l, thumbs)` is called once each layer's bytes are
 * in (thumbs.data holds layers 0..l decoded). Resolves to the thumbnails, with `bytes` received.
 */
export async function streamThumbnails(run, tag, step, kind, onLayer) {
  const resp = await request("thumbnails", { run, tag, step, kind });
  if (!resp.ok) throw await errorOf("thumbnails", resp);
  const what = `thumbnails of step ${step}`;
  try {
    const [layers, heads, rows, cols] = parseShape(resp.headers.get("X-Attention-Shape"), 4);
    const dtype = resp.headers.get("X-Attention-Dtype");
    const scale = Number(resp.headers.get("X-Attention-Scale") || "1");
    const size = dtypeSize(dtype);
    const perLayer = heads * rows * cols;
    const bytes = new Uint8Array(layers * perLayer * size);
    const thumbs = { layers, heads, rows, cols, data: new Float32Array(layers * perLayer), bytes: 0 };
    let done = 0;
    const take = (upTo) => {
      for (; done < upTo; done++) {
        const start = done * perLayer * size;
        const layer = decodeWeights(bytes.slice(start, start + perLayer * size).buffer, dtype, perLayer, scale);
        thumbs.data.set(layer, done * perLayer);
        onLayer(done, thumbs);
      }
    };
    const reader = resp.body.getReader();
    for (;;) {
      const { done: end, value } = await reader.read();
      if (end) break;
      if (thumbs.bytes + value.length > bytes.length)
        throw new Error(`more than the ${bytes.length} bytes its shape holds`);
      bytes.set(value, thumbs.bytes);
      thumbs.bytes += value.length;
      take(Math.floor(thumbs.bytes / (perLayer * size)));
    }
    if (thumbs.bytes !== bytes.length) throw new Error(`${thumbs.bytes} bytes, expected ${bytes.length}`);
    take(layers);
    return thumbs;
  } catch (e) {
    throw new ApiError(`${what} cannot be read: ${e.message}`);
  }
}

/** Answers by key, each fetched once until clear() (a failed one is retried); at most `maxEntries`. */
export class PromiseCache {
  constructor(maxEntries = Infinity) {
    this.maxEntries = maxEntries;
    this.entries = new Map(); // key -> Promise; insertion order is age
  }

  get(key, make) {
    let promise = this.entries.get(key);
    if (!promise) {
      if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value);
      promise = make();
      promise.catch(() => this.entries.get(key) === promise && this.entries.delete(key));
      this.entries.set(key, promise);
    }
    return promise;
  }

  /** A JSON route's answer, cached by route and parameters. */
  json(route, params = {}) {
    return this.get(`${route}${queryString(params)}`, () => getJSON(route, params));
  }

  clear() {
    this.entries.clear();
  }
}

/** Layers by (run, tag, step, layer), kept while under a memory budget (512 tokens: 12 MB a layer). */
export class LayerCache {
  constructor(maxBytes = 256 * 2 ** 20) {
    this.maxBytes = maxBytes;
    this.bytes = 0;
    this.entries = new Map(); // key -> Promise; insertion order is recency
  }

  /** A layer (every head) or a selection of it (fetchLayer's `opts`). */
  get(run, tag, step, layer, kind = null, opts = {}) {
    const key = JSON.stringify([run, tag, step, layer, kind, opts]);
    let entry = this.entries.get(key);
    if (entry) {
      this.entries.delete(key);
      this.entries.set(key, entry);
      return entry.promise;
    }
    entry = { bytes: 0, promise: fetchLayer(run, tag, step, layer, kind, opts) };
    this.entries.set(key, entry);
    entry.promise.then(
      (value) => {
        entry.bytes = value.bytes;
        this.bytes += entry.bytes;
        this.evict();
      },
      () => this.entries.get(key) === entry && this.entries.delete(key), // retry next time
    );
    return entry.promise;
  }

  evict() {
    for (const [key, entry] of this.entries) {
      if (this.bytes <= this.maxBytes || this.entries.size <= 2) break;
      this.entries.delete(key);
      this.bytes -= entry.bytes;
    }
  }

  clear() {
    this.entries.clear();
    this.bytes = 0;
  }
}
