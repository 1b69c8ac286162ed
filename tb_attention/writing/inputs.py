"""Turn what users pass (Hugging Face `outputs.attentions`, arrays, tensors) into one validated
float32 array `[layers, heads, queries, keys]`, with errors that name the problem."""

import numbers

import numpy as np

from tb_attention.format.metadata import MAX_STEP

DEFAULT_MAX_TOKENS = 4096
# Softmax rows of float16/bfloat16 models sum to 1 only within a few thousandths.
ROW_SUM_TOLERANCE = 2e-2
_FORMS = (
    "pass Hugging Face `outputs.attentions` (a tuple with one [batch, heads, q, k] tensor per "
    "layer), or one array [layers, heads, q, k] or [layers, batch, heads, q, k]"
)


def _is_torch(x):
    return type(x).__module__.split(".")[0] == "torch" and hasattr(x, "detach")


def _copy_layer(dest, layer, example, batched, index):
    """Copy one layer into `dest` (float32 `[heads, q, k]`) in a single pass; the caller may
    reuse or modify its tensor afterwards."""
    if _is_torch(layer):
        t = layer.detach()
        if batched:
            t = t[example]
        if not t.is_floating_point():
            raise TypeError("attention layer %d has dtype %s: expected floating-point weights" % (index, t.dtype))
        import torch  # only reached when the user passed torch tensors

        torch.from_numpy(dest).copy_(t)  # converts dtype and leaves the device in one copy
        return
    a = np.asarray(layer)
    if a.dtype == object or not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise TypeError("attention layer %d has dtype %s: expected floating-point weights" % (index, a.dtype))
    dest[...] = a[example] if batched else a


def _shape(x):
    return tuple(int(n) for n in x.shape)


def stack_attention(attention, example=0):
    """Float32 `[layers, heads, q, k]` (a fresh array) from any accepted form."""
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
        batched = len(layers[0].shape) == 4
    elif hasattr(attention, "shape"):
        if len(attention.shape) not in (4, 5):
            raise ValueError(
                "attention of rank %d (shape %s): %s" % (len(attention.shape), _shape(attention), _FORMS)
            )
        batched = len(attention.shape) == 5
        if attention.shape[0] == 0:
            raise ValueError("attention has zero layers: " + _FORMS)
        layers = [attention[i] for i in range(attention.shape[0])]
    else:
        raise TypeError("attention of type %s: %s" % (type(attention).__name__, _FORMS))

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
            raise ValueError("layer %d has %d heads, layer 0 has %d: heads must not differ across layers" % (i, shape[0], first[0]))
        if shape[1:] != first[1:]:
            raise ValueError("layer %d has [q, k] = %s, layer 0 has %s" % (i, list(shape[1:]), list(first[1:])))
    out = np.empty((len(layers),) + first, dtype=np.float32)
    for i, layer in enumerate(layers):
        _copy_layer(out[i], layer, example, batched, i)
    return out


def _mask_indices(attention_mask, length, example, axis="query"):
    mask = attention_mask
    if _is_torch(mask):
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


def apply_mask(attention, attention_mask, example, cross):
    """Drop padded query rows (and key columns, for self-attention)."""
    keep = _mask_indices(attention_mask, attention.shape[2], example)
    attention = attention[:, :, keep, :]
    if not cross:
        attention = attention[:, :, :, keep]
    return np.ascontiguousarray(attention), keep


def check_tokens(tokens, count, name, max_tokens):
    if isinstance(tokens, (str, bytes)) or not hasattr(tokens, "__len__"):
        raise TypeError("%s must be a list of strings, got %s" % (name, type(tokens).__name__))
    tokens = list(tokens)
    for i, token in enumerate(tokens):
        if not isinstance(token, str):
            raise TypeError(
                "%s[%d] is %r (%s): every token must be a str" % (name, i, token, type(token).__name__)
            )
        check_text(token, "%s[%d]" % (name, i))
    if not tokens:
        raise ValueError("%s is empty: an empty sequence cannot be logged" % name)
    if len(tokens) > max_tokens:
        raise ValueError(
            "%d %s exceed max_tokens=%d; pass a larger max_tokens to log them anyway"
            % (len(tokens), name, max_tokens)
        )
    if len(tokens) != count:
        raise ValueError("%d %s but the attention has %d positions on that axis" % (len(tokens), name, count))
    return [str(t) for t in tokens]


