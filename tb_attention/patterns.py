"""Head-pattern scores: how much each head attends to the previous token, [SEP], itself, ...

Every metric is defined in docs/patterns.md (Clark et al. 2019, Kovaleva et al. 2019, Voita et
al. 2019, and the six patterns of the "Deconstructing BERT" head view). Numpy only: the writer
calls `compute_patterns` on its background thread for every logged step.
"""

import math
import numbers
import re
import unicodedata

import numpy as np

from tb_attention import inputs

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

CLS_TOKENS = frozenset(["[CLS]", "<s>", "<cls>", "<bos>", "<|begin_of_text|>", "<|startoftext|>"])
SEP_TOKENS = frozenset(
    ["[SEP]", "</s>", "<sep>", "<eos>", "<|endoftext|>", "<|end_of_text|>", "<|eot_id|>", "<|im_end|>"]
)
DEFAULT_SPECIAL_TOKENS = CLS_TOKENS | SEP_TOKENS | frozenset(["<|im_start|>"])
# Bracketed vocabulary entries ([PAD], <unk>, <|im_start|>) never join a word, even when not
# counted as delimiters.
_SPECIAL_SHAPE = re.compile(r"^(\[[A-Z_]+\]|<\|[^|\s]+\|>|</?[A-Za-z_]+>)$")
WORDPIECE_CONTINUATION = "##"
WORD_START_MARKERS = ("\u2581", "\u0120")  # SentencePiece "▁", GPT-2 byte-level BPE "Ġ"

DEFAULT_THRESHOLDS = {
    # label: (metric, threshold); a head gets the label when metric > threshold.
    "previous_token": ("previous_token", 0.5),
    "next_token": ("next_token", 0.5),
    "self": ("self", 0.5),
    "cls": ("cls", 0.6),
    "sep": ("sep", 0.6),
    "delimiter": ("delimiter", 0.6),
    "punctuation": ("punctuation", 0.6),
    "broad": ("entropy", 3.8),
}
# Priority when several labels apply: the rare, specific positional heads first, then the
# vertical heads (most specific class first), then broad.
LABEL_PRIORITY = tuple(DEFAULT_THRESHOLDS)
MIXED = "mixed"


# ----------------------------------------------------------------------------- token classes


def _surface(token):
    """Token text without its word-start marker: the marker encodes a space, not text."""
    for marker in WORD_START_MARKERS:
        if token.startswith(marker):
            return token[len(marker):]
    return token


def _is_punctuation(token):
    text = _surface(token)
    if text.startswith(WORDPIECE_CONTINUATION):
        text = text[len(WORDPIECE_CONTINUATION):]
    return bool(text) and all(unicodedata.category(c).startswith("P") for c in text)


def _is_special(token, specials):
    return token in specials or bool(_SPECIAL_SHAPE.match(token))


def _word_ids(tokens, specials):
    """Word index per token; specials are words of their own.

    WordPiece: a `##` piece continues the previous word. SentencePiece `▁` / GPT-2 `Ġ`: a piece
    *without* the marker continues the previous word, unless it follows a special token or starts
    the sequence. The convention is taken from the tokens themselves (any `##` means WordPiece).
    """
    wordpiece = any(t.startswith(WORDPIECE_CONTINUATION) and len(t) > 2 for t in tokens)
    marked = not wordpiece and any(t.startswith(WORD_START_MARKERS) for t in tokens)
    ids = np.empty(len(tokens), dtype=np.int64)
    word, prev_special = -1, True
    for i, t in enumerate(tokens):
        special = _is_special(t, specials)
        if wordpiece:
            continues = t.startswith(WORDPIECE_CONTINUATION) and len(t) > 2
        elif marked:
            continues = not t.startswith(WORD_START_MARKERS)
        else:
            continues = False
        if special or prev_special or not continues:
            word += 1
        ids[i] = word
        prev_special = special
    return ids


# ----------------------------------------------------------------------------- reductions


