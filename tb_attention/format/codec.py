"""One attention record as TensorBoard stores it (docs/format.md), shared by writer and server.

A record is a list of blobs: blob 0 is a UTF-8 JSON header, blob 1 + l holds layer l as a
zlib-compressed little-endian array `[heads, queries, keys]` in the record's precision, so a
server can read one layer without touching the others.
"""

import json
import zlib

import numpy as np

from tb_attention.format import metadata, precision as precisions

COMPRESSION = "zlib"
HEADER_BLOB = 0


class FormatError(ValueError):
    """A stored record that this version cannot decode."""


def layer_blob_index(layer):
    return 1 + layer


def encode_layer(weights, precision, level=1):
    """Compress one layer `[heads, q, k]` of float32 weights in [0, 1]."""
    return zlib.compress(precisions.quantize(weights, precision).tobytes(), level)


def encode_header(header):
    return json.dumps(header, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode(
        "utf-8"
    )


def encode(attention, header, level=1):
    """All blobs of a record: the header (already complete) then one blob per layer."""
    precision = header["precision"]
    return [encode_header(header)] + [encode_layer(layer, precision, level) for layer in attention]


def make_header(shape, tokens, key_tokens, sentence_b_start, precision, patterns=None):
    return {
        "version": metadata.FORMAT_VERSION,
        "shape": [int(n) for n in shape],
        "precision": precision,
        "compression": COMPRESSION,
        "tokens": list(tokens),
        "key_tokens": None if key_tokens is None else list(key_tokens),
        "sentence_b_start": sentence_b_start,
        "patterns": patterns,
    }


def decode_header(blob):
    try:
        header = json.loads(bytes(blob).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise FormatError("attention header is not valid JSON: %s" % e) from None
    if not isinstance(header, dict):
        raise FormatError("attention header is not a JSON object")
    try:
        metadata.check_version(header.get("version"), "attention record")
    except ValueError as e:
        raise FormatError(str(e)) from None
    shape = header.get("shape")
    if (
        not isinstance(shape, list)
        or len(shape) != 4
        or not all(isinstance(n, int) and n > 0 for n in shape)
    ):
        raise FormatError("attention header has a bad shape: %r" % (shape,))
    if header.get("precision") not in precisions.PRECISIONS or header.get("compression") != COMPRESSION:
        raise FormatError("attention header has an unknown precision or compression")
    _, _, q, k = shape
    key_tokens = header.get("key_tokens")
    if not _is_token_list(header.get("tokens"), q) or not (
        _is_token_list(key_tokens, k) if key_tokens is not None else q == k
    ):
        raise FormatError("attention header's tokens do not match its shape %s" % (shape,))
    sentence_b_start = header.get("sentence_b_start")
    if sentence_b_start is not None and not (
        isinstance(sentence_b_start, int) and not isinstance(sentence_b_start, bool) and 0 < sentence_b_start < q
    ):
        raise FormatError("attention header has a bad sentence_b_start: %r" % (sentence_b_start,))
    return header


def _is_token_list(tokens, count):
    return isinstance(tokens, list) and len(tokens) == count and all(isinstance(t, str) for t in tokens)


def layer_nbytes(header):
    """Size of one inflated layer blob of a record with this header."""
    _, heads, q, k = header["shape"]
    return heads * q * k * precisions.dtype(header["precision"]).itemsize


def inflate_layer(blob, header):
    """The raw bytes of a layer blob; raises FormatError unless it inflates to exactly the
    header's size (inflating stops one byte past it, so a corrupt blob cannot balloon)."""
    expected = layer_nbytes(header)
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(blob, expected + 1)
    except zlib.error as e:
        raise FormatError("attention layer blob is corrupt: %s" % e) from None
    if len(raw) != expected or not inflater.eof or inflater.unconsumed_tail or inflater.unused_data:
        raise FormatError("attention layer blob does not hold the expected %d bytes" % expected)
    return raw


def decode_layer(blob, header):
    """Float32 `[heads, q, k]` weights of one layer blob."""
    _, heads, q, k = header["shape"]
    stored = np.frombuffer(inflate_layer(blob, header), dtype=precisions.dtype(header["precision"]))
    return precisions.dequantize(stored.reshape(heads, q, k), header["precision"])
