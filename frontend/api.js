// The plugin's HTTP API (docs/http_api.md): JSON routes and the binary /layer route. The browser
// undoes the payload's Content-Encoding; decode.js reads the values as the headers describe them.

import { decodeWeights, parseShape } from "./decode.js";

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

async function request(route, params) {
  try {
    return await fetch(`./${route}${queryString(params)}`);
  } catch (e) {
    throw new ApiError(`cannot reach TensorBoard for /${route}: ${e.message}`);
  }
}

/** GET a JSON route; rejects with ApiError carrying the server's message. */
export async function getJSON(route, params = {}) {
  const resp = await request(route, params);
  if (!resp.ok) throw await errorOf(route, resp);
  return resp.json();
}

/** An array route's answer: {shape, precision, data: Float32Array} (the headers say how to read it). */
async function fetchArray(route, params, rank, what) {
  const resp = await request(route, params);
  if (!resp.ok) throw await errorOf(route, resp);
  try {
    const shape = parseShape(resp.headers.get("X-Attention-Shape"), rank);
    const scale = Number(resp.headers.get("X-Attention-Scale") || "1");
    const count = shape.reduce((a, b) => a * b, 1);
    const data = decodeWeights(await resp.arrayBuffer(), resp.headers.get("X-Attention-Dtype"), count, scale);
    return { shape, precision: resp.headers.get("X-Attention-Precision"), data };
  } catch (e) {
    throw new ApiError(`${what} cannot be read: ${e.message}`);
  }
}

/** One layer: {heads, queries, keys, precision, data: Float32Array [heads, queries, keys]}. */
export async function fetchLayer(run, tag, step, layer, kind = null) {
  const { shape, precision, data } = await fetchArray("layer", { run, tag, step, layer, kind }, 3, `layer ${layer} of step ${step}`);
  const [heads, queries, keys] = shape;
  return { heads, queries, keys, precision, data };
}

/** Every head of every layer, max-pooled: {layers, heads, rows, cols, data: Float32Array}. */
export async function fetchThumbnails(run, tag, step, kind = null) {
  const { shape, data } = await fetchArray("thumbnails", { run, tag, step, kind }, 4, `thumbnails of step ${step}`);
  const [layers, heads, rows, cols] = shape;
  return { layers, heads, rows, cols, data };
}

/** JSON answers by route and parameters, fetched once until clear() (a failed one is retried). */
export class JsonCache {
  constructor() {
    this.entries = new Map();
  }

  get(route, params = {}) {
    const key = `${route}${queryString(params)}`;
    let promise = this.entries.get(key);
    if (!promise) {
      promise = getJSON(route, params);
      promise.catch(() => this.entries.get(key) === promise && this.entries.delete(key));
      this.entries.set(key, promise);
    }
    return promise;
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

  get(run, tag, step, layer, kind = null) {
    const key = JSON.stringify([run, tag, step, layer, kind]);
    let entry = this.entries.get(key);
    if (entry) {
      this.entries.delete(key);
      this.entries.set(key, entry);
      return entry.promise;
    }
    entry = { bytes: 0, promise: fetchLayer(run, tag, step, layer, kind) };
    this.entries.set(key, entry);
    entry.promise.then(
      (value) => {
        entry.bytes = value.data.byteLength;
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
