"""A layer's attention weights computed from its queries and keys, a block at a time: a run of
query heads that share one key/value head, times a window of query rows, times every key. As
eager attention computes them (scaling, position bias, soft-capping, the mask, learned sinks,
softmax in float32), but never more than one block at once; the layer's output from the same
blocks when the model's own kernel cannot be used."""

import dataclasses
from typing import Optional

import numpy as np
import torch

from tb_attention.writing import scratch


@dataclasses.dataclass
class LayerInputs:
    """What the attention interface handed one layer call (one example's slices are taken per block)."""

    query: torch.Tensor  # [batch, heads, q, d], after rotary embedding
    key: torch.Tensor  # [batch, kv_heads, k, d]
    value: torch.Tensor  # [batch, kv_heads, k, dv]
    mask: Optional[object]  # a MaskSpec, a tensor (additive float or boolean), or None
    scaling: float
    softcap: Optional[float] = None
    sinks: Optional[torch.Tensor] = None  # learned sink logits per head (gpt-oss `s_aux`)
    position_bias: Optional[torch.Tensor] = None  # T5: [1 or batch, heads, q, k]

    @property
    def shape(self):
        batch, heads, q, _ = self.query.shape
        return batch, heads, self.key.shape[1], q, self.key.shape[2]

    @property
    def group(self):
        """Query heads per key/value head (grouped-query attention: head h reads KV head h // group)."""
        return self.query.shape[1] // self.key.shape[1]


def head_runs(heads, group, per_run):
    """[(first, end)] runs of consecutive `heads`, at most `per_run` long; with grouped-query
    attention (group > 1) a run never spans two KV heads."""
    runs, start = [], None
    for i, h in enumerate(heads):
        new_group = group > 1 and h // group != start // group if start is not None else True
        if start is None or h != heads[i - 1] + 1 or new_group or h - start >= per_run:
            if start is not None:
                runs.append((start, heads[i - 1] + 1))
            start = h
    if start is not None:
        runs.append((start, heads[-1] + 1))
    return runs


@dataclasses.dataclass
class RowBlock:
    """Query rows [r0, r1) of one batch row, with what the mask says of them (computed once for
    every head): the key range [lo, hi) any of them may see, which of those keys each row may
    see (None: all), the rows that see no key at all, and a tensor mask's additive part."""

    example: int
    r0: int
    r1: int
    lo: int
    hi: int
    hidden: Optional[torch.Tensor] = None  # bool [rows, hi - lo]: keys each row may not see
    blind: Optional[torch.Tensor] = None  # bool [rows]: rows that see no key (their weights are 0)
    additive: Optional[torch.Tensor] = None  # float [rows, hi - lo]


def row_block(inputs, example, r0, r1):
    """The RowBlock of rows [r0, r1): the mask evaluated for these rows only."""
    mask, keys = inputs.mask, inputs.key.shape[2]
    if mask is None:
        return RowBlock(example, r0, r1, 0, keys)
    if hasattr(mask, "block"):  # a MaskSpec
        allowed = mask.block(r0, r1, inputs.query.device)[example if mask.batch_size > 1 else 0, 0]
        additive = None
    else:  # a mask tensor the model built itself: boolean, or additive float (0 / min)
        rows = mask[example if mask.shape[0] > 1 else 0, 0, r0:r1]
        allowed = rows if rows.dtype == torch.bool else rows > torch.finfo(rows.dtype).min / 2
        additive = None if rows.dtype == torch.bool else rows
    columns, rows_seeing, every = _mask_summary(allowed)
    if columns.size == 0:
        return RowBlock(example, r0, r1, 0, 0)
    lo, hi = int(columns[0]), int(columns[-1]) + 1
    allowed = allowed[:, lo:hi]
    return RowBlock(
        example,
        r0,
        r1,
        lo,
        hi,
        None if every(lo, hi) else ~allowed,
        None if rows_seeing.all() else torch.as_tensor(~rows_seeing, device=allowed.device),
        None if additive is None else additive[:, lo:hi],
    )


