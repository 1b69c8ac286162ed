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


def torch_layer_reductions(layer, union, stacked):
    """The per-head reductions of one layer `[heads, q, k]` as a torch tensor on any device, in
    torch (a GPU never sends the layer to the host): (diagonal means {offset: [H]}, pair totals
    [H, masks], entropy mean [H], confidence [H], column sums [H, k]), as numpy arrays."""
    import torch

    x = layer.float()
    heads, q, k = x.shape
    diagonals = {}
    for offset in (-1, 0, 1):
        d = torch.diagonal(x, offset=offset, dim1=1, dim2=2)
        diagonals[offset] = d.double().mean(-1).cpu().numpy() if d.shape[-1] else None
    flat = x.reshape(heads, q * k)
    if union.size:
        index = torch.as_tensor(union, device=x.device)
        totals = flat.index_select(1, index) @ torch.as_tensor(stacked[:, union].T.astype(np.float32), device=x.device)
        totals = totals.double().cpu().numpy()
    else:
        totals = np.zeros((heads, stacked.shape[0]))
    tiny = torch.finfo(torch.float32).tiny
    entropy = -(x * torch.log(x + tiny)).sum(-1)
    return (diagonals, totals, entropy.double().mean(-1).cpu().numpy(), x.amax(-1).double().mean(-1).cpu().numpy(),
            x.sum(1, dtype=torch.float64).cpu().numpy())
