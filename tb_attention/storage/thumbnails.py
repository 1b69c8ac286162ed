"""Thumbnails of a stored part: every head of every layer max-pooled to at most 64 x 64, read from
the payload when the record keeps them, else pooled from its layers (docs/format.md)."""

import numpy as np

from tb_attention.format import blocks, payload


def thumbnails(stored, size=blocks.THUMBNAIL):
    """Float32 `[layers, heads, rows, cols]`: each head of a `StoredPart` max-pooled."""
    part = stored.part
    kept = part.layout.get("thumbnails")
    _, heads, q, k = part.shape
    rows, cols = blocks.thumbnail_shape(q, k, size)
    if kept is not None and kept.get("factor"):  # format 3: pooled by a power of two, at most `size`
        rows, cols = kept["size"]
    if kept is not None and tuple(kept["size"]) == (rows, cols):
        out = []
        for layer, ref in enumerate(kept["chunks"]):
            what = "thumbnails of layer %d" % layer
            raw = payload.decompress(
                stored.bytes.chunk(ref, what), heads * rows * cols * blocks.THUMBNAIL_DTYPE.itemsize, what
            )
            out.append(blocks.decode_thumbnails(raw, heads, rows, cols))
        return np.stack(out)
    return np.stack([blocks.pool_max(stored.layer(li), rows, cols) for li in range(part.shape[0])])