def _mask_summary(allowed):
    """(indices of the keys some row may see, per row whether it sees any key, every(lo, hi):
    whether every row sees every key in [lo, hi)) of a boolean `[rows, keys]`. On the CPU in numpy:
    torch's boolean reductions there cost ~300 times numpy's."""
    if allowed.device.type == "cpu":
        a = allowed.numpy()
        return np.flatnonzero(a.any(axis=0)), a.any(axis=1), lambda lo, hi: bool(a[:, lo:hi].all())
    columns = torch.nonzero(allowed.any(0)).flatten().cpu().numpy()
    rows = allowed.any(1).cpu().numpy()
    return columns, rows, lambda lo, hi: bool(allowed[:, lo:hi].all())


def block_weights(inputs, h0, h1, rows):
    """Float32 `[h1 - h0, rows, hi - lo]`: the softmax weights of query heads [h0, h1) for a
    RowBlock, over its key range (every other key's weight is 0), as eager attention computes
    them: scores in the model's dtype, softmax in float32, weights rounded to the model's dtype."""
    dtype = inputs.query.dtype
    example, r0, r1, lo, hi = rows.example, rows.r0, rows.r1, rows.lo, rows.hi
    if hi <= lo:
        return torch.zeros(h1 - h0, r1 - r0, 0, device=inputs.query.device)
    q = inputs.query[example, h0:h1, r0:r1]
    # One KV head for the run (grouped-query attention), or one per query head.
    k = inputs.key[example, h0 // inputs.group] if inputs.group > 1 else inputs.key[example, h0:h1]
    # Scaling the (few) queries rather than the (many) scores: one pass less over the block.
    keys = k[..., lo:hi, :].transpose(-1, -2)
    plain = inputs.position_bias is None and inputs.softcap is None and rows.additive is None
    # Under autocast the product runs in lower precision, as eager's does; `out=` would skip that.
    if dtype == torch.float32 and plain and not torch.is_autocast_enabled(q.device.type):
        return _weights_in_place(q * inputs.scaling, keys, rows, None if inputs.sinks is None else inputs.sinks[h0:h1])
    # In the model's (lower) precision, scaled after the product as eager does: rounding alike.
    scores = torch.matmul(q, keys) * inputs.scaling
    if inputs.position_bias is not None:
        bias = inputs.position_bias
        scores = scores + bias[example if bias.shape[0] > 1 else 0, h0:h1, r0:r1, lo:hi]
    if inputs.softcap is not None:
        scores = torch.tanh(scores / inputs.softcap) * inputs.softcap
    if rows.additive is not None:
        scores = scores + rows.additive.to(scores.dtype)
    scores = scores.float()
    if rows.hidden is not None:
        scores.masked_fill_(rows.hidden, float("-inf"))
    weights = _softmax(scores, None if inputs.sinks is None else inputs.sinks[h0:h1].float())
    if rows.blind is not None:
        weights[:, rows.blind] = 0.0
    if dtype != torch.float32:
        weights = weights.to(dtype).float()
    return weights


def _weights_in_place(q, keys, rows, sinks):
    """block_weights of a float32 model, computed in one reused scratch buffer (writing/scratch.py):
    the scores, masked, then their softmax in place."""
    heads, n, _ = q.shape
    out = scratch.get("weights", (heads, n, keys.shape[-1]), torch.float32, q.device)
    torch.matmul(q, keys, out=out)
    if rows.hidden is not None:
        out.masked_fill_(rows.hidden, float("-inf"))
    if sinks is None:
        torch.softmax(out, -1, out=out)
    else:
        out = _softmax(out, sinks.float())
    if rows.blind is not None:
        out[:, rows.blind] = 0.0
    return out


def _softmax(scores, sinks):
    """Row softmax in float32; with learned sinks, each head's sink logit takes its share of every
    row (and is dropped: rows then sum below 1). Rows that see no key are 0, not NaN."""
    if sinks is None:
        return torch.softmax(scores, -1)
    top = torch.maximum(scores.amax(-1, keepdim=True), sinks[:, None, None])
    weights = torch.exp(scores - top)
    total = weights.sum(-1, keepdim=True) + torch.exp(sinks[:, None, None] - top)
    return weights.div_(total)


def rows_per_block(keys, block_bytes, most=256):
    """Query rows per block: a power of two up to `most`, so that one head's rows x `keys` float32
    stay within `block_bytes` (smaller blocks skip more of a causal mask's hidden keys)."""
    rows = most
    while rows > 1 and 4 * rows * keys > block_bytes:
        rows //= 2
    return rows
