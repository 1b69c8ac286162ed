"""Stored number types of attention weights: how each is written and read back.

The server tells the panel a payload's wire dtype, scale (weight = stored value x scale) and, for
a coded precision, its decoding table (weight = table[value]), so this module is the only place
that knows what a precision means (docs/format.md, "Precisions").
"""

import numpy as np

from tb_attention.format import log16

# name: (numpy dtype of a stored value, scale: weight = stored value * scale, max abs error of a
# decoded weight in [0, 1], max relative error of a decoded weight >= 1e-6 or None)
PRECISIONS = {
    "log16": (np.dtype("<u2"), 1.0, log16.ABSOLUTE, log16.RELATIVE),
    "uint8": (np.dtype("u1"), 1.0 / 255.0, 1.0 / 510.0, None),
    "float16": (np.dtype("<f2"), 1.0, 2.0**-12, 0.03),  # half of 2^-24 (subnormal step) at 1e-6
    "float32": (np.dtype("<f4"), 1.0, 0.0, 2.0**-24),
}
# Precisions whose chunks hold their values' bytes split into planes (all low bytes, then all
# high bytes): zstd's entropy coder then sees the small weights' codes alone, not interleaved
# with the nearly constant high bytes (docs/format.md).
PLANAR = frozenset({"log16"})


def check_precision(precision):
    if precision not in PRECISIONS:
        raise ValueError("unknown precision %r: use one of %s" % (precision, ", ".join(sorted(PRECISIONS))))
    return precision


def dtype(precision):
    return PRECISIONS[precision][0]


def scale(precision):
    return PRECISIONS[precision][1]


def error_bound(precision):
    """Max abs error of a stored weight in [0, 1] once decoded."""
    return PRECISIONS[precision][2]


def relative_bound(precision):
    """Max relative error of a stored weight >= 1e-6 once decoded (None: no relative bound)."""
    return PRECISIONS[precision][3]


def table(precision):
    """The float32 weight of each stored value of a coded precision (weight = table[value]), or
    None where weight = value x scale."""
    return log16.values() if precision == "log16" else None


def quantize(weights, precision):
    """Float weights in [0, 1] as the stored dtype (uint8: rounded to the nearest of 256 levels,
    which bounds the error by half a level, 1/510; log16: the code of its grid cell)."""
    target = dtype(precision)
    if precision == "log16":
        return log16.encode(weights)
    if precision == "uint8":
        scaled = np.multiply(weights, 255.0, dtype=np.float32)
        np.rint(scaled, out=scaled)
        np.clip(scaled, 0, 255, out=scaled)
        return scaled.astype(target)
    return np.ascontiguousarray(weights, dtype=target)


def dequantize(values, precision):
    """Float32 weights of stored values (uint8: value / 255, bit for bit as format 1 was read)."""
    if precision == "log16":
        return log16.decode(values)
    if precision == "uint8":
        return values.astype(np.float32) / np.float32(1.0 / scale(precision))
    return values.astype(np.float32)


def pack(stored, precision):
    """Bytes of stored values as a chunk holds them: little-endian, in byte planes if PLANAR."""
    stored = np.ascontiguousarray(stored, dtype=dtype(precision)).reshape(-1)
    if precision not in PLANAR:
        return stored.tobytes()
    return stored.view(np.uint8).reshape(-1, stored.itemsize).T.tobytes()


def unpack(raw, precision, count, offset=0):
    """The `count` stored values (1-d, of the precision's dtype) packed at `offset` of `raw`."""
    target = dtype(precision)
    if precision not in PLANAR:
        return np.frombuffer(raw, target, count, offset)
    planes = np.frombuffer(raw, np.uint8, count * target.itemsize, offset).reshape(target.itemsize, count)
    out = np.empty(count, dtype=target)
    for i, plane in enumerate(planes):
        out.view(np.uint8)[i :: target.itemsize] = plane
    return out
