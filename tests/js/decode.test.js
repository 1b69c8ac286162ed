// Layer payloads decode as the server's headers describe them: dtype, scale, shape.
import { test } from "node:test";
import assert from "node:assert/strict";

import { decodeWeights, dtypeSize, parseShape, DecodeError } from "../../frontend/decode.js";

test("uint8 values times the scale", () => {
  const buffer = new Uint8Array([0, 51, 255, 128]).buffer;
  const out = decodeWeights(buffer, "uint8", 4, 1 / 255);
  assert.deepEqual(Array.from(out), [0, 51 / 255, 1, 128 / 255].map(Math.fround));
});

test("float16 little-endian, including subnormals and the largest weight", () => {
  // 0x3c00 = 1.0, 0x3800 = 0.5, 0x0001 = 2^-24 (smallest subnormal), 0x1400 = 2^-10
  const buffer = new Uint16Array([0x3c00, 0x3800, 0x0001, 0x1400]).buffer; // the host is little-endian
  assert.deepEqual(Array.from(decodeWeights(buffer, "float16", 4)), [1, 0.5, 2 ** -24, 2 ** -10].map(Math.fround));
});

test("float32 little-endian is exact", () => {
  const values = new Float32Array([0.125, 0.3, 1e-7, 0]);
  assert.deepEqual(Array.from(decodeWeights(values.buffer, "float32", 4)), Array.from(values));
});

test("a payload of the wrong size or an unknown dtype is refused with a message", () => {
  assert.throws(
    () => decodeWeights(new ArrayBuffer(5), "uint8", 4),
    (e) => e instanceof DecodeError && /5 bytes, expected 4/.test(e.message),
  );
  assert.throws(() => decodeWeights(new ArrayBuffer(4), "int4", 8), /unknown dtype "int4"/);
  assert.throws(() => decodeWeights(new ArrayBuffer(4), "uint8", 4, NaN), /bad scale/);
  assert.equal(dtypeSize("float16"), 2);
});

test("shape header", () => {
  assert.deepEqual(parseShape("12,19,19"), [12, 19, 19]);
  for (const bad of [null, "", "1,2", "1,2,x", "1,-2,3", "1.5,2,3"]) assert.throws(() => parseShape(bad), DecodeError);
});
