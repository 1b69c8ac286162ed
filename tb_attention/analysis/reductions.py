"""Per-row passes over attention that several scores share: entropy, max weight and column sums
(numpy, optionally threaded), and every per-head reduction of one layer in torch, on its device."""

import numpy as np

# Row blocks of about this many bytes stay in the L2 cache while several reductions run over them.
_BLOCK_BYTES = 1 << 18
# Above this many weights, heads are split across threads (numpy releases the GIL in its loops).
_THREAD_MIN_WEIGHTS = 1 << 22
_MAX_THREADS = 4


def _head_reductions(rows, entropy, maximum, column_sums, heads):
    """For heads `heads` of `rows` [heads, q, k]: per-row entropy and max, per-head column sums."""
    q, k = rows.shape[1:]
    block = max(1, min(q, _BLOCK_BYTES // (4 * k)))
    buf = np.empty((block, k), dtype=np.float32)
    tiny = np.finfo(np.float32).tiny
    for h in heads:
        column_sums[h] = 0.0
        for start in range(0, q, block):
            r = rows[h, start : start + block]
            b = buf[: r.shape[0]]
            maximum[h, start : start + block] = r.max(axis=1)
            column_sums[h] += r.sum(axis=0)  # float32 per block, float64 across blocks
            # -a ln a with 0 ln 0 = 0: ln(a + tiny) is finite, equals ln a for every normal a
            # (tiny is below half an ulp), and 0 times it is 0.
            np.add(r, tiny, out=b)
            np.log(b, out=b)
            entropy[h, start : start + block] = -np.einsum("ij,ij->i", b, r)


def row_reductions(attention, threads=None):
    """(entropy [L, H, q] nats, max weight [L, H, q], column sums [L, H, k] float64), one pass.

    Large inputs are split across up to `threads` threads (default: up to 4, by the CPUs)."""
    layers, heads, q, k = attention.shape
    rows = attention.reshape(layers * heads, q, k)
    if rows.dtype != np.float32:
        rows = rows.astype(np.float32)
    entropy = np.empty((layers * heads, q), dtype=np.float32)
    maximum = np.empty((layers * heads, q), dtype=np.float32)
    column_sums = np.empty((layers * heads, k), dtype=np.float64)
    parts = 1
    if rows.size >= _THREAD_MIN_WEIGHTS:
        import os

        parts = max(1, min(threads or _MAX_THREADS, os.cpu_count() or 1, layers * heads))
    chunks = [c for c in np.array_split(np.arange(layers * heads), parts) if c.size]
    if len(chunks) == 1:
        _head_reductions(rows, entropy, maximum, column_sums, chunks[0])
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(len(chunks)) as pool:
            list(pool.map(lambda c: _head_reductions(rows, entropy, maximum, column_sums, c), chunks))
    return (
        entropy.reshape(layers, heads, q),
        maximum.reshape(layers, heads, q),
        column_sums.reshape(layers, heads, k),
    )


def upper_nonzero(layer, rows=64):
    """Whether any of `layer` [heads, q, q]'s weights above the diagonal is non-zero (numpy);
    a causal mask leaves them exactly 0. Per block of rows: the keys right of the block (a view,
    no copy), then the block's own diagonal square; the scan stops at the first non-zero."""
    q = layer.shape[1]
    for start in range(0, q - 1, rows):
        end = min(q, start + rows)
        if end < q and layer[:, start:end, end:].any():
            return True
        if np.triu(layer[:, start:end, start:end], 1).any():
            return True
    return False


def numpy_row0(layer, entropy, maximum, window):
    """What a causal record leaves out (docs/patterns.md): the first query row's own values, and
    the weight the first `window` rows put on the first `window` keys (their whole window)."""
    return {
        "row0": layer[:, 0, :].astype(np.float64),
        "entropy0": entropy[:, 0].astype(np.float64),
        "confidence0": maximum[:, 0].astype(np.float64),
        "lead": layer[:, :window, :window].sum(axis=(1, 2), dtype=np.float64),
    }


def torch_layer_reductions(layer, union, pair_weights, check_upper, window):
    """The per-head sums of one layer `[heads, q, k]` as a torch tensor on any device, in torch (a
    GPU never sends the layer to the host), as numpy: diagonal sums {offset: [H] or None}, pair
    totals [H, masks], entropy and row-max sums [H], column sums [H, k], the first row's values
    the first `window` rows' weight on the first `window` keys, and whether any weight lies above
    the diagonal (`check_upper`; else None)."""
    import torch

    x = layer.float()
    heads, q, k = x.shape
    diagonals = {}
    for offset in (-1, 0, 1):
        d = torch.diagonal(x, offset=offset, dim1=1, dim2=2)
        diagonals[offset] = d.double().sum(-1).cpu().numpy() if d.shape[-1] else None
    flat = x.reshape(heads, q * k)
    if union.size:
        index = torch.as_tensor(union, device=x.device)
        totals = (flat.index_select(1, index) @ torch.as_tensor(pair_weights, device=x.device)).double().cpu().numpy()
    else:
        totals = np.zeros((heads, pair_weights.shape[1]))
    tiny = torch.finfo(torch.float32).tiny
    entropy = -(x * torch.log(x + tiny)).sum(-1)
    maximum = x.amax(-1)
    return {
        "diagonals": diagonals,
        "totals": totals,
        "entropy": entropy.double().sum(-1).cpu().numpy(),
        "confidence": maximum.double().sum(-1).cpu().numpy(),
        "column_sums": x.sum(1, dtype=torch.float64).cpu().numpy(),
        "row0": x[:, 0, :].double().cpu().numpy(),
        "entropy0": entropy[:, 0].double().cpu().numpy(),
        "confidence0": maximum[:, 0].double().cpu().numpy(),
        "lead": x[:, :window, :window].sum((1, 2), dtype=torch.float64).cpu().numpy(),
        "upper": bool(torch.triu(x, 1).any()) if check_upper else None,
    }