def check_text(text, name):
    """Text must be storable as UTF-8 (a lone surrogate is not): refuse it here, not in the
    background writer where the record would be lost."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError("%s is not valid Unicode text (%s at index %d)" % (name, e.reason, e.start)) from None


def check_values(attention):
    """Weights must be finite softmax probabilities: non-negative rows summing to 1."""
    if attention.size == 0:
        raise ValueError("attention of shape %s is empty: an empty sequence cannot be logged" % (attention.shape,))
    sums = attention.sum(axis=-1, dtype=np.float32)
    if not np.isfinite(sums).all():
        kind = "NaN" if np.isnan(attention).any() else "inf"
        l, h, q = np.argwhere(~np.isfinite(sums))[0]
        raise ValueError("attention contains %s (first at layer %d, head %d, query %d)" % (kind, l, h, q))
    low = attention.min()
    if low < -1e-6:
        raise ValueError(
            "attention has negative weights (min %.4g): expected softmax probabilities; this looks "
            "like attention logits/scores: apply softmax first" % low
        )
    bad = np.abs(sums - 1.0) > ROW_SUM_TOLERANCE
    if bad.any():
        l, h, q = np.argwhere(bad)[0]
        total = float(sums[l, h, q])
        if total == 0.0:
            raise ValueError(
                "attention row is all zeros (layer %d, head %d, query %d): every query row must sum "
                "to 1; trim padding with attention_mask" % (l, h, q)
            )
        raise ValueError(
            "attention rows must sum to 1 (softmax probabilities) but layer %d, head %d, query %d sums "
            "to %.4g: did you pass logits or unnormalised scores?" % (l, h, q, total)
        )


def check_step(step):
    """TensorBoard steps are non-negative int64; None means step 0, as in SummaryWriter."""
    if step is None:
        return 0
    if hasattr(step, "item") and getattr(step, "shape", ()) in ((), (1,)) and not isinstance(step, numbers.Number):
        step = step.item()
    if isinstance(step, bool):
        raise TypeError("global_step must be a non-negative int, got %r" % (step,))
    if not isinstance(step, numbers.Integral):
        if isinstance(step, numbers.Real) and float(step).is_integer():
            step = int(step)
        else:
            raise TypeError("global_step must be a non-negative int, got %r" % (step,))
    step = int(step)
    if step < 0:
        raise ValueError("global_step must be non-negative, got %d" % step)
    if step > MAX_STEP:
        raise ValueError("global_step %d exceeds TensorBoard's int64 step range" % step)
    return step


def check_walltime(walltime):
    """Seconds since the epoch, finite: the Rust loader stops reading a file at a NaN wall time."""
    if walltime is None:
        return None
    if isinstance(walltime, bool) or not isinstance(walltime, numbers.Real):
        raise TypeError("walltime must be seconds since the epoch (a float), got %r" % (walltime,))
    value = float(walltime)
    if not np.isfinite(value) or value < 0:
        raise ValueError("walltime must be finite and non-negative, got %r" % value)
    return value


def check_sentence_b_start(sentence_b_start, count):
    if sentence_b_start is None:
        return None
    if isinstance(sentence_b_start, bool) or not isinstance(sentence_b_start, numbers.Integral):
        raise TypeError("sentence_b_start must be an int token index, got %r" % (sentence_b_start,))
    value = int(sentence_b_start)
    if not 0 < value < count:
        raise ValueError("sentence_b_start=%d must lie inside the %d tokens (1..%d)" % (value, count, count - 1))
    return value


def prepare(
    attention,
    tokens,
    *,
    key_tokens=None,
    sentence_b_start=None,
    attention_mask=None,
    key_attention_mask=None,
    example=0,
    max_tokens=DEFAULT_MAX_TOKENS,
):
    """Validated `(attention, tokens, key_tokens, sentence_b_start)`; raises on bad input."""
    for given, name, mask in ((tokens, "tokens", attention_mask), (key_tokens, "key_tokens", key_attention_mask)):
        # Refuse an over-long input before copying its attention (which can be gigabytes).
        if mask is None and isinstance(given, (list, tuple)) and len(given) > max_tokens:
            raise ValueError(
                "%d %s exceed max_tokens=%d; pass a larger max_tokens to log them anyway"
                % (len(given), name, max_tokens)
            )
    array = stack_attention(attention, example)
    _, _, q, k = array.shape
    cross = key_tokens is not None
    if attention_mask is not None:
        array, keep = apply_mask(array, attention_mask, example, cross)
        # Tokens may be given padded (as convert_ids_to_tokens returns them) or already trimmed.
        if hasattr(tokens, "__len__") and not isinstance(tokens, (str, bytes)) and len(tokens) == q:
            tokens = [tokens[i] for i in keep]
            # sentence_b_start then counts padded positions too (left padding shifts it).
            if isinstance(sentence_b_start, numbers.Integral) and not isinstance(sentence_b_start, bool):
                sentence_b_start = int(np.searchsorted(keep, sentence_b_start))
        _, _, q, k = array.shape
    if key_attention_mask is not None:
        if not cross:
            raise ValueError("key_attention_mask is for cross-attention (with key_tokens); attention_mask covers self-attention")
        # Encoder padding: drop the padded key columns (and padded key tokens, if given so).
        keep_k = _mask_indices(key_attention_mask, k, example, "key")
        array = np.ascontiguousarray(array[:, :, :, keep_k])
        if hasattr(key_tokens, "__len__") and not isinstance(key_tokens, (str, bytes)) and len(key_tokens) == k:
            key_tokens = [key_tokens[i] for i in keep_k]
        _, _, q, k = array.shape
    if not cross and q != k:
        raise ValueError(
            "attention has %d queries but %d keys: for cross-attention pass key_tokens" % (q, k)
        )
    tokens = check_tokens(tokens, q, "tokens", max_tokens)
    if cross:
        key_tokens = check_tokens(key_tokens, k, "key_tokens", max_tokens)
    sentence_b_start = check_sentence_b_start(sentence_b_start, q)
    check_values(array)
    return array, tokens, key_tokens, sentence_b_start
