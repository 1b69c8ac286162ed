"""What users pass (Hugging Face `outputs.attentions`, arrays, tensors) as one checked input:
its shape, tokens and masks checked, its layers read one at a time and never copied whole.

`parse_attention` checks everything that needs no weight; `PartInput.check_layer` checks one layer's
weights (on the tensor's own device); `PartInput.float_layer` gives one layer as float32 numpy.
`prepare` is the all-at-once form (a float32 `[layers, heads, q, k]` copy) for analysis calls.
"""

import dataclasses
import numbers
from typing import List, Optional

import numpy as np

from tb_attention.inputs.checks import (
    DEFAULT_MAX_TOKENS,
    check_row_stats,
    check_token_count,
    parse_sentence_b_start,
    parse_tokens,
    row_namer,
)

_FORMS = (
    "pass Hugging Face `outputs.attentions` (a tuple with one [batch, heads, q, k] tensor per "
    "layer), or one array [layers, heads, q, k] or [layers, batch, heads, q, k]"
)


def is_torch(x):
    return type(x).__module__.split(".")[0] == "torch" and hasattr(x, "detach")


def _shape(x):
    return tuple(int(n) for n in x.shape)


def _layers(attention):
    """(per-layer arrays or tensors, batched) of any accepted form; no weight is read."""
    if isinstance(attention, (tuple, list)):
        layers = list(attention)
        if not layers:
            raise ValueError("attention has zero layers: " + _FORMS)
        if not all(hasattr(layer, "shape") for layer in layers):
            layers = [np.asarray(layer) for layer in layers]
        ranks = {len(layer.shape) for layer in layers}
        if len(ranks) != 1 or ranks.pop() not in (3, 4):
            raise ValueError(
                "each layer of attention must be [batch, heads, q, k] or [heads, q, k]; got "
                "layers of shapes %s: %s" % ([_shape(layer) for layer in layers[:4]], _FORMS)
            )
        return layers, len(layers[0].shape) == 4
    if hasattr(attention, "shape"):
        if len(attention.shape) not in (4, 5):
            raise ValueError("attention of rank %d (shape %s): %s" % (len(attention.shape), _shape(attention), _FORMS))
        if attention.shape[0] == 0:
            raise ValueError("attention has zero layers: " + _FORMS)
        return [attention[i] for i in range(attention.shape[0])], len(attention.shape) == 5
    raise TypeError("attention of type %s: %s" % (type(attention).__name__, _FORMS))


def _check_dtype(layer, index):
    if is_torch(layer):
        if not layer.is_floating_point():
            raise TypeError("attention layer %d has dtype %s: expected floating-point weights" % (index, layer.dtype))
        return
    dtype = np.asarray(layer).dtype if not hasattr(layer, "dtype") else layer.dtype
    if dtype == np.dtype(object) or not (np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.integer)):
        raise TypeError("attention layer %d has dtype %s: expected floating-point weights" % (index, dtype))


def _example_layers(attention, example):
    """`[heads, q, k]` views of each layer (the batch row `example`), shapes checked."""
    layers, batched = _layers(attention)
    if batched:
        batch = int(layers[0].shape[0])
        if isinstance(example, bool) or not isinstance(example, numbers.Integral):
            raise TypeError("example must be an int, got %r" % (example,))
        if not -batch <= example < batch:
            raise ValueError("example=%d is outside the batch of %d" % (example, batch))
    first = _shape(layers[0])[1:] if batched else _shape(layers[0])
    for i, layer in enumerate(layers):
        shape = _shape(layer)[1:] if batched else _shape(layer)
        if batched and _shape(layer)[0] != _shape(layers[0])[0]:
            raise ValueError("layer %d has batch size %d, layer 0 has %d" % (i, _shape(layer)[0], _shape(layers[0])[0]))
        if shape[0] != first[0]:
            raise ValueError(
                "layer %d has %d heads, layer 0 has %d: heads must not differ across layers" % (i, shape[0], first[0])
            )
        if shape[1:] != first[1:]:
            raise ValueError("layer %d has [q, k] = %s, layer 0 has %s" % (i, list(shape[1:]), list(first[1:])))
        _check_dtype(layer, i)
    views = []
    for layer in layers:
        view = layer.detach() if is_torch(layer) else np.asarray(layer)
        views.append(view[example] if batched else view)
    return views


