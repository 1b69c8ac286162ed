"""How far attention reaches, in tokens, the sink left out: `span_mean` and `span_p90`
(docs/patterns.md) of each query row of a block, in numpy or in torch on the block's device.

Both come from the row's sums over blocks of GROUP keys and first moments within them, computed
in the same pass as the entropy: the mean distance is exact from those sums and GROUP weights
around the query; the 0.9-quantile distance is bracketed by a binary search over the block
sums to GROUP distances, then found exactly among their weights. No cumulative sum over all keys.
"""

import numpy as np

GROUP = 16  # keys per block sum
REACH = 0.9  # span_p90: the distance within which this share of the non-sink weight lies
# A row "reaches" 0.9 at REACH - SLACK, so float rounding cannot decide an exact tie (a row
# uniform over 10 keys reaches 0.9 at its 9th key, whichever way its sums round).
SLACK = 1e-6


class _Numpy:
    take = staticmethod(np.take)
    where = staticmethod(np.where)

    @staticmethod
    def arange(n, like):
        return np.arange(n, dtype=np.int64)

    @staticmethod
    def float64(a):
        return np.asarray(a, dtype=np.float64)

    @staticmethod
    def prefix(a):
        out = np.zeros((a.shape[0], a.shape[1] + 1))
        np.cumsum(a, axis=-1, dtype=np.float64, out=out[:, 1:])
        return out

    @staticmethod
    def first_true(a):
        return a.argmax(-1)

    @staticmethod
    def row_max(a):
        return a.max(-1)

    concat = staticmethod(np.concatenate)


class _Torch:
    def __init__(self, torch):
        self.torch = torch

    def take(self, flat, index):
        return flat[index]

    def where(self, condition, a, b):
        return self.torch.where(condition, a, b)

    def arange(self, n, like):
        return self.torch.arange(n, device=like.device)

    def float64(self, a):
        return a.double()

    def prefix(self, a):
        out = self.torch.zeros((a.shape[0], a.shape[1] + 1), dtype=self.torch.float64, device=a.device)
        out[:, 1:] = a.double().cumsum(-1)
        return out

    def first_true(self, a):
        return a.to(self.torch.uint8).argmax(-1)

    def row_max(self, a):
        return a.amax(-1)

    def concat(self, parts):
        return self.torch.cat(parts)


def ops_for(array):
    """The array operations span_rows needs, for numpy arrays or torch tensors."""
    if isinstance(array, np.ndarray):
        return _Numpy
    import torch

    return _Torch(torch)


