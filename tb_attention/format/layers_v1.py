"""Layers of a format-1 record (tb-attention 0.1): blob 0 of the event's blob sequence is the
header, blob 1 + l holds layer l as a zlib stream of a little-endian `[heads, queries, keys]`
array in the record's precision. Read for old logdirs; written only by tests that build them."""

import zlib

import numpy as np

from tb_attention.format import precision as precisions
from tb_attention.format.errors import FormatError
from tb_attention.format.header import encode_header


def encode_layer(weights, precision, level=1):
    """Compress one layer `[heads, q, k]` of float32 weights in [0, 1]."""
    return zlib.compress(precisions.quantize(weights, precision).tobytes(), level)


def encode(attention, header, level=1):
    """All blobs of a v1 record: the header (`header.make_v1_header`) then one blob per layer."""
    precision = header["precision"]
    return [encode_header(header)] + [encode_layer(layer, precision, level) for layer in attention]


def layer_nbytes(shape, precision):
    """Size of one inflated layer blob of a record of this shape and precision."""
    _, heads, q, k = shape
    return heads * q * k * precisions.dtype(precision).itemsize


def inflate_layer(blob, shape, precision):
    """The raw bytes of a layer blob; raises FormatError unless it inflates to exactly the
    header's size (inflating stops one byte past it, so a corrupt blob cannot balloon)."""
    expected = layer_nbytes(shape, precision)
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(blob, expected + 1)
    except zlib.error as e:
        raise FormatError("attention layer blob is corrupt: %s" % e) from None
    if len(raw) != expected or not inflater.eof or inflater.unconsumed_tail or inflater.unused_data:
        raise FormatError("attention layer blob does not hold the expected %d bytes" % expected)
    return raw


def decode_layer(blob, shape, precision):
    """Float32 `[heads, q, k]` weights of one layer blob."""
    _, heads, q, k = shape
    stored = np.frombuffer(inflate_layer(blob, shape, precision), dtype=precisions.dtype(precision))
    return precisions.dequantize(stored.reshape(heads, q, k), precision)