def _pair_scores(flat, shape, masks):
    """Per mask name: mean over queries with at least one target of sum_{j: mask[i, j]} a_ij
    (NaN when no query has a target). `flat` is the attention as [layers * heads, q * k];
    each mask a boolean [q, k]."""
    layers, heads, q, k = shape
    names = list(masks)
    stacked = np.stack([masks[n].ravel() for n in names])  # [metrics, q * k]
    union = np.flatnonzero(stacked.any(axis=0))
    if 4 * union.size < q * k:
        # Sparse (the usual case): gather the weights of every pair once (np.take is much faster
        # than fancy indexing here), then sum each metric's pairs with one small product.
        totals = np.take(flat, union, axis=1) @ stacked[:, union].T.astype(np.float32)
    else:
        # Dense (e.g. one token repeated throughout): one pass of a matrix product.
        totals = flat @ stacked.T.astype(np.float32)
    out = {}
    for c, name in enumerate(names):
        valid = int(np.count_nonzero(masks[name].any(axis=1)))
        if valid:
            out[name] = (totals[:, c] / valid).astype(np.float32).reshape(layers, heads)
        else:
            out[name] = np.full((layers, heads), np.nan, dtype=np.float32)
    return out


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


def _row_reductions(attention):
    """(entropy [L, H, q] nats, max weight [L, H, q], column sums [L, H, k] float64), one pass."""
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

        parts = max(1, min(_MAX_THREADS, os.cpu_count() or 1, layers * heads))
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


# ----------------------------------------------------------------------------- validation


def _check_specials(special_tokens):
    if special_tokens is None:
        return DEFAULT_SPECIAL_TOKENS
    if isinstance(special_tokens, (str, bytes)) or not hasattr(special_tokens, "__iter__"):
        raise TypeError(
            "special_tokens must be a collection of token strings, got %s"
            % type(special_tokens).__name__
        )
    specials = frozenset(special_tokens)
    bad = [t for t in specials if not isinstance(t, str)]
    if bad:
        raise TypeError("special_tokens must all be str; got %r" % (bad[0],))
    return specials


# ----------------------------------------------------------------------------- public API


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
    if attention.dtype != np.float32:
        attention = attention.astype(np.float32)
    layers, heads, q, k = attention.shape
    if 0 in attention.shape:
        raise ValueError("attention of shape %s is empty" % (attention.shape,))
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
    specials = _check_specials(special_tokens)

    attention = np.ascontiguousarray(attention)
    flat = attention.reshape(layers * heads, q * k)
    nan = np.full((layers, heads), np.nan, dtype=np.float32)
    scores = {}

    # Positional: diagonals of each head's matrix (views, no copy).
    if cross:
        for name in ("previous_token", "next_token", "self"):
            scores[name] = nan.copy()
    else:
        for name, offset in (("previous_token", -1), ("next_token", 1), ("self", 0)):
            diagonal = np.diagonal(attention, offset=offset, axis1=2, axis2=3)
            if diagonal.shape[-1] == 0:  # one token: no previous or next
                scores[name] = nan.copy()
            else:
                scores[name] = diagonal.mean(axis=-1, dtype=np.float64).astype(np.float32)

    # Identical token text (itself included, for self-attention).
    query_text = [_surface(t) for t in tokens]
    key_text = query_text if not cross else [_surface(t) for t in key_tokens]
    ids = {}
    query_ids = np.array([ids.setdefault(t, len(ids)) for t in query_text], dtype=np.int64)
    key_ids = np.array([ids.setdefault(t, len(ids)) for t in key_text], dtype=np.int64)
    same = query_ids[:, None] == key_ids[None, :]
    masks = {"same_token": same}

    # Identical text in the other sentence; special tokens excluded so [SEP] -> [SEP] (a
    # delimiter pattern) does not count.
    if cross or sentence_b_start is None:
        scores["same_token_other_sentence"] = nan.copy()
    else:
        ordinary = np.array([not _is_special(t, specials) for t in tokens])
        in_b = np.arange(q) >= sentence_b_start
        other = same & (in_b[:, None] != in_b[None, :]) & ordinary[:, None] & ordinary[None, :]
        masks["same_token_other_sentence"] = other

    # The other pieces of the query's own word.
    if cross:
        scores["word_pieces"] = nan.copy()
    else:
        words = _word_ids(tokens, specials)
        pieces = words[:, None] == words[None, :]
        np.fill_diagonal(pieces, False)
        masks["word_pieces"] = pieces
    scores.update(_pair_scores(flat, attention.shape, masks))

    # Token classes among the keys. mean_i sum_{j in T} a_ij = (1/q) sum_{j in T} colsum_j, so the
    # column sums from the fused pass give all four classes without another pass.
    entropy, maximum, column_sums = _row_reductions(attention)
    for name, member in (
        ("delimiter", [t in specials for t in key_tokens]),
        ("cls", [t in CLS_TOKENS for t in key_tokens]),
        ("sep", [t in SEP_TOKENS for t in key_tokens]),
        ("punctuation", [_is_punctuation(t) for t in key_tokens]),
    ):
        member = np.flatnonzero(member)
        if member.size:
            scores[name] = (column_sums[..., member].sum(axis=-1) / q).astype(np.float32)
        else:
            scores[name] = nan.copy()

    scores["entropy"] = entropy.mean(axis=-1, dtype=np.float64).astype(np.float32)
    scores["confidence"] = maximum.mean(axis=-1, dtype=np.float64).astype(np.float32)
    return {name: scores[name] for name in METRICS}


