"""Checks of what users pass with attention (steps, wall times, tokens, sentence B, weights),
each with an error that names the problem. `check_*` only check; `parse_*` check and return the
value in its stored form (a step as int, tokens as a list of str, ...)."""

import numbers

import numpy as np

from tb_attention.format.metadata import MAX_STEP

# No limit by default: the byte budget (max_bytes) bounds what a record of any length stores.
DEFAULT_MAX_TOKENS = None
# Softmax rows of float16/bfloat16 models sum to 1 only within a few thousandths (and a bfloat16
# sum of a row is itself rounded to 1/128).
ROW_SUM_TOLERANCE = 2e-2


def check_text(text, name):
    """Text must be storable as UTF-8 (a lone surrogate is not): refuse it here, not in the
    background writer where the record would be lost."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError("%s is not valid Unicode text (%s at index %d)" % (name, e.reason, e.start)) from None


def check_token_count(tokens, name, max_tokens):
    """Refuse an over-long input before anything is copied (its attention can be gigabytes)."""
    if max_tokens is not None and isinstance(tokens, (list, tuple)) and len(tokens) > max_tokens:
        raise ValueError(
            "%d %s exceed max_tokens=%d; pass a larger max_tokens to log them anyway" % (len(tokens), name, max_tokens)
        )


def parse_tokens(tokens, count, name, max_tokens):
    if isinstance(tokens, (str, bytes)) or not hasattr(tokens, "__len__"):
        raise TypeError("%s must be a list of strings, got %s" % (name, type(tokens).__name__))
    tokens = list(tokens)
    for i, token in enumerate(tokens):
        if not isinstance(token, str):
            raise TypeError("%s[%d] is %r (%s): every token must be a str" % (name, i, token, type(token).__name__))
        check_text(token, "%s[%d]" % (name, i))
    if not tokens:
        raise ValueError("%s is empty: an empty sequence cannot be logged" % name)
    check_token_count(tokens, name, max_tokens)
    if len(tokens) != count:
        raise ValueError("%d %s but the attention has %d positions on that axis" % (len(tokens), name, count))
    return [str(t) for t in tokens]


def parse_step(step):
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


def parse_walltime(walltime):
    """Seconds since the epoch, finite: the Rust loader stops reading a file at a NaN wall time."""
    if walltime is None:
        return None
    if isinstance(walltime, bool) or not isinstance(walltime, numbers.Real):
        raise TypeError("walltime must be seconds since the epoch (a float), got %r" % (walltime,))
    value = float(walltime)
    if not np.isfinite(value) or value < 0:
        raise ValueError("walltime must be finite and non-negative, got %r" % value)
    return value


def parse_sentence_b_start(sentence_b_start, count):
    if sentence_b_start is None:
        return None
    if isinstance(sentence_b_start, bool) or not isinstance(sentence_b_start, numbers.Integral):
        raise TypeError("sentence_b_start must be an int token index, got %r" % (sentence_b_start,))
    value = int(sentence_b_start)
    if not 0 < value < count:
        raise ValueError("sentence_b_start=%d must lie inside the %d tokens (1..%d)" % (value, count, count - 1))
    return value


def check_kept_rows(weights, index):
    """Weights read back from a sparse record (`[heads, q, k]`, the dropped keys 0) must be finite
    and non-negative, each row summing to at most 1 (within the tolerance of a softmax row)."""
    if not (np.isfinite(weights).all() and (weights >= 0).all() and (weights.sum(-1) <= 1 + ROW_SUM_TOLERANCE).all()):
        raise ValueError(
            "attention layer %d has weights that are negative, not finite, or rows summing above 1" % index
        )


def row_namer(layer, head_ids=None):
    """`where(h, q)` for `check_row_stats`: "layer 3, head 1, query 7" (`head_ids`: the model's
    numbers of the checked heads, when a subset)."""
    return lambda h, q: "layer %d, head %d, query %d" % (layer, h if head_ids is None else head_ids[h], q)


def check_row_stats(sums, minimum, where):
    """Weights must be finite softmax probabilities: non-negative rows summing to 1.

    `sums` are the row sums `[heads, q]` of one layer (numpy, float), `minimum` its smallest
    weight, `where(h, q)` names a row ("layer 3, head 1, query 7") for the message.
    """
    if not np.isfinite(sums).all():
        h, q = np.argwhere(~np.isfinite(sums))[0]
        raise ValueError(
            "attention contains %s (first at %s)" % ("NaN" if np.isnan(sums[h, q]) else "inf", where(h, q))
        )
    if minimum < -1e-6:
        raise ValueError(
            "attention has negative weights (min %.4g): expected softmax probabilities; this looks "
            "like attention logits/scores: apply softmax first" % minimum
        )
    bad = np.abs(sums - 1.0) > ROW_SUM_TOLERANCE
    if bad.any():
        h, q = np.argwhere(bad)[0]
        total = float(sums[h, q])
        if total == 0.0:
            raise ValueError(
                "attention row is all zeros (%s): every query row must sum to 1; trim padding with "
                "attention_mask" % where(h, q)
            )
        raise ValueError(
            "attention rows must sum to 1 (softmax probabilities) but %s sums to %.4g: did you pass "
            "logits or unnormalised scores?" % (where(h, q), total)
        )
