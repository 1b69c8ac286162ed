"""How far attention reaches, in tokens, the sink left out: `span_mean` and `span_p90`
(docs/patterns.md) of each query row of a block, in numpy or in torch on the block's device.

The mean distance comes from each row's sum_j w_j |i - j| and its non-sink weight, computed in
the same pass as the entropy (reductions.py). The 0.9-quantile distance starts from the row's
sums over blocks of GROUP keys (same pass): causal rows take the block where the weight before
it reaches a tenth of the row's, other rows a bisection on distances over the block sums down to
GROUP candidate distances; then the answer among those GROUP weights. No cumulative sum over all
keys, and a few operations per row on GROUP-wide arrays.
"""

import numpy as np

GROUP = 16  # keys per block sum
REACH = 0.9  # span_p90: the distance within which this share of the non-sink weight lies
# A row "reaches" 0.9 at REACH - SLACK, so float rounding cannot decide an exact tie (a row
# uniform over 10 keys reaches 0.9 at its 9th key, whichever way its sums round).
SLACK = 1e-6


class _Numpy:
    float64_type = np.float64
    where = staticmethod(np.where)

    @staticmethod
    def take(flat, index):
        """flat[index]; an index outside `flat` reads its first or last entry (the callers mask
        the entries they read outside a row)."""
        return np.take(flat, index, mode="clip")

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

    @staticmethod
    def group_sums(a):
        """[n, m] -> [n, ceil(m / GROUP)]: sums over GROUP consecutive entries."""
        n, m = a.shape
        full = m // GROUP
        parts = [np.einsum("nsg->ns", a[:, : full * GROUP].reshape(n, full, GROUP))] if full else []
        if m > full * GROUP:
            parts.append(a[:, full * GROUP :].sum(axis=1, keepdims=True))
        return np.concatenate(parts, axis=1)


class _Torch:
    def __init__(self, torch):
        self.torch, self.float64_type = torch, torch.float64

    def take(self, flat, index):
        return flat[index.clamp(0, flat.shape[0] - 1)]

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

    def group_sums(self, a):
        n, m = a.shape
        full = m // GROUP
        parts = [a[:, : full * GROUP].reshape(n, full, GROUP).sum(-1)] if full else []
        if m > full * GROUP:
            parts.append(a[:, full * GROUP :].sum(-1, keepdim=True))
        return self.torch.cat(parts, 1)


def ops_for(array):
    """The array operations span_rows needs, for numpy arrays or torch tensors."""
    if isinstance(array, np.ndarray):
        return _Numpy
    import torch

    return _Torch(torch)