def head_patterns(
    attention,
    tokens,
    sentence_b_start=None,
    special_tokens=None,
    *,
    key_tokens=None,
    attention_mask=None,
    example=0,
):
    """Pattern scores (metric -> float32 `[layers, heads]`) of attention in any form
    `add_attention` accepts: Hugging Face `outputs.attentions`, `[L, H, Q, K]` or `[L, B, H, Q, K]`
    arrays or tensors. Raises ValueError/TypeError for bad input."""
    array, tokens, key_tokens, sentence_b_start = inputs.prepare(
        attention,
        tokens,
        key_tokens=key_tokens,
        sentence_b_start=sentence_b_start,
        attention_mask=attention_mask,
        example=example,
    )
    return compute_patterns(array, tokens, key_tokens, sentence_b_start, special_tokens)


def head_change(a, b):
    """Jensen-Shannon divergence (nats, in [0, ln 2]) between the attention rows of the same head
    in two records of the same input, averaged over query rows: float32 `[layers, heads]`."""
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim != 4 or a.shape != b.shape:
        raise ValueError(
            "head_change needs two attention arrays [layers, heads, q, k] of the same shape, "
            "got %s and %s" % (a.shape, b.shape)
        )
    a = np.ascontiguousarray(a, dtype=np.float32)
    b = np.ascontiguousarray(b, dtype=np.float32)
    mixture = np.add(a, b)
    mixture *= 0.5
    # JS(P, Q) = H(M) - (H(P) + H(Q)) / 2 with M = (P + Q) / 2; entropies use 0 ln 0 = 0, so
    # disjoint rows give ln 2 and identical rows give exactly 0 (M is then bit-identical to P).
    js = _row_reductions(mixture)[0] - 0.5 * (_row_reductions(a)[0] + _row_reductions(b)[0])
    np.clip(js, 0.0, math.log(2.0), out=js)
    return js.mean(axis=-1, dtype=np.float64).astype(np.float32)


# ----------------------------------------------------------------------------- JSON


def scores_to_json(scores):
    """`{metric: [[float | None]]}` for the record header: 5 decimals, NaN -> None."""
    out = {}
    for name, values in scores.items():
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 2:
            raise ValueError("scores[%r] must be [layers, heads], got shape %s" % (name, values.shape))
        out[str(name)] = [
            [round(float(v), 5) if math.isfinite(v) else None for v in row] for row in values
        ]
    return out


