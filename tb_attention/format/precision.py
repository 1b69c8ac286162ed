"""Stored number types of attention weights: how each is written and read back.

The server tells the panel a payload's wire dtype and scale (weight = stored value x scale), so
this module is the only place that knows what a precision means.
"""

import numpy as np

# name: (numpy dtype, scale: weight = stored value * scale, max abs error of a decoded weight in [0, 1])
PRECISIONS = {
    "uint8": (np.dtype("u1"), 1.0 / 255.0, 1.0 / 510.0),
    "float16": (np.dtype("<f2"), 1.0, 2.0**-12),
    "float32": (np.dtype("<f4"), 1.0, 0.0),
}


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


def quantize(weights, precision):
    """Float weights in [0, 1] as the stored dtype (uint8: rounded to the nearest of 256 levels,
    which bounds the error by half a level, 1/510)."""
    target = dtype(precision)
    if precision == "uint8":
        scaled = np.multiply(weights, 255.0, dtype=np.float32)
        np.rint(scaled, out=scaled)
        np.clip(scaled, 0, 255, out=scaled)
        return scaled.astype(target)
    return np.ascontiguousarray(weights, dtype=target)


def dequantize(values, precision):
    """Float32 weights of stored values (uint8: value / 255, bit for bit as format 1 was read)."""
    if precision == "uint8":
        return values.astype(np.float32) / np.float32(1.0 / scale(precision))
    return values.astype(np.float32)
