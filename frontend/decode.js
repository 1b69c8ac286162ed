// Decoding a layer payload: little-endian values of the dtype the server names, times the
// scale it sends (weight = value x scale); for a coded precision, through the table it sends
// (weight = table[value] x scale), with the values' bytes in planes when it says so; a sparse
// answer's counts, key indices and values as its headers lay them out. Pure functions: no DOM,
// no network.

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
  uint16: { size: 2, read: (view, i) => view.getUint16(2 * i, true) },
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

/** The decoding table of an X-Attention-Table header (base64 of little-endian float32, one
 * weight per stored value), or null without one. */
export function parseTable(text) {
  if (!text) return null;
  let bytes;
  try {
    bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  } catch (_) {
    throw new DecodeError("bad X-Attention-Table header: not base64");
  }
  if (!bytes.length || bytes.length % 4) throw new DecodeError(`bad X-Attention-Table header: ${bytes.length} bytes`);
  const view = new DataView(bytes.buffer);
  const table = new Float32Array(bytes.length / 4);
  for (let i = 0; i < table.length; i++) table[i] = view.getFloat32(4 * i, true);
  return table;
}

/** The group size of an X-Attention-Planes header (values per group of byte planes), or null. */
export function parsePlanes(text) {
  if (!text) return null;
  const group = Number(text);
  if (!Number.isInteger(group) || group < 1)
    throw new DecodeError(`bad X-Attention-Planes header: ${JSON.stringify(text)}`);
  return group;
}

// Values stored in byte planes (per group of `group` values: every low byte, then every next
// byte) back to plain little-endian values.
function fromPlanes(buffer, size, count, group) {
  const src = new Uint8Array(buffer);
  const out = new Uint8Array(count * size);
  for (let start = 0; start < count; start += group) {
    const n = Math.min(group, count - start);
    const base = start * size;
    for (let b = 0; b < size; b++) {
      const plane = base + b * n;
      for (let i = 0; i < n; i++) out[base + i * size + b] = src[plane + i];
    }
  }
  return out.buffer;
}

function throughTable(values, table, scale) {
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const weight = table[values[i]];
    if (weight === undefined) throw new DecodeError(`stored value ${values[i]} is outside the decoding table`);
    out[i] = weight * scale;
  }
  return out;
}

/**
 * Float32Array of `count` weights from an ArrayBuffer of `dtype` values times `scale`; with a
 * `table` (parseTable), weight = table[value] x scale; with `planes` (parsePlanes), the values'
 * bytes arrive in planes per group of that many values.
 */
export function decodeWeights(buffer, dtype, count, scale = 1, { table = null, planes = null } = {}) {
  const size = dtypeSize(dtype);
  if (buffer.byteLength !== count * size) {
    throw new DecodeError(
      `layer data has ${buffer.byteLength} bytes, expected ${count * size} for ${count} ${dtype} values`,
    );
  }
  if (!(Number.isFinite(scale) && scale > 0)) throw new DecodeError(`bad scale ${scale}`);
  if (planes && size > 1) buffer = fromPlanes(buffer, size, count, planes);
  if (table) {
    if (dtype !== "uint8" && dtype !== "uint16") throw new DecodeError(`a decoding table for ${dtype} values`);
    const values = dtype === "uint8" ? new Uint8Array(buffer) : readUint16(buffer, count);
    return throughTable(values, table, scale);
  }
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
    const half = halfToFloatTable();
    for (let i = 0; i < count; i++) out[i] = half[halves[i]] * scale;
    return out;
  }
  const view = new DataView(buffer);
  const { read } = READERS[dtype];
  const half = dtype === "float16" ? halfToFloatTable() : null;
  for (let i = 0; i < count; i++) out[i] = read(view, i, half) * scale;
  return out;
}

function readUint16(buffer, count) {
  if (LITTLE_ENDIAN) return new Uint16Array(buffer);
  const view = new DataView(buffer);
  const out = new Uint16Array(count);
  for (let i = 0; i < count; i++) out[i] = view.getUint16(2 * i, true);
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

// Integer parts of a sparse answer (counts per row, key indices), by the dtype its headers name.
const INTEGERS = { uint16: Uint16Array, uint32: Uint32Array };

function integerType(dtype, what) {
  const Type = INTEGERS[dtype];
  if (!Type) throw new DecodeError(`unknown ${what} dtype ${JSON.stringify(dtype)} (this panel reads uint16, uint32)`);
  return Type;
}

function integers(buffer, offset, count, Type) {
  const bytes = new Uint8Array(buffer, offset, count * Type.BYTES_PER_ELEMENT).slice(); // aligned
  if (LITTLE_ENDIAN) return new Type(bytes.buffer);
  const view = new DataView(bytes.buffer);
  const out = new Type(count);
  const wide = Type === Uint32Array;
  for (let i = 0; i < count; i++) out[i] = wide ? view.getUint32(4 * i, true) : view.getUint16(2 * i, true);
  return out;
}

/**
 * The kept entries of a sparse answer (/layer form=sparse): counts of `rows` (one per head and
 * query row), then `entries` key indices, then their values, each of the dtype `layout` names
 * ({rows, keys, entries, countDtype, indexDtype, dtype, scale, table, planes}, from the headers).
 * Returns {counts, offsets (Int32Array [rows + 1]: row i's entries are [offsets[i],
 * offsets[i + 1])), indices, values: Float32Array}; throws DecodeError for a body that disagrees.
 */
export function decodeSparse(buffer, layout) {
  const { rows, keys, entries, countDtype, indexDtype, dtype, scale = 1, table = null, planes = null } = layout;
  if (![rows, keys, entries].every((n) => Number.isInteger(n) && n >= 0))
    throw new DecodeError(`bad sparse layout: ${rows} rows, ${keys} keys, ${entries} entries`);
  const CountType = integerType(countDtype, "count");
  const IndexType = integerType(indexDtype, "index");
  const countBytes = rows * CountType.BYTES_PER_ELEMENT;
  const indexBytes = entries * IndexType.BYTES_PER_ELEMENT;
  const expected = countBytes + indexBytes + entries * dtypeSize(dtype);
  if (buffer.byteLength !== expected)
    throw new DecodeError(`sparse layer data has ${buffer.byteLength} bytes, expected ${expected}`);
  const counts = integers(buffer, 0, rows, CountType);
  const offsets = new Int32Array(rows + 1);
  for (let i = 0; i < rows; i++) offsets[i + 1] = offsets[i] + counts[i];
  if (offsets[rows] !== entries) throw new DecodeError(`sparse counts sum to ${offsets[rows]}, not ${entries} entries`);
  const indices = integers(buffer, countBytes, entries, IndexType);
  for (let i = 0; i < entries; i++)
    if (indices[i] >= keys) throw new DecodeError(`sparse key index ${indices[i]} is outside ${keys} keys`);
  const values = decodeWeights(buffer.slice(countBytes + indexBytes), dtype, entries, scale, { table, planes });
  return { counts, offsets, indices, values };
}
