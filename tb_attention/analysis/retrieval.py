"""The `retrieval` score of a head (Wu et al. 2024, docs/patterns.md): over the query positions
whose next token copies a needle token, the share whose strongest key is that needle token's
position. The probe says which pairs (query position, needle position) count (a needle probe
carries them); a block of query rows adds its hits, in numpy or in torch on the block's device,
reading only the rows that hold a pair.
"""

import numbers

import numpy as np


def parse_pairs(pairs, queries, keys):
    """`pairs` ((query, key) positions, key < query) as an int64 `[n, 2]` array sorted by query;
    raises ValueError/TypeError naming the bad pair. None gives None (no retrieval score)."""
    if pairs is None:
        return None
    try:
        rows = [tuple(p) for p in pairs]
    except TypeError:
        raise TypeError("retrieval must be a list of (query, key) positions, got %r" % (pairs,)) from None
    for p in rows:
        if len(p) != 2 or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in p):
            raise TypeError("retrieval must be a list of (query, key) int positions, got %r" % (p,))
        query, key = int(p[0]), int(p[1])
        if not (0 <= key < query < queries) or key >= keys:
            raise ValueError(
                "retrieval pair %r is outside the attention (%d queries, %d keys) or its key is not "
                "before its query" % (p, queries, keys)
            )
    if len({int(p[0]) for p in rows}) != len(rows):
        raise ValueError("retrieval pairs repeat a query position: each query copies one needle token")
    array = np.array(rows, dtype=np.int64).reshape(-1, 2)
    return array[np.argsort(array[:, 0], kind="stable")]


def _in_block(pairs, row_start, rows):
    a, z = np.searchsorted(pairs[:, 0], [row_start, row_start + rows])
    return pairs[a:z, 0] - row_start, pairs[a:z, 1]


def numpy_hits(x, row_start, pairs):
    """float64 `[heads]`: the pairs of rows row_start.. of `x` [heads, rows, keys] whose needle
    key holds the row's maximum, alone (a tie for the maximum is no hit)."""
    rows, keys = _in_block(pairs, row_start, x.shape[1])
    if rows.size == 0:
        return np.zeros(x.shape[0])
    picked = x[:, rows]  # [heads, m, k]
    top = picked.max(-1)
    at = picked[:, np.arange(rows.size), keys]
    alone = (picked == top[..., None]).sum(-1) == 1
    return ((at == top) & alone).sum(-1).astype(np.float64)


def torch_hits(x, row_start, pairs):
    """numpy_hits of a torch block, on its device."""
    import torch

    rows, keys = _in_block(pairs, row_start, x.shape[1])
    if rows.size == 0:
        return torch.zeros(x.shape[0], dtype=torch.float64, device=x.device)
    rows = torch.as_tensor(rows, device=x.device)
    keys = torch.as_tensor(keys, device=x.device)
    picked = x[:, rows]
    top = picked.amax(-1)
    at = picked[:, torch.arange(rows.numel(), device=x.device), keys]
    alone = (picked == top[..., None]).sum(-1) == 1
    return ((at == top) & alone).sum(-1, dtype=torch.float64)
