// Decoding a layer payload: little-endian values of the dtype the server names, times the
// scale it sends (weight = value x scale). Pure functions: no DOM, no network.

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

const READERS = {
  uint8: { size: 1, read: (view, i) => view.getUint8(i) },
  float16: { size: 2, read: (view, i, table) => table[view.getUint16(2 * i, true)] },
  float32: { size: 4, read: (view, i) => view.getFloat32(4 * i, true) },
};

export class DecodeError extends Error {}

// Typed arrays read in the host's byte order; the wire is little-endian (as nearly every host).
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Bytes per element of a wire dtype (throws for one this panel cannot read). */
export function dtypeSize(dtype) {
  const reader = READERS[dtype];
  if (!reader)
    throw new DecodeError(
      `unknown dtype ${JSON.stringify(dtype)} (this panel reads ${Object.keys(READERS).join(", ")})`,
    );
  return reader.size;
}

/** Float32Array of `count` weights from an ArrayBuffer of `dtype` values times `scale`. */
export function decodeWeights(buffer, dtype, count, scale = 1) {
  const size = dtypeSize(dtype);
  if (buffer.byteLength !== count * size) {
    throw new DecodeError(
      `layer data has ${buffer.byteLength} bytes, expected ${count * size} for ${count} ${dtype} values`,
    );
  }
  if (!(Number.isFinite(scale) && scale > 0)) throw new DecodeError(`bad scale ${scale}`);
  if (LITTLE_ENDIAN && dtype === "float32" && scale === 1) return new Float32Array(buffer); // no copy of a 16 MB mean
  const out = new Float32Array(count);
  if (dtype === "uint8") {
    const bytes = new Uint8Array(buffer);
    for (let i = 0; i < count; i++) out[i] = bytes[i] * scale;
    return out;
  }
  if (LITTLE_ENDIAN && dtype === "float32") {
    const values = new Float32Array(buffer);
    for (let i = 0; i < count; i++) out[i] = values[i] * scale;
    return out;
  }
  if (LITTLE_ENDIAN && dtype === "float16") {
    const halves = new Uint16Array(buffer);
    const table = halfToFloatTable();
    for (let i = 0; i < count; i++) out[i] = table[halves[i]] * scale;
    return out;
  }
  const view = new DataView(buffer);
  const { read } = READERS[dtype];
  const table = dtype === "float16" ? halfToFloatTable() : null;
  for (let i = 0; i < count; i++) out[i] = read(view, i, table) * scale;
  return out;
}

/** The dimensions of an X-Attention-Shape header value ([heads, queries, keys] for a layer), or throws. */
export function parseShape(text, rank = 3) {
  const shape = (text || "").split(",").map(Number);
  if (shape.length !== rank || shape.some((n) => !Number.isInteger(n) || n < 0)) {
    throw new DecodeError(`bad X-Attention-Shape header: ${JSON.stringify(text)}`);
  }
  return shape;
}
