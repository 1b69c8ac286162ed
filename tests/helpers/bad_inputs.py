"""Bad inputs of `add_attention` and `tb_attention.inputs.attention.prepare`, each with the error
it must raise: shared by tests/test_inputs.py (the validation) and tests/test_hardening_bad_input.py
(the public call, and the table of docs/bad_inputs.md)."""

import numpy as np
import torch

from tests.helpers.data import softmax_attention

TOKENS5 = ["[CLS]", "a", "b", "[SEP]", "c"]


def _nan():
    a = softmax_attention((2, 2, 5, 5))
    a[1, 0, 2, 3] = np.nan
    return a


def _inf():
    a = softmax_attention((2, 2, 5, 5))
    a[0, 1, 4, 0] = np.inf
    return a


def _logits():
    return np.random.default_rng(0).normal(size=(2, 2, 5, 5)).astype(np.float32)


def _unnormalised():
    return softmax_attention((2, 2, 5, 5)) * 3


def _zero_row():
    a = softmax_attention((2, 2, 5, 5))
    a[0, 0, 1] = 0
    return a


A = softmax_attention((2, 2, 5, 5))

# (case id, kwargs for prepare, exception type, message pattern)
BAD_INPUTS = [
    (
        "rank-2 array",
        dict(attention=np.eye(5, dtype=np.float32), tokens=TOKENS5),
        ValueError,
        r"rank 2 \(shape \(5, 5\)\)",
    ),
    ("rank-6 array", dict(attention=A[None, None], tokens=TOKENS5), ValueError, "rank 6"),
    ("layers of mixed rank", dict(attention=(A[0], A[1][None]), tokens=TOKENS5), ValueError, "each layer of attention"),
    ("zero layers", dict(attention=(), tokens=TOKENS5), ValueError, "zero layers"),
    ("not an array", dict(attention="attention", tokens=TOKENS5), TypeError, "attention of type str"),
    (
        "heads differ across layers",
        dict(attention=(A[0], A[1][:1]), tokens=TOKENS5),
        ValueError,
        "layer 1 has 1 heads, layer 0 has 2",
    ),
    (
        "q/k differ across layers",
        dict(attention=(A[0], A[1][:, :4, :4]), tokens=TOKENS5),
        ValueError,
        r"layer 1 has \[q, k\] = \[4, 4\]",
    ),
    ("too few tokens", dict(attention=A, tokens=TOKENS5[:4]), ValueError, "4 tokens but the attention has 5"),
    (
        "q != k without key_tokens",
        dict(attention=A[:, :, :4, :], tokens=TOKENS5[:4]),
        ValueError,
        "4 queries but 5 keys: for cross-attention pass key_tokens",
    ),
    (
        "key_tokens count",
        dict(attention=A, tokens=TOKENS5, key_tokens=TOKENS5[:3]),
        ValueError,
        "3 key_tokens but the attention has 5",
    ),
    ("NaN", dict(attention=_nan(), tokens=TOKENS5), ValueError, r"contains NaN \(first at layer 1, head 0, query 2\)"),
    ("inf", dict(attention=_inf(), tokens=TOKENS5), ValueError, r"contains inf \(first at layer 0, head 1, query 4\)"),
    ("logits", dict(attention=_logits(), tokens=TOKENS5), ValueError, "negative weights.*logits"),
    (
        "rows not summing to 1",
        dict(attention=_unnormalised(), tokens=TOKENS5),
        ValueError,
        "sums to 3.*logits or unnormalised",
    ),
    (
        "all-zero row",
        dict(attention=_zero_row(), tokens=TOKENS5),
        ValueError,
        "row is all zeros.*layer 0, head 0, query 1",
    ),
    ("empty sequence", dict(attention=np.zeros((2, 2, 0, 0), np.float32), tokens=[]), ValueError, "empty"),
    ("non-string token", dict(attention=A, tokens=["a", 2, "c", "d", "e"]), TypeError, r"tokens\[1\] is 2 \(int\)"),
    ("None token", dict(attention=A, tokens=["a", "b", None, "d", "e"]), TypeError, r"tokens\[2\] is None"),
    ("tokens as one string", dict(attention=A, tokens="a b c d e"), TypeError, "tokens must be a list of strings"),
    (
        "integer attention",
        dict(attention=torch.ones(2, 2, 5, 5, dtype=torch.int64), tokens=TOKENS5),
        TypeError,
        "dtype torch.int64",
    ),
    (
        "example outside batch",
        dict(attention=A[:, None], tokens=TOKENS5, example=3),
        ValueError,
        "example=3 is outside the batch of 1",
    ),
    (
        "sentence_b_start outside",
        dict(attention=A, tokens=TOKENS5, sentence_b_start=5),
        ValueError,
        "sentence_b_start=5 must lie inside the 5 tokens",
    ),
    (
        "sentence_b_start not int",
        dict(attention=A, tokens=TOKENS5, sentence_b_start="3"),
        TypeError,
        "sentence_b_start must be an int",
    ),
    (
        "mask of wrong length",
        dict(attention=A, tokens=TOKENS5, attention_mask=[1, 1, 0]),
        ValueError,
        "attention_mask of shape \\(3,\\) does not match the 5",
    ),
    ("mask masking all", dict(attention=A, tokens=TOKENS5, attention_mask=[0] * 5), ValueError, "masks every position"),
    ("too many tokens", dict(attention=A, tokens=TOKENS5, max_tokens=4), ValueError, "5 tokens exceed max_tokens=4"),
]