def scores_from_json(obj):
    """Inverse of `scores_to_json`: metric -> float32 `[layers, heads]` (None -> NaN)."""
    if not isinstance(obj, dict):
        raise ValueError("pattern scores must be a JSON object, got %s" % type(obj).__name__)
    out, shape = {}, None
    for name, rows in obj.items():
        if not isinstance(rows, list) or not rows or not all(isinstance(r, list) for r in rows):
            raise ValueError("pattern scores[%r] must be a list of lists [layers][heads]" % (name,))
        if len({len(r) for r in rows}) != 1:
            raise ValueError("pattern scores[%r] has rows of different lengths" % (name,))
        try:
            values = np.array(
                [[np.nan if v is None else float(v) for v in row] for row in rows], dtype=np.float32
            )
        except (TypeError, ValueError):
            raise ValueError(
                "pattern scores[%r] holds a value that is neither a number nor null" % (name,)
            ) from None
        if shape is not None and values.shape != shape:
            raise ValueError(
                "pattern scores[%r] is %s but other metrics are %s" % (name, values.shape, shape)
            )
        shape = values.shape
        out[name] = values
    return out


# ----------------------------------------------------------------------------- labels


def _thresholds(thresholds):
    """DEFAULT_THRESHOLDS updated by `thresholds` ({label: value, or (metric, value), or None})."""
    merged = dict(DEFAULT_THRESHOLDS)
    if thresholds is None:
        return merged
    if not isinstance(thresholds, dict):
        raise TypeError("thresholds must be a dict {label: value}, got %s" % type(thresholds).__name__)
    for label, value in thresholds.items():
        if label not in merged:
            raise ValueError(
                "unknown label %r in thresholds: use %s" % (label, ", ".join(LABEL_PRIORITY))
            )
        if value is None:  # None switches a label off
            merged[label] = None
            continue
        metric = merged[label][0]
        if isinstance(value, tuple):
            if len(value) != 2:
                raise TypeError(
                    "threshold for %r must be a value or (metric, value), got %r" % (label, value)
                )
            metric, value = value
            if metric not in METRICS:
                raise ValueError("threshold for %r names unknown metric %r" % (label, metric))
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise TypeError("threshold for %r must be a finite number, got %r" % (label, value))
        merged[label] = (metric, float(value))
    return merged


def _score_arrays(scores):
    if not isinstance(scores, dict) or not scores:
        raise ValueError("scores must be a non-empty dict metric -> [layers, heads]")
    arrays, shape = {}, None
    for name, values in scores.items():
        if isinstance(values, list):  # the stored JSON form: null for NaN
            values = [[np.nan if v is None else v for v in row] for row in values]
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 2 or (shape is not None and values.shape != shape):
            raise ValueError(
                "scores[%r] has shape %s; every metric must be the same [layers, heads]"
                % (name, values.shape)
            )
        shape = values.shape
        arrays[name] = values
    return arrays, shape


def head_labels_all(scores, thresholds=None):
    """Every label that applies to each head, in priority order: `[layers][heads]` of tuples."""
    arrays, (layers, heads) = _score_arrays(scores)
    hits = []
    for label, rule in _thresholds(thresholds).items():
        if rule is None or rule[0] not in arrays:
            continue
        with np.errstate(invalid="ignore"):
            hits.append((label, arrays[rule[0]] > rule[1]))  # NaN never passes
    return [
        [tuple(label for label, hit in hits if hit[l, h]) for h in range(heads)] for l in range(layers)
    ]


def label_heads(scores, thresholds=None):
    """One label per head, str `[layers, heads]`: the first of LABEL_PRIORITY whose metric exceeds
    its threshold, else "mixed". `scores` is `compute_patterns` output (or its JSON form); a
    label whose metric is missing from `scores` is skipped."""
    every = head_labels_all(scores, thresholds)
    return np.array([[labels[0] if labels else MIXED for labels in row] for row in every], dtype=str)
