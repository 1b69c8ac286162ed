"""What one block of query rows `[heads, rows, keys]` adds to each head's pattern scores: per-head
sums over its rows, in numpy or in torch on the block's device (only these sums, the first row
and a few per-row values go to the host). Everything a metric needs comes from per-token arrays
(pairs.py) and the block itself: no array of queries x keys is ever built.
"""

import numpy as np

from tb_attention.analysis import retrieval, span
from tb_attention.analysis.reductions import row_reductions, upper_nonzero

# `local_window`: keys i - LOCAL_WINDOW < j <= i (the query and the 7 positions before it).
LOCAL_WINDOW = 8
# Diagonal offsets summed per block: -7..0 make local_window, -1 / 0 / 1 previous / self / next.
BAND = tuple(range(1 - LOCAL_WINDOW, 2))
# Token-identity pairs are gathered over at most this many weights per head at a time.
_PAIR_WEIGHTS = 1 << 20
# The span's per-row block prefix sums are built for at most this many entries at a time.
_SPAN_PREFIX = 1 << 18


class BlockSpec:
    """What the reductions of a block need to know about the input: the token-identity
    relations [(name, Relation)], the key classes [(name, key positions)], whether the
    positional metrics (diagonals, span) apply (self-attention), and the retrieval pairs
    (retrieval.py; None: no retrieval score)."""

    def __init__(self, relations, members, positional, retrieval_pairs=None):
        self.relations, self.members, self.positional = relations, members, positional
        self.retrieval = retrieval_pairs if positional else None
        self._device_members = {}

    def torch_members(self, torch, device):
        if device not in self._device_members:
            self._device_members[device] = [torch.as_tensor(m, device=device) for _, m in self.members]
        return self._device_members[device]


