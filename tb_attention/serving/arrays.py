"""The answer of a binary route: a little-endian array, with what the client needs to read it
(shape, wire dtype, scale) and, when the stored bytes can be sent as they are, their coding."""

import dataclasses
from typing import Callable, Optional

import numpy as np

from tb_attention.format import precision


@dataclasses.dataclass
class ArrayPayload:
    """A little-endian array for a binary route: its raw bytes (made on demand), or already
    encoded bytes with their HTTP content-coding, which may be sent as they are."""

    shape: tuple
    dtype: str  # uint8, uint16, float16, float32
    scale: float  # weight = value * scale, or table[value] * scale
    raw: Callable[[], bytes]
    encoded: Optional[tuple] = None  # (content-coding, bytes)
    precision: Optional[str] = None
    table: Optional[np.ndarray] = None  # float32 weight of each value, for coded precisions
    planes: Optional[int] = None  # values per group of byte planes (stored chunks of a PLANAR precision)
    layout: Optional[dict] = None  # more headers saying how the body is laid out (a sparse answer's)


def stored_payload(shape, part_precision, raw, encoded=None, planes=None):
    """Values in a record's stored precision (`raw` makes their bytes: plain little-endian, or in
    byte planes of `planes` values each when passed through as stored)."""
    return ArrayPayload(
        shape,
        precision.dtype(part_precision).name,
        precision.scale(part_precision),
        raw,
        encoded,
        part_precision,
        precision.table(part_precision),
        planes if part_precision in precision.PLANAR else None,
    )


def float_payload(values, dtype="float32", part_precision=None):
    """Float weights (`float16` or `float32` on the wire), scale 1."""
    values = np.ascontiguousarray(values, dtype="<f2" if dtype == "float16" else "<f4")
    return ArrayPayload(values.shape, dtype, 1.0, values.tobytes, None, part_precision)


def sparse_payload(shape, part_precision, counts, indices, values):
    """Kept entries of `shape` = (heads, rows, keys), never densified: the body holds `counts`
    (keys kept per head and row, `[heads * rows]`), then the kept keys' `indices`, then their
    `values` as stored (in one group of byte planes for a PLANAR precision); headers name each
    part's dtype and the number of entries."""
    entries = int(values.size)

    def raw():
        return b"".join((counts.tobytes(), indices.tobytes(), precision.pack(values, part_precision)))

    out = stored_payload(shape, part_precision, raw, planes=entries or None)
    out.layout = {
        "X-Attention-Form": "sparse",
        "X-Attention-Entries": str(entries),
        "X-Attention-Count-Dtype": counts.dtype.name,
        "X-Attention-Index-Dtype": indices.dtype.name,
    }
    return out