class _Rows:
    """Lookups into one block's rows: weights, block prefix sums (the sink left out)."""

    def __init__(self, ops, x2, qi, sums, moments):
        self.ops, self.qi = ops, qi
        n, self.k = x2.shape
        self.nb = sums.shape[1]
        firsts = ops.float64(moments) + ops.float64(sums) * (GROUP * ops.arange(self.nb, qi))[None, :]  # sum w_j j
        # [n, nb + 1]: weight on the blocks before each block (the sink's first moment is 0).
        self.ps2 = ops.prefix(sums)
        self.ps, self.pf = self.ps2.reshape(-1), ops.prefix(firsts).reshape(-1)
        self.flat = x2.reshape(-1)
        self.row = ops.arange(n, qi) * self.k
        self.ps_row = ops.arange(n, qi) * (self.nb + 1)
        self.offsets = ops.arange(GROUP, qi)[None, :]

    def ps_at(self, block):
        return self.ops.take(self.ps, self.ps_row + block)

    def pf_at(self, block):
        return self.ops.take(self.pf, self.ps_row + block)

    def window(self, first, length):
        """float64 [n, GROUP]: the weights of keys first .. first + length - 1 (length <= GROUP),
        0 outside the keys and at the sink; and those key positions."""
        pos = first[:, None] + self.offsets
        keep = (self.offsets < length[:, None]) & (pos >= 1) & (pos < self.k)
        w = self.ops.take(self.flat, self.row[:, None] + pos.clip(0, self.k - 1))
        return self.ops.where(keep, self.ops.float64(w), 0.0), pos

    def prefix(self, j):
        """Non-sink weight on keys before j (0 <= j <= k), exactly."""
        base = (j // GROUP) * GROUP
        return self.ps_at(j // GROUP) + self.window(base, j - base)[0].sum(-1)

    def bounds(self, d):
        """The keys within distance d of the query, the sink left out: [lo, hi)."""
        return (self.qi - d).clip(min=1), (self.qi + d + 1).clip(max=self.k)

    def upper(self, d):
        """Weight of the block sums touching the keys within distance d: at least their weight."""
        lo, hi = self.bounds(d)
        return self.ps_at((-((-hi) // GROUP)).clip(max=self.nb)) - self.ps_at(lo // GROUP)


def _mean(rows, total):
    """sum_j w_ij |i - j| over non-sink keys: blocks left and right of the query's block from
    their sums and first moments, the query's own block weight by weight."""
    qi, nb = rows.qi, rows.nb
    block = qi // GROUP
    left = qi * rows.ps_at(block) - rows.pf_at(block)
    right = (rows.pf_at(block * 0 + nb) - rows.pf_at(block + 1)) - qi * (total - rows.ps_at(block + 1))
    w, pos = rows.window(block * GROUP, block * 0 + GROUP)
    return left + right + (w * abs(qi[:, None] - pos)).sum(-1)


def _p90(rows, target):
    """The smallest d whose keys within distance d carry `target` of the row's weight."""
    ops, qi, k = rows.ops, rows.qi, rows.k
    # Largest d with upper(d) < target (so the answer is above it), by bisection: d = -1 holds,
    # d = dmax (every key) does not.
    a, b = qi * 0 - 1, (qi - 1).clip(min=k - 1 - qi)
    for _ in range(int(k).bit_length() + 1):
        active = b - a > 1
        m = (a + b) // 2
        below = rows.upper(m) < target
        a, b = ops.where(active & below, m, a), ops.where(active & ~below, m, b)
    # Block sums touching distance a + 1 all lie within distance a + GROUP: the answer is among
    # the next GROUP distances. Add their weights (left and right of the query) to the exact
    # weight within distance a.
    lo, hi = rows.bounds(a)
    reached = ops.where(a >= 0, rows.prefix(hi) - rows.prefix(lo), 0.0)
    d = a[:, None] + 1 + rows.offsets
    left, right = qi[:, None] - d, qi[:, None] + d
    w_left = ops.take(rows.flat, rows.row[:, None] + left.clip(0, k - 1))
    w_right = ops.take(rows.flat, rows.row[:, None] + right.clip(0, k - 1))
    step = ops.where(left >= 1, ops.float64(w_left), 0.0) + ops.where((d >= 1) & (right < k), ops.float64(w_right), 0.0)
    hit = reached[:, None] + step.cumsum(-1) >= target[:, None]
    return ops.where(hit.any(-1), a + 1 + ops.first_true(hit), a + GROUP)


def _one_sided_p90(rows, total):
    """_p90 of rows with no weight right of the query: i - j0, j0 the last key (>= 1) with at
    most total - target of the non-sink weight before it. Its block from the block sums, then
    the key among that block's weights."""
    ops, qi = rows.ops, rows.qi
    limit = total * (1 - REACH + SLACK)
    block = ((rows.ps2 <= limit[:, None]).sum(-1) - 1).clip(max=qi // GROUP)
    first = block * GROUP
    pos = first[:, None] + rows.offsets
    w = ops.float64(ops.take(rows.flat, rows.row[:, None] + pos.clip(max=rows.k - 1)))
    w[:, 0] *= first > 0  # the sink
    before = rows.ps_at(block)[:, None] + w.cumsum(-1) - w  # non-sink weight before each key
    ok = (before <= limit[:, None]) & (pos <= qi[:, None]) & (pos >= 1)
    return qi - ops.row_max(ops.where(ok, pos, 0))


def span_rows(x2, qi, sums, moments, one_sided=False):
    """Per row of `x2` [n, k] (self-attention; query positions `qi` [n] int64): (span_mean
    [n], span_p90 [n], valid [n]) in the array type of x2. `sums` / `moments` [n, ceil(k /
    GROUP)]: each row's sums over key blocks of GROUP and first moments sum_j w_j (j - block
    start) within them. A row is valid when its non-sink weight is above 0. `one_sided`: no row
    has weight right of its query (causal rows): the same results, faster."""
    ops = ops_for(x2)
    rows = _Rows(ops, x2, qi, sums, moments)
    total = rows.ps_at(qi * 0 + rows.nb)
    valid = total > 0
    p90 = _one_sided_p90(rows, total) if one_sided else _p90(rows, total * (REACH - SLACK))
    return _mean(rows, total) / ops.where(valid, total, 1.0), p90, valid