def _pair_totals(x, row_start, relations, total):
    """[heads] per relation: the block's weight on that relation's pairs, a few rows at a time."""
    n, k = x.shape[1:]
    acc = [0.0] * len(relations)
    step = max(1, _PAIR_WEIGHTS // k)
    for s in range(0, n, step):
        e = min(n, s + step)
        for c, (_, relation) in enumerate(relations):
            acc[c] = acc[c] + total(x, s, e, relation, row_start)
    return acc


def _numpy_pairs(x, s, e, relation, row_start):
    """Rows s..e of the contiguous block x [heads, n, k] (query rows row_start + s..)."""
    heads, n, k = x.shape
    r0, r1 = row_start + s, row_start + e
    if 4 * relation.pair_count(r0, r1) >= (e - s) * k:  # dense (e.g. one token repeated)
        mask = relation.dense_mask(r0, r1).reshape(-1).astype(np.float32)
        return np.einsum("hp,p->h", x[:, s:e].reshape(heads, -1), mask).astype(np.float64)
    # Every head's pairs in one gather from the whole block. float32 sums are pairwise (exact
    # to about 1e-7); the blocks add up in float64.
    index = relation.flat_pairs(r0, r1) + s * k
    index = index[None, :] + (np.arange(heads, dtype=np.int64) * (n * k))[:, None]
    return np.take(x.reshape(-1), index).sum(axis=1).astype(np.float64)


def _torch_pairs(x, s, e, relation, row_start):
    import torch

    mask = relation.dense_mask(row_start + s, row_start + e, torch, x.device)
    # A product and a sum, not a matrix product: on a GPU that may run in TF32 (1e-3).
    return (x[:, s:e] * mask).sum((1, 2), dtype=torch.float64)


def _span(x, row_start, sums, distance, one_sided):
    """Per head: sums over the block's valid rows of span_mean and span_p90, and their count."""
    heads, n, k = x.shape
    ops = span.ops_for(x)
    flat = [a.reshape(heads * n, -1) for a in (x, sums)] + [distance.reshape(heads * n)]
    qi = ops.arange(heads * n, x) % n + row_start
    per_row = {"span_mean": [], "span_p90": [], "span_count": []}
    step = max(64, _SPAN_PREFIX // sums.shape[-1])  # rows at a time: bounds the prefix sums
    for start in range(0, heads * n, step):
        rows = slice(start, start + step)
        mean, p90, valid = span.span_rows(flat[0][rows], qi[rows], flat[1][rows], flat[2][rows], one_sided)
        per_row["span_mean"].append(ops.where(valid, mean, 0.0))
        per_row["span_p90"].append(ops.where(valid, ops.float64(p90), 0.0))
        per_row["span_count"].append(ops.float64(valid))
    return {name: ops.concat(parts).reshape(heads, n).sum(-1) for name, parts in per_row.items()}


def _lead(x, row_start):
    """The weight rows i < LOCAL_WINDOW put on keys j < LOCAL_WINDOW (their whole causal window)."""
    return x[:, : max(0, LOCAL_WINDOW - row_start), :LOCAL_WINDOW]


def numpy_block(x, row_start, spec, check_upper, threads=1):
    """The per-head sums (see scoring.PatternScorer) of float32 `x` [heads, rows, keys], query
    rows row_start onwards, in numpy."""
    span_from = row_start if spec.positional else None
    entropy, maximum, column_sums, *span_sums = row_reductions(x[None], threads, span_from)
    entropy, maximum, column_sums = entropy[0], maximum[0], column_sums[0]
    out = {
        "entropy": entropy.sum(-1, dtype=np.float64),
        "confidence": maximum.sum(-1, dtype=np.float64),
        "classes": [column_sums[:, m].sum(-1) for _, m in spec.members],
        "pairs": _pair_totals(x, row_start, spec.relations, _numpy_pairs),
        "upper": upper_nonzero(x, row_start) if check_upper else None,
        "lead": _lead(x, row_start).sum(axis=(1, 2), dtype=np.float64),
    }
    if spec.positional:
        out["band"] = [np.diagonal(x, row_start + o, 1, 2).sum(-1, dtype=np.float64) for o in BAND]
        out.update(_span(x, row_start, span_sums[0][0], span_sums[1][0], check_upper and not out["upper"]))
    if spec.retrieval is not None:
        out["retrieval"] = retrieval.numpy_hits(x, row_start, spec.retrieval)
    if row_start == 0:
        out.update(row0=x[:, 0], entropy0=entropy[:, 0], confidence0=maximum[:, 0])
    out["rows"] = x.shape[1]
    return _to_host(out, np.asarray)


def _torch_span_sums(torch, x, row_start):
    """torch version of reductions._SpanSums for [heads, rows, keys]: block sums, the sink left
    out, and sum_{j >= 1} a_j |i - j| per row (float64)."""
    heads, n, k = x.shape
    full = k // span.GROUP
    sums = [x[..., : full * span.GROUP].reshape(heads, n, full, span.GROUP).sum(-1)] if full else []
    if k > full * span.GROUP:
        sums.append(x[..., full * span.GROUP :].sum(-1, keepdim=True))
    sums = torch.cat(sums, -1)
    sums[..., 0] = x[..., 1 : min(span.GROUP, k)].sum(-1)
    keys = torch.arange(1, k, device=x.device, dtype=torch.float32)
    queries = torch.arange(row_start, row_start + n, device=x.device, dtype=torch.float32)
    distance = (x[..., 1:] * (keys[None, :] - queries[:, None]).abs()).sum(-1, dtype=torch.float64)
    return sums, distance


def torch_block(x, row_start, spec, check_upper):
    """numpy_block for a torch tensor on any device: reduced there, only the sums come back."""
    import torch

    x = x.detach().float().contiguous()
    entropy = -(x * torch.log(x + torch.finfo(torch.float32).tiny)).sum(-1)
    maximum = x.amax(-1)
    members = spec.torch_members(torch, x.device)
    out = {
        "entropy": entropy.double().sum(-1),
        "confidence": maximum.double().sum(-1),
        "classes": [x.index_select(2, m).sum((1, 2), dtype=torch.float64) for m in members],
        "pairs": _pair_totals(x, row_start, spec.relations, _torch_pairs),
        "upper": bool(torch.triu(x, row_start + 1).any()) if check_upper else None,
        "lead": _lead(x, row_start).sum((1, 2), dtype=torch.float64),
    }
    if spec.positional:
        out["band"] = [torch.diagonal(x, row_start + o, 1, 2).sum(-1, dtype=torch.float64) for o in BAND]
        out.update(_span(x, row_start, *_torch_span_sums(torch, x, row_start), check_upper and not out["upper"]))
    if spec.retrieval is not None:
        out["retrieval"] = retrieval.torch_hits(x, row_start, spec.retrieval)
    if row_start == 0:
        out.update(row0=x[:, 0], entropy0=entropy[:, 0], confidence0=maximum[:, 0])
    out["rows"] = x.shape[1]
    return _to_host(out, lambda t: t.cpu().numpy() if hasattr(t, "cpu") else np.asarray(t))


def _to_host(out, host):
    """Every value as float64 numpy; lists of [heads] become [heads, n]."""
    for name, value in out.items():
        if isinstance(value, list):
            out[name] = np.stack([host(v) for v in value], 1).astype(np.float64) if value else None
        elif value is not None and not isinstance(value, (bool, int)):
            out[name] = host(value).astype(np.float64)
    return out
