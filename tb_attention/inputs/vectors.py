"""Queries and keys passed to `add_attention(..., queries=, keys=)`, checked against the attention
they produced: per layer `[heads, n, head_dim]` (keys may have fewer heads: grouped-query
attention, query head h reading key head h // (heads / kv_heads)), padding dropped as the
attention's, read one layer at a time."""

import dataclasses
import numbers
from typing import Optional

import numpy as np

from tb_attention.inputs.attention import is_torch

_FORMS = (
    "pass one array [layers, heads, n, head_dim] (or [layers, batch, heads, n, head_dim]), or a tuple "
    "with one [batch, heads, n, head_dim] tensor per layer, as the attention interface sees them"
)


def _per_layer(values, name, example):
    """`[heads, n, d]` views of each layer of one accepted form (batch row `example`)."""
    if isinstance(values, (tuple, list)):
        layers = [v if hasattr(v, "shape") else np.asarray(v) for v in values]
        if not layers or len({len(v.shape) for v in layers}) != 1 or len(layers[0].shape) not in (3, 4):
            raise ValueError("%s: each layer must be [batch, heads, n, head_dim]: %s" % (name, _FORMS))
        batched = len(layers[0].shape) == 4
    elif hasattr(values, "shape") and len(values.shape) in (4, 5):
        batched = len(values.shape) == 5
        layers = [values[i] for i in range(values.shape[0])]
    else:
        raise ValueError("%s of %s: %s" % (name, getattr(values, "shape", type(values).__name__), _FORMS))
    out = []
    for i, layer in enumerate(layers):
        floating = layer.is_floating_point() if is_torch(layer) else np.issubdtype(np.asarray(layer).dtype, np.floating)
        if not floating:
            raise TypeError("%s layer %d has dtype %s: expected floating-point vectors" % (name, i, layer.dtype))
        view = layer.detach() if is_torch(layer) else np.asarray(layer)
        if batched:
            if isinstance(example, bool) or not isinstance(example, numbers.Integral):
                raise TypeError("example must be an int, got %r" % (example,))
            if not -view.shape[0] <= example < view.shape[0]:
                raise ValueError("example=%d is outside the %s batch of %d" % (example, name, view.shape[0]))
            view = view[example]
        out.append(view)
    shapes = {tuple(int(n) for n in v.shape) for v in out}
    if len(shapes) != 1:
        raise ValueError("%s: every layer must have one shape, got %s" % (name, sorted(shapes)[:3]))
    return out


def dtype_name(view):
    """The vectors' dtype as the format names model dtypes (None when it is none of them)."""
    name = str(view.dtype).replace("torch.", "")
    return {"float32": "float32", "float64": "float32", "bfloat16": "bfloat16", "float16": "float16"}.get(name)


@dataclasses.dataclass
class VectorInput:
    """Checked queries and keys: per layer views `[heads, n, d]` / `[kv_heads, n_k, d]`."""

    queries: list
    keys: list
    keep_q: Optional[np.ndarray]  # rows kept by the attention mask (None: all)
    keep_k: Optional[np.ndarray]

    @property
    def shape(self):
        """(layers, heads, kv_heads, head_dim)."""
        return (
            len(self.queries),
            int(self.queries[0].shape[0]),
            int(self.keys[0].shape[0]),
            int(self.queries[0].shape[2]),
        )

    @property
    def dtype(self):
        """The queries' dtype as the format names model dtypes (None: another)."""
        return dtype_name(self.queries[0])

    @property
    def group(self):
        return self.shape[1] // self.shape[2]

    def layer(self, index, heads, key_heads):
        """(float32 numpy queries `[len(heads), q, d]`, keys `[len(key_heads), k, d]`) of layer `index`."""

        def take(view, rows, keep):
            x = view[list(rows)]
            if keep is not None:
                x = x[:, keep] if not is_torch(x) else x[:, _index(keep, x)]
            if is_torch(x):
                return x.float().cpu().numpy()
            return np.ascontiguousarray(x, dtype=np.float32)

        return take(self.queries[index], heads, self.keep_q), take(self.keys[index], key_heads, self.keep_k)


def _index(indices, like):
    import torch

    return torch.as_tensor(indices, device=like.device)


def parse_vectors(queries, keys, part, raw_lengths, example=0):
    """A checked VectorInput for `part` (inputs/attention.PartInput, whose `raw_lengths` (q, k)
    are before padding was dropped); raises ValueError/TypeError naming the problem."""
    if (queries is None) != (keys is None):
        raise TypeError("pass both queries= and keys= (or neither)")
    q_views = _per_layer(queries, "queries", example)
    k_views = _per_layer(keys, "keys", example)
    layers, heads = part.shape[0], part.shape[1]
    (qh, qn, d), (kh, kn, kd) = q_views[0].shape, k_views[0].shape
    if len(q_views) != layers or len(k_views) != layers:
        raise ValueError(
            "queries and keys must have one entry per attention layer (%d), got %d and %d"
            % (layers, len(q_views), len(k_views))
        )
    if qh != heads:
        raise ValueError("queries have %d heads but the attention has %d" % (qh, heads))
    if kh < 1 or heads % kh:
        raise ValueError("keys have %d heads: the attention's %d heads must be a multiple of them (GQA)" % (kh, heads))
    if (qn, kn) != tuple(raw_lengths):
        raise ValueError(
            "queries and keys cover %d and %d positions but the attention has %d queries and %d keys"
            % (qn, kn, raw_lengths[0], raw_lengths[1])
        )
    if d != kd or d < 1:
        raise ValueError("queries have head_dim %d but keys %d" % (d, kd))
    for name, views in (("queries", q_views), ("keys", k_views)):
        for i, view in enumerate(views):
            finite = bool(view.isfinite().all()) if is_torch(view) else bool(np.isfinite(view).all())
            if not finite:
                raise ValueError("%s of layer %d hold NaN or inf" % (name, i))
    return VectorInput(q_views, k_views, part.keep_q, part.keep_k)
