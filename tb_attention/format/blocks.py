"""What a v2 payload chunk holds (docs/format.md): a block of heads of one layer, dense, in the
record's precision; or a layer's thumbnails, max-pooled. Pure numpy, shared by writer and readers."""

import numpy as np

from tb_attention.format import precision as precisions
from tb_attention.format.errors import FormatError

BLOCK_BYTES = 16 << 20  # a dense block holds at most this much, so a reader fetches one at a time
THUMBNAIL = 64  # thumbnails are at most THUMBNAIL x THUMBNAIL per head
THUMBNAIL_DTYPE = np.dtype("<f2")  # exact enough for every colour scale the panel offers


def heads_per_block(heads, q, k, precision):
    """How many heads one dense block holds (at least one)."""
    per_head = q * k * precisions.dtype(precision).itemsize
    return max(1, min(heads, BLOCK_BYTES // max(1, per_head)))


def block_ranges(heads, head_block):
    """[(first head, end head)] of each block of a layer."""
    return [(h, min(heads, h + head_block)) for h in range(0, heads, head_block)]


def encode_dense(weights, precision):
    """Raw bytes of float weights `[heads, q, k]` in the stored precision."""
    return precisions.quantize(weights, precision).tobytes()


def dense_nbytes(heads, q, k, precision):
    return heads * q * k * precisions.dtype(precision).itemsize


def decode_dense(raw, heads, q, k, precision):
    """Float32 `[heads, q, k]` of a dense block's raw bytes."""
    if len(raw) != dense_nbytes(heads, q, k, precision):
        raise FormatError("attention block holds %d bytes, expected %d" % (len(raw), dense_nbytes(heads, q, k, precision)))
    stored = np.frombuffer(raw, dtype=precisions.dtype(precision)).reshape(heads, q, k)
    return precisions.dequantize(stored, precision)


def thumbnail_shape(q, k, size=THUMBNAIL):
    return min(q, size), min(k, size)


def _edges(n, bins):
    return (np.arange(bins) * n) // bins


def pool_max(weights, rows, cols):
    """`[heads, q, k]` max-pooled to `[heads, rows, cols]` (strong cells are not averaged away)."""
    heads, q, k = weights.shape
    pooled = np.maximum.reduceat(weights, _edges(q, rows), axis=1) if rows < q else weights
    return np.maximum.reduceat(pooled, _edges(k, cols), axis=2) if cols < k else pooled


def encode_thumbnails(weights, size=THUMBNAIL):
    """Raw bytes of a layer's thumbnails `[heads, rows, cols]`."""
    heads, q, k = weights.shape
    rows, cols = thumbnail_shape(q, k, size)
    return np.ascontiguousarray(pool_max(weights, rows, cols), dtype=THUMBNAIL_DTYPE).tobytes()


def decode_thumbnails(raw, heads, rows, cols):
    expected = heads * rows * cols * THUMBNAIL_DTYPE.itemsize
    if len(raw) != expected:
        raise FormatError("attention thumbnails hold %d bytes, expected %d" % (len(raw), expected))
    return np.frombuffer(raw, dtype=THUMBNAIL_DTYPE).reshape(heads, rows, cols).astype(np.float32)
