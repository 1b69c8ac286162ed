"""The `log16` precision: each weight as a 16-bit code of a piecewise log/linear grid, kept fine
enough for both bounds every reader relies on (docs/format.md, "Precisions"):

- every weight within 1/510 absolute (the uint8 promise);
- every weight >= 1e-6 within 6 % relative (weights below 1e-6 are stored as 0);
- where a row is made of few comparable weights (w around 1/n for n keys), within 0.0045 sqrt(w),
  so that such rows keep their sum (errors of many weights in one cell do not cancel).

The grid is built once from these rules over the cells of float32's top 16 bits (sign, exponent
and 7 mantissa bits): consecutive cells are merged while the merged group still meets every bound
for every float32 in it, and each group is represented by the value that minimises its worst
relative error. So the bounds hold exactly for every input, and encoding is one table look-up.
444 codes: log-spaced (12 % apart) up to 0.005, 1/256 apart from 0.25 on, graded between. Codes
ascend with the weight (0 is 0.0, the last is 1.0), so small weights take the low byte only.

The grid is part of the format: records store codes, readers decode them with `values()`, and a
checksum test pins it. A different grid needs another precision name.
"""

import functools

import numpy as np

ABSOLUTE = 1.0 / 510.0  # max abs error of every weight in [0, 1]
RELATIVE = 0.06  # max relative error of every weight >= FLOOR
FLOOR = 1e-6  # below this a weight is stored as 0
ROW_SUM = 0.0045  # max abs error <= ROW_SUM * sqrt(w): rows of few comparable weights keep their sum

# Margins for float32 rounding of the representatives.
_RELATIVE = RELATIVE - 1e-4
_ABSOLUTE = ABSOLUTE - 1e-7


@functools.lru_cache(maxsize=1)
def _grid():
    """(codes: uint16 [65536] by the top 16 bits of a float32, values: float32 [codes])."""
    one = 0x3F80  # the cell starting at 1.0
    edges = (np.arange(one + 1, dtype=np.uint32) << 16).view(np.float32).astype(np.float64).tolist()
    codes = np.zeros(1 << 16, dtype=np.uint16)  # the sign half (negative zero, tiny negatives): 0
    values = [0.0]
    first = next(i for i in range(one) if edges[i + 1] > FLOOR)  # the cell holding FLOOR starts the grid

    def close(start, end):  # cells [start, end) become one code
        a, b = edges[start], edges[end]
        values.append(2 * a * b / (a + b))  # equal relative error at both ends
        codes[start:end] = len(values) - 1

    start = first
    for cell in range(first + 1, one):  # grow the group by `cell` while it meets every bound
        a, b = edges[start], edges[cell + 1]
        worst = b * (b - a) / (b + a)  # the abs error at the top, the largest
        if (b - a) / (b + a) > _RELATIVE or worst > min(_ABSOLUTE, ROW_SUM * a**0.5):
            close(start, cell)
            start = cell
    close(start, one)
    values.append(1.0)  # 1.0 itself, and anything above (as uint8 clips)
    codes[one : 1 << 15] = len(values) - 1
    return codes, np.array(values, dtype=np.float32)


def codes():
    """uint16 [65536]: the code of every float32 by its top 16 bits (the encoding table)."""
    return _grid()[0]


def values():
    """Float32 weight of each code (the decoding table readers use)."""
    return _grid()[1]


def encode(weights):
    """uint16 codes of float weights in [0, 1] (any shape)."""
    bits = np.ascontiguousarray(weights, dtype=np.float32).view(np.uint32)
    return codes()[bits >> 16]


def decode(codes):
    """Float32 weights of codes."""
    return values()[codes]
