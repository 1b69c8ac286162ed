// The plugin's HTTP API (docs/http_api.md): JSON routes and the binary /layer route.

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

// Halves decoded through a table: Float16Array is not in every browser TensorBoard supports.
let halfTable = null;
function halfToFloatTable() {
  if (halfTable) return halfTable;
  halfTable = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const fraction = h & 0x3ff;
    let value;
    if (exponent === 0) value = fraction * 2 ** -24;
    else if (exponent === 31) value = fraction ? NaN : Infinity;
    else value = (1 + fraction / 1024) * 2 ** (exponent - 15);
    halfTable[h] = sign * value;
  }
  return halfTable;
}

const BYTES = { uint8: 1, float16: 2, float32: 4 };

/** Decode an inflated layer buffer to Float32Array weights. */
export function decodeWeights(buffer, precision, count) {
  const size = BYTES[precision];
  if (!size) throw new ApiError(`unknown precision ${JSON.stringify(precision)} (this panel reads uint8, float16, float32)`);
  if (buffer.byteLength !== count * size) {
    throw new ApiError(`layer data has ${buffer.byteLength} bytes, expected ${count * size} for ${count} ${precision} weights`);
  }
  const out = new Float32Array(count);
  if (precision === "uint8") {
    const bytes = new Uint8Array(buffer);
    for (let i = 0; i < count; i++) out[i] = bytes[i] / 255;
  } else if (precision === "float16") {
    const view = new DataView(buffer);
    const table = halfToFloatTable();
    for (let i = 0; i < count; i++) out[i] = table[view.getUint16(2 * i, true)];
  } else {
    const view = new DataView(buffer);
    for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, true);
  }
  return out;
}

async function inflate(resp, compression) {
  if (compression === "zlib") {
    return new Response(resp.body.pipeThrough(new DecompressionStream("deflate"))).arrayBuffer();
  }
  if (compression === "none" || compression == null) return resp.arrayBuffer();
  throw new ApiError(`unknown layer compression ${JSON.stringify(compression)}`);
}

/** One layer: {heads, queries, keys, precision, data: Float32Array [heads, queries, keys]}. */
export async function fetchLayer(run, tag, step, layer) {
  const resp = await request("layer", { run, tag, step, layer });
  if (!resp.ok) throw await errorOf("layer", resp);
  const shape = (resp.headers.get("X-Attention-Shape") || "").split(",").map(Number);
  if (shape.length !== 3 || shape.some((n) => !Number.isInteger(n) || n < 0)) {
    throw new ApiError(`bad X-Attention-Shape header: ${JSON.stringify(resp.headers.get("X-Attention-Shape"))}`);
  }
  const precision = resp.headers.get("X-Attention-Precision");
  const [heads, queries, keys] = shape;
  let buffer;
  try {
    buffer = await inflate(resp, resp.headers.get("X-Attention-Compression"));
  } catch (e) {
    throw e instanceof ApiError ? e : new ApiError(`layer ${layer} of step ${step} cannot be inflated: ${e.message}`);
  }
  return { heads, queries, keys, precision, data: decodeWeights(buffer, precision, heads * queries * keys) };
}

/** Layers by (run, tag, step, layer), kept while under a memory budget (512 tokens: 12 MB a layer). */
export class LayerCache {
  constructor(maxBytes = 256 * 2 ** 20) {
    this.maxBytes = maxBytes;
    this.bytes = 0;
    this.entries = new Map(); // key -> Promise; insertion order is recency
  }

  get(run, tag, step, layer) {
    const key = JSON.stringify([run, tag, step, layer]);
    let entry = this.entries.get(key);
    if (entry) {
      this.entries.delete(key);
      this.entries.set(key, entry);
      return entry.promise;
    }
    entry = { bytes: 0, promise: fetchLayer(run, tag, step, layer) };
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
