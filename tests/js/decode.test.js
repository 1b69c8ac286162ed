// Layer payloads decode as the server's headers describe them: dtype, scale, shape.
import { test } from "node:test";
import assert from "node:assert/strict";

import { decodeWeights, dtypeSize, parsePlanes, parseShape, parseTable, DecodeError } from "../../frontend/decode.js";

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

const TABLE = new Float32Array([0, 1e-6, 0.25, 1]);
const tableHeader = () => Buffer.from(TABLE.buffer).toString("base64"); // the host is little-endian

test("a coded precision: uint16 values through the table the server sends", () => {
  const table = parseTable(tableHeader());
  assert.deepEqual(Array.from(table), Array.from(TABLE));
  const values = new Uint16Array([3, 0, 2, 1, 1]);
  const out = decodeWeights(values.buffer, "uint16", 5, 1, { table });
  assert.deepEqual(Array.from(out), [1, 0, 0.25, 1e-6, 1e-6].map(Math.fround));
  assert.throws(
    () => decodeWeights(new Uint16Array([4]).buffer, "uint16", 1, 1, { table }),
    /stored value 4 is outside the decoding table/,
  );
});

test("byte planes per group: every low byte, then every high byte, group by group", () => {
  const values = [0x0102, 0x0304, 0x0506, 0x0708, 0x090a];
  // groups of 2 values: [02 04 | 01 03], [06 08 | 05 07], then the last group of 1: [0a | 09]
  const planar = new Uint8Array([0x02, 0x04, 0x01, 0x03, 0x06, 0x08, 0x05, 0x07, 0x0a, 0x09]);
  const table = new Float32Array(0x0a0b).map((_, i) => i);
  const out = decodeWeights(planar.buffer, "uint16", 5, 1, { table, planes: parsePlanes("2") });
  assert.deepEqual(Array.from(out), values);
  assert.equal(parsePlanes(null), null);
  for (const bad of ["0", "-2", "1.5", "x"]) assert.throws(() => parsePlanes(bad), DecodeError);
  for (const bad of ["%%%", "AAA="]) assert.throws(() => parseTable(bad), DecodeError);
  assert.equal(parseTable(null), null);
});

test("shape header", () => {
  assert.deepEqual(parseShape("12,19,19"), [12, 19, 19]);
  for (const bad of [null, "", "1,2", "1,2,x", "1,-2,3", "1.5,2,3"]) assert.throws(() => parseShape(bad), DecodeError);
});
