"""A layer's attention weights computed from its queries and keys, a block at a time: a run of
query heads that share one key/value head, times a window of query rows, times every key. As
eager attention computes them (scaling, position bias, soft-capping, the mask, learned sinks,
softmax in float32), but never more than one block at once; the layer's output from the same
blocks when the model's own kernel cannot be used."""

import dataclasses
from typing import Optional

import torch


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


def _allowed(inputs, example, r0, r1, device):
    """Bool `[rows, keys]` of the keys each row may see, or None when every key is allowed."""
    mask = inputs.mask
    if mask is None:
        return None
    if hasattr(mask, "block"):  # a MaskSpec: evaluated for these rows only
        return mask.block(r0, r1, device)[example if mask.batch_size > 1 else 0, 0]
    rows = mask[example if mask.shape[0] > 1 else 0, 0, r0:r1]
    return rows if rows.dtype == torch.bool else rows > torch.finfo(rows.dtype).min / 2


def _additive(inputs, example, r0, r1):
    """The additive float part of a tensor mask for these rows (eager masks hold 0 / min)."""
    mask = inputs.mask
    if isinstance(mask, torch.Tensor) and mask.dtype != torch.bool:
        return mask[example if mask.shape[0] > 1 else 0, 0, r0:r1].float()
    return None


def block_weights(inputs, example, h0, h1, r0, r1):
    """Float32 `[h1 - h0, r1 - r0, keys]` softmax weights of query heads [h0, h1) and rows
    [r0, r1) of batch row `example`, computed as eager attention does (scores in the model's
    dtype, softmax in float32, weights rounded to the model's dtype), and the key range
    `(lo, hi)` outside which they are 0 (keys the mask hides from every row are not computed)."""
    dtype = inputs.query.dtype
    q = inputs.query[example, h0:h1, r0:r1]
    # One KV head for the run (grouped-query attention), or one per query head.
    k = inputs.key[example, h0 // inputs.group] if inputs.group > 1 else inputs.key[example, h0:h1]
    keys = k.shape[-2]
    allowed = _allowed(inputs, example, r0, r1, q.device)
    lo, hi = 0, keys
    if allowed is not None:
        seen = torch.nonzero(allowed.any(0)).flatten()
        if seen.numel() == 0:
            return torch.zeros(h1 - h0, r1 - r0, keys, device=q.device), (0, 0)
        lo, hi = int(seen[0]), int(seen[-1]) + 1
        allowed = allowed[:, lo:hi]
    scores = torch.matmul(q, k[..., lo:hi, :].transpose(-1, -2)) * inputs.scaling
    if inputs.position_bias is not None:
        bias = inputs.position_bias
        scores = scores + bias[example if bias.shape[0] > 1 else 0, h0:h1, r0:r1, lo:hi]
    if inputs.softcap is not None:
        scores = torch.tanh(scores / inputs.softcap) * inputs.softcap
    additive = _additive(inputs, example, r0, r1)
    if additive is not None:
        scores = scores + additive[:, lo:hi].to(scores.dtype)
    scores = scores.float()
    if allowed is not None:
        scores.masked_fill_(~allowed, float("-inf"))
    weights = _softmax(scores, None if inputs.sinks is None else inputs.sinks[h0:h1].float())
    if dtype != torch.float32:
        weights = weights.to(dtype).float()
    if lo == 0 and hi == keys:
        return weights, (lo, hi)
    full = torch.zeros(h1 - h0, r1 - r0, keys, device=q.device)
    full[:, :, lo:hi] = weights
    return full, (lo, hi)


def _softmax(scores, sinks):
    """Row softmax in float32; with learned sinks, each head's sink logit takes its share of every
    row (and is dropped: rows then sum below 1). Rows that see no key are 0, not NaN."""
    if sinks is None:
        weights = torch.softmax(scores, -1)
        return torch.nan_to_num_(weights, nan=0.0)
    top = torch.maximum(scores.amax(-1, keepdim=True), sinks[:, None, None])
    weights = torch.exp(scores - top)
    total = weights.sum(-1, keepdim=True) + torch.exp(sinks[:, None, None] - top)
    return weights.div_(total)


def rows_per_block(heads, keys, block_bytes):
    """Query rows per block so that a block of `heads` x rows x `keys` float32 stays near `block_bytes`."""
    return max(1, block_bytes // (4 * max(1, heads) * max(1, keys)))