def _mask_indices(attention_mask, length, example, axis="query"):
    mask = attention_mask
    if is_torch(mask):
        mask = mask.detach().cpu().numpy()
    mask = np.asarray(mask)
    if mask.ndim == 2:
        if not -mask.shape[0] <= example < mask.shape[0]:
            raise ValueError("example=%d is outside the attention_mask's batch of %d" % (example, mask.shape[0]))
        mask = mask[example]
    if mask.ndim != 1 or mask.shape[0] != length:
        raise ValueError(
            "%s of shape %s does not match the %d %s positions"
            % ("attention_mask" if axis == "query" else "key_attention_mask", tuple(mask.shape), length, axis)
        )
    keep = np.flatnonzero(mask != 0)
    if keep.size == 0:
        raise ValueError("attention_mask masks every position: nothing to log")
    return keep


def _bf16_to_float32(bits):
    """float32 of bfloat16 bit patterns (uint16): the top half of the float32 (numpy, no torch threads)."""
    wide = bits.astype(np.uint32)
    np.left_shift(wide, 16, out=wide)
    return wide.view(np.float32)


@dataclasses.dataclass
class PartInput:
    """One attention tensor, checked but not copied: layers read on demand, padding dropped."""

    views: list  # per layer [heads, q, k], torch tensors (any device) or numpy arrays
    tokens: List[str]
    key_tokens: Optional[List[str]]
    sentence_b_start: Optional[int]
    keep_q: Optional[np.ndarray]  # query rows kept by attention_mask (None: all)
    keep_k: Optional[np.ndarray]  # key columns kept (None: all)
    shape: tuple  # (layers, heads, q, k) after masking
    kind: str = "self"

    @property
    def torch(self):
        return is_torch(self.views[0])

    @property
    def device(self):
        return self.views[0].device.type if self.torch else "cpu"

    @property
    def itemsize(self):
        v = self.views[0]
        return v.element_size() if self.torch else v.dtype.itemsize

    def layer(self, index, heads=None, rows=None):
        """Layer `index` (of the input), the given heads (default all), padding dropped, query rows
        [rows) of those kept (default all): a view or a small copy, as the input's own type and
        device."""
        x = self.views[index]
        if heads is not None and list(heads) != list(range(self.shape[1])):
            heads = list(heads)
            if heads == list(range(heads[0], heads[-1] + 1)):
                x = x[heads[0] : heads[-1] + 1]  # a run of heads: a view, no copy
            else:
                x = x[heads]
        if self.keep_q is not None:
            kept = self.keep_q if rows is None else self.keep_q[rows[0] : rows[1]]
            x = x[:, kept if not self.torch else _index(kept, x)]
        elif rows is not None:
            x = x[:, rows[0] : rows[1]]
        if self.keep_k is not None:
            cols = self.keep_k if not self.torch else _index(self.keep_k, x)
            x = x[:, :, cols]
        return x

    def float_layer(self, index, heads=None, rows=None):
        """Float32 numpy `[heads, q, k]` of a layer (query rows [rows) of it, default all) on the
        CPU (no torch thread is used)."""
        x = self.layer(index, heads, rows)
        if not self.torch:
            return np.ascontiguousarray(x, dtype=np.float32)
        import torch

        if x.device.type != "cpu":
            return x.float().cpu().numpy()
        x = x.contiguous()
        if x.dtype == torch.bfloat16:
            return _bf16_to_float32(x.view(torch.int16).numpy().view(np.uint16))
        return np.ascontiguousarray(x.numpy(), dtype=np.float32)

    def check_layer(self, index, heads, where):
        """Raise unless the weights of layer `index` (those heads) are softmax rows; on the
        tensor's own device, reading each weight once or twice, copying nothing large."""
        x = self.layer(index, heads)
        if self.torch:
            sums = x.sum(-1).float().cpu().numpy()  # in the tensor's dtype: no float32 copy
            minimum = float(x.min())
        else:
            sums = x.sum(axis=-1, dtype=np.float32)
            minimum = float(x.min())
        check_row_stats(sums, minimum, where)

    def versions(self):
        """torch's version counter of each layer (None where it keeps none), to detect in-place
        changes between the call and the moment a background thread reads the layer."""
        if not self.torch:
            return None
        out = []
        for v in self.views:
            try:
                out.append(v._version)
            except (RuntimeError, AttributeError):  # inference tensors keep no counter
                out.append(None)
        return out