class _Rows:
    """Lookups into one block's rows: weights, block sums, their prefix sums (the sink left out)."""

    def __init__(self, ops, x2, qi, sums):
        self.ops, self.qi = ops, qi
        n, self.k = x2.shape
        self.nb = sums.shape[1]
        self.flat, self.sums = x2.reshape(-1), sums.reshape(-1)
        self.row, self.sums_row = ops.arange(n, qi) * self.k, ops.arange(n, qi) * self.nb
        self.offsets = ops.arange(GROUP, qi)[None, :]
        self.window_row = ops.arange(n, qi) * GROUP  # row starts in a flat [n, GROUP]
        # Prefix sums over super-blocks of GROUP blocks: what the one-sided search needs.
        self.supers = ops.prefix(ops.group_sums(sums))  # [n, ceil(nb / GROUP) + 1]
        self.total = self.supers[:, -1]
        self._ps = None
        self.levels = {"blocks": (self.sums, self.sums_row), "keys": (self.flat, self.row)}

    def ps_at(self, block):
        """The weight on the blocks before `block` (0 <= block <= nb), per row."""
        if self._ps is None:  # only the two-sided search needs every block's prefix
            n = self.qi.shape[0]
            self._ps = self.ops.prefix(self.sums.reshape(n, self.nb)).reshape(-1)
            self._ps_row = self.ops.arange(n, self.qi) * (self.nb + 1)
        return self.ops.take(self._ps, self._ps_row + block)

    def last_at_most(self, level, first, last, before, limit):
        """Among the GROUP entries first.. of each row at `level` ("blocks": the block sums;
        "keys": the weights, the sink left out; entries after `last` count as absent), the last
        whose running sum before it (from `before`) is at most `limit`: (its index, that sum).
        The first entry always qualifies (`before` <= limit, first <= last)."""
        ops = self.ops
        table, row = self.levels[level]
        pos = first[:, None] + self.offsets
        inside = pos <= last[:, None]
        w = ops.where(inside, ops.take(table, row[:, None] + pos), 0.0)
        if level == "keys":
            w[:, 0] *= first > 0  # the sink
        w = w.cumsum(-1, dtype=ops.float64_type) - w  # the sum before each entry
        # The running sums grow along the row, so the qualifying entries are a prefix: count them.
        count = ((w <= (limit - before)[:, None]) & inside).sum(-1)
        return first + count - 1, before + ops.take(w.reshape(-1), self.window_row + count - 1)

    def prefix(self, j):
        """Non-sink weight on keys before j (0 <= j <= k), exactly."""
        base = (j // GROUP) * GROUP
        pos = base[:, None] + self.offsets
        w = self.ops.where((pos < j[:, None]) & (pos >= 1), self.ops.take(self.flat, self.row[:, None] + pos), 0.0)
        return self.ps_at(j // GROUP) + w.sum(-1, dtype=self.ops.float64_type)

    def bounds(self, d):
        """The keys within distance d of the query, the sink left out: [lo, hi)."""
        return (self.qi - d).clip(min=1), (self.qi + d + 1).clip(max=self.k)

    def upper(self, d):
        """Weight of the block sums touching the keys within distance d: at least their weight."""
        lo, hi = self.bounds(d)
        return self.ps_at((-((-hi) // GROUP)).clip(max=self.nb)) - self.ps_at(lo // GROUP)


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
    step = ops.where(left >= 1, ops.take(rows.flat, rows.row[:, None] + left), 0.0)
    step = step + ops.where((d >= 1) & (right < k), ops.take(rows.flat, rows.row[:, None] + right), 0.0)
    hit = reached[:, None] + step.cumsum(-1, dtype=ops.float64_type) >= target[:, None]
    return ops.where(hit.any(-1), a + 1 + ops.first_true(hit), a + GROUP)


def _one_sided_p90(rows, total):
    """_p90 of rows with no weight right of the query: i - j0, j0 the last key (>= 1) with at
    most total - target of the non-sink weight before it. Its super-block of GROUP blocks from
    their prefix sums, then its block among GROUP block sums, then the key among GROUP weights."""
    ops, qi = rows.ops, rows.qi
    limit = total * (1 - REACH + SLACK)
    last = qi // GROUP  # no block after the query's own holds weight
    sup = ((rows.supers <= limit[:, None]).sum(-1) - 1).clip(max=last // GROUP)
    before = ops.take(rows.supers.reshape(-1), ops.arange(qi.shape[0], qi) * rows.supers.shape[1] + sup)
    block, before = rows.last_at_most("blocks", sup * GROUP, last, before, limit)
    key, _ = rows.last_at_most("keys", block * GROUP, qi, before, limit)
    return qi - key


def span_rows(x2, qi, sums, distance, one_sided=False):
    """Per row of `x2` [n, k] (self-attention; query positions `qi` [n] int64): (span_mean
    [n], span_p90 [n], valid [n]) in the array type of x2. `sums` [n, ceil(k / GROUP)]: each
    row's sums over blocks of GROUP keys, the sink (key 0) left out (subtracting it afterwards
    would cancel: it often holds most of the row); `distance` [n]: sum_{j >= 1} w_j |i - j|. A
    row is valid when its non-sink weight is above 0. `one_sided`: no row has weight right of its
    query (causal rows): the same results, faster."""
    ops = ops_for(x2)
    rows = _Rows(ops, x2, qi, sums)
    total = rows.total
    valid = total > 0
    p90 = _one_sided_p90(rows, total) if one_sided else _p90(rows, total * (REACH - SLACK))
    return ops.float64(distance) / ops.where(valid, total, 1.0), p90, valid
