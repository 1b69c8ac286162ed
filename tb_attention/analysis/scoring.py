"""Head-pattern scores: how much each head attends to the previous token, [SEP], itself, ...

Every metric is defined in docs/patterns.md (Clark et al. 2019, Kovaleva et al. 2019, Voita et
al. 2019, and the six patterns of the "Deconstructing BERT" head view). Numpy only: the writer
calls `compute_patterns` on its background thread for every logged step.
"""

import math

import numpy as np

from tb_attention.analysis import tokens as token_classes
from tb_attention.analysis.reductions import pair_scores, row_reductions
from tb_attention.writing import inputs

# Output order of `compute_patterns` (and so of the JSON stored in each record header).
METRICS = (
    "previous_token",
    "next_token",
    "self",
    "same_token",
    "same_token_other_sentence",
    "word_pieces",
    "delimiter",
    "cls",
    "sep",
    "punctuation",
    "entropy",
    "confidence",
)
# Metrics that relate query i to key i +- offset; undefined for cross-attention.
POSITIONAL = ("previous_token", "next_token", "self", "same_token_other_sentence", "word_pieces")


def _diagonal_scores(attention, cross, nan):
    """previous_token / next_token / self: means of each head's diagonals (views, no copy)."""
    scores = {}
    for name, offset in (("previous_token", -1), ("next_token", 1), ("self", 0)):
        diagonal = None if cross else np.diagonal(attention, offset=offset, axis1=2, axis2=3)
        if diagonal is None or diagonal.shape[-1] == 0:  # cross-attention, or one token
            scores[name] = nan.copy()
        else:
            scores[name] = diagonal.mean(axis=-1, dtype=np.float64).astype(np.float32)
    return scores


def _pair_masks(tokens, key_tokens, cross, sentence_b_start, specials):
    """Boolean [q, k] masks of the token-identity metrics that apply to this input."""
    query_text = [token_classes.surface(t) for t in tokens]
    key_text = query_text if not cross else [token_classes.surface(t) for t in key_tokens]
    ids = {}
    query_ids = np.array([ids.setdefault(t, len(ids)) for t in query_text], dtype=np.int64)
    key_ids = np.array([ids.setdefault(t, len(ids)) for t in key_text], dtype=np.int64)
    # Identical token text (itself included, for self-attention).
    same = query_ids[:, None] == key_ids[None, :]
    masks = {"same_token": same}
    if not cross and sentence_b_start is not None:
        # Identical text in the other sentence; special tokens excluded so [SEP] -> [SEP] (a
        # delimiter pattern) does not count.
        ordinary = np.array([not token_classes.is_special(t, specials) for t in tokens])
        in_b = np.arange(len(tokens)) >= sentence_b_start
        masks["same_token_other_sentence"] = (
            same & (in_b[:, None] != in_b[None, :]) & ordinary[:, None] & ordinary[None, :]
        )
    if not cross:
        # The other pieces of the query's own word.
        words = token_classes.word_ids(tokens, specials)
        pieces = words[:, None] == words[None, :]
        np.fill_diagonal(pieces, False)
        masks["word_pieces"] = pieces
    return masks


def _class_scores(column_sums, key_tokens, specials, q, nan):
    """Token classes among the keys. mean_i sum_{j in T} a_ij = (1/q) sum_{j in T} colsum_j, so
    the column sums from the fused pass give all four classes without another pass."""
    scores = {}
    for name, member in (
        ("delimiter", [t in specials for t in key_tokens]),
        ("cls", [t in token_classes.CLS_TOKENS for t in key_tokens]),
        ("sep", [t in token_classes.SEP_TOKENS for t in key_tokens]),
        ("punctuation", [token_classes.is_punctuation(t) for t in key_tokens]),
    ):
        member = np.flatnonzero(member)
        if member.size:
            scores[name] = (column_sums[..., member].sum(axis=-1) / q).astype(np.float32)
        else:
            scores[name] = nan.copy()
    return scores


def compute_patterns(attention, tokens, key_tokens=None, sentence_b_start=None, special_tokens=None):
    """Pattern scores of one example: metric name -> float32 `[layers, heads]` (see METRICS).

    `attention` is validated float32 `[layers, heads, q, k]` with rows summing to 1 (as
    `inputs.prepare` returns it). `key_tokens` given means cross-attention: the positional metrics
    (POSITIONAL) are NaN and token-identity metrics compare query text with key text. A metric
    with no valid query for this input (e.g. `cls` without a [CLS] token) is NaN.
    """
    attention = np.asarray(attention)
    if attention.ndim != 4:
        raise ValueError("attention must be [layers, heads, q, k], got shape %s" % (attention.shape,))
    if 0 in attention.shape:
        raise ValueError("attention of shape %s is empty" % (attention.shape,))
    attention = np.ascontiguousarray(attention, dtype=np.float32)
    layers, heads, q, k = attention.shape
    tokens = inputs.check_tokens(tokens, q, "tokens", max_tokens=math.inf)
    cross = key_tokens is not None
    if cross:
        key_tokens = inputs.check_tokens(key_tokens, k, "key_tokens", max_tokens=math.inf)
    elif q != k:
        raise ValueError(
            "attention has %d queries but %d keys: for cross-attention pass key_tokens" % (q, k)
        )
    else:
        key_tokens = tokens
    sentence_b_start = inputs.check_sentence_b_start(sentence_b_start, q)
    specials = token_classes.check_specials(special_tokens)

    nan = np.full((layers, heads), np.nan, dtype=np.float32)
    scores = _diagonal_scores(attention, cross, nan)
    masks = _pair_masks(tokens, key_tokens, cross, sentence_b_start, specials)
    scores.update(pair_scores(attention.reshape(layers * heads, q * k), attention.shape, masks))
    entropy, maximum, column_sums = row_reductions(attention)
    scores.update(_class_scores(column_sums, key_tokens, specials, q, nan))
    scores["entropy"] = entropy.mean(axis=-1, dtype=np.float64).astype(np.float32)
    scores["confidence"] = maximum.mean(axis=-1, dtype=np.float64).astype(np.float32)
    # Metrics that do not apply to this input (no sentence B, cross-attention) are NaN.
    return {name: scores.get(name, nan.copy()) for name in METRICS}


def head_patterns(attention, tokens, sentence_b_start=None, special_tokens=None, **options):
    """Pattern scores (metric -> float32 `[layers, heads]`) of attention in any form
    `add_attention` accepts: Hugging Face `outputs.attentions`, `[L, H, Q, K]` or `[L, B, H, Q, K]`
    arrays or tensors. `options` are `add_attention`'s input options (`key_tokens`,
    `attention_mask`, `key_attention_mask`, `example`, `max_tokens`), read the same way.
    Raises ValueError/TypeError for bad input."""
    array, tokens, key_tokens, sentence_b_start = inputs.prepare(
        attention, tokens, sentence_b_start=sentence_b_start, **options
    )
    return compute_patterns(array, tokens, key_tokens, sentence_b_start, special_tokens)