def _index(indices, like):
    import torch

    return torch.as_tensor(indices, device=like.device)


def parse_attention(
    attention,
    tokens,
    *,
    key_tokens=None,
    sentence_b_start=None,
    attention_mask=None,
    key_attention_mask=None,
    example=0,
    max_tokens=DEFAULT_MAX_TOKENS,
    kind=None,
):
    """A checked `PartInput`; raises on bad input. Reads no weight (see PartInput.check_layer)."""
    for given, name, mask in ((tokens, "tokens", attention_mask), (key_tokens, "key_tokens", key_attention_mask)):
        if mask is None:
            check_token_count(given, name, max_tokens)
    views = _example_layers(attention, example)
    heads, q, k = _shape(views[0])
    cross = key_tokens is not None
    keep_q = keep_k = None
    if attention_mask is not None:
        keep_q = _mask_indices(attention_mask, q, example)
        keep_k = None if cross else keep_q
        # Tokens may be given padded (as convert_ids_to_tokens returns them) or already trimmed.
        if hasattr(tokens, "__len__") and not isinstance(tokens, (str, bytes)) and len(tokens) == q:
            tokens = [tokens[i] for i in keep_q]
            # sentence_b_start then counts padded positions too (left padding shifts it).
            if isinstance(sentence_b_start, numbers.Integral) and not isinstance(sentence_b_start, bool):
                sentence_b_start = int(np.searchsorted(keep_q, sentence_b_start))
        q = keep_q.size
        k = q if not cross else k
    if key_attention_mask is not None:
        if not cross:
            raise ValueError(
                "key_attention_mask is for cross-attention (with key_tokens); attention_mask covers self-attention"
            )
        # Encoder padding: drop the padded key columns (and padded key tokens, if given so).
        keep_k = _mask_indices(key_attention_mask, k, example, "key")
        if hasattr(key_tokens, "__len__") and not isinstance(key_tokens, (str, bytes)) and len(key_tokens) == k:
            key_tokens = [key_tokens[i] for i in keep_k]
        k = keep_k.size
    if not cross and q != k:
        raise ValueError("attention has %d queries but %d keys: for cross-attention pass key_tokens" % (q, k))
    tokens = parse_tokens(tokens, q, "tokens", max_tokens)
    if cross:
        key_tokens = parse_tokens(key_tokens, k, "key_tokens", max_tokens)
    sentence_b_start = parse_sentence_b_start(sentence_b_start, q)
    if q * k == 0:
        raise ValueError(
            "attention of shape %s is empty: an empty sequence cannot be logged" % ((len(views), heads, q, k),)
        )
    return PartInput(
        views,
        tokens,
        key_tokens,
        sentence_b_start,
        keep_q,
        keep_k,
        (len(views), heads, q, k),
        kind or ("cross" if cross else "self"),
    )


def prepare(attention, tokens, **options):
    """Validated `(attention float32 [layers, heads, q, k] (a copy), tokens, key_tokens,
    sentence_b_start)`; raises on bad input. `options` as `parse_attention`'s."""
    part = parse_attention(attention, tokens, **options)
    for index in range(part.shape[0]):
        part.check_layer(index, None, row_namer(index))
    array = np.stack([part.float_layer(index) for index in range(part.shape[0])])
    return array, part.tokens, part.key_tokens, part.sentence_b_start
