"""Head-pattern scores: how much each head attends to the previous token, [SEP], itself, the
position after an earlier copy of the query's token (induction), the first position (sink), ...

Every metric is defined in docs/patterns.md (Clark et al. 2019, Kovaleva et al. 2019, Voita et
al. 2019, the six patterns of the "Deconstructing BERT" head view, Olsson et al. 2022, Xiao et
al. 2023). Every metric is a per-(layer, head) reduction over masks known from the tokens, so
`PatternScorer` takes one layer (or block of heads) at a time, in numpy or in torch on the
layer's own device. Causal records (nothing above the diagonal) leave out the first query row,
whose one visible key carries no information.
"""

import math

import numpy as np

from tb_attention.analysis import tokens as token_classes
from tb_attention.analysis.reductions import numpy_row0, row_reductions, torch_layer_reductions, upper_nonzero
from tb_attention.inputs.attention import prepare
from tb_attention.inputs.checks import parse_sentence_b_start, parse_tokens

# Output order of `compute_patterns` (and so of the JSON stored in each record header). Records
# logged before a metric existed lack it: readers treat a missing metric as not computed.
METRICS = (
    "previous_token",
    "next_token",
    "self",
    "induction",
    "duplicate_token",
    "same_token",
    "same_token_other_sentence",
    "word_pieces",
    "local_window",
    "delimiter",
    "cls",
    "sep",
    "sink",
    "punctuation",
    "entropy",
    "confidence",
)
# Metrics that relate query i to key i +- offset; undefined for cross-attention.
POSITIONAL = (
    "previous_token",
    "next_token",
    "self",
    "same_token_other_sentence",
    "word_pieces",
    "induction",
    "duplicate_token",
    "local_window",
)
_DIAGONALS = {"previous_token": -1, "next_token": 1, "self": 0}
# `local_window`: keys i - LOCAL_WINDOW < j <= i (the query and the 7 positions before it).
LOCAL_WINDOW = 8


def _earlier_copies(tokens, specials):
    """[q, q] mask of keys j < i whose token text is exactly query i's (neither a special token)."""
    ids = {}
    exact = np.array([ids.setdefault(t, len(ids)) for t in tokens], dtype=np.int64)
    ordinary = np.array([not token_classes.is_special(t, specials) for t in tokens])
    same = (exact[:, None] == exact[None, :]) & ordinary[:, None] & ordinary[None, :]
    return np.tril(same, -1)


def _causal_masks(tokens, specials):
    """duplicate_token, induction (the key after each earlier copy) and local_window masks."""
    duplicate = _earlier_copies(tokens, specials)
    induction = np.zeros_like(duplicate)
    induction[:, 1:] = duplicate[:, :-1]  # p < i, so p + 1 <= i: never a future key
    n = len(tokens)
    local = np.tri(n, n, 0, dtype=bool) & ~np.tri(n, n, -LOCAL_WINDOW, dtype=bool)
    return {"induction": induction, "duplicate_token": duplicate, "local_window": local}


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
        masks.update(_causal_masks(tokens, specials))
    return masks


def _class_members(key_tokens, specials):
    """Key positions of each token class: delimiter, cls, sep, sink (position 0), punctuation."""
    return {
        "delimiter": np.flatnonzero([t in specials for t in key_tokens]),
        "cls": np.flatnonzero([t in token_classes.CLS_TOKENS for t in key_tokens]),
        "sep": np.flatnonzero([t in token_classes.SEP_TOKENS for t in key_tokens]),
        "sink": np.array([0]),
        "punctuation": np.flatnonzero([token_classes.is_punctuation(t) for t in key_tokens]),
    }


class PatternScorer:
    """The pattern scores of one input `[layers, heads, q, k]`, a layer at a time.

    `tokens` / `key_tokens` / `sentence_b_start` / `special_tokens` as for `compute_patterns`.
    `add_layer(l, layer)` takes layer `l` (float32 numpy `[heads, q, k]`, or a torch tensor on
    any device: reduced there); `result()` gives metric -> float32 `[layers, heads]`. Each metric
    is kept as a sum over its valid queries and their count, with the first row's share apart:
    `result()` leaves that row out when every stored head turned out causal.
    """

    def __init__(self, shape, tokens, key_tokens=None, sentence_b_start=None, special_tokens=None, threads=None):
        layers, heads, q, k = (int(n) for n in shape)
        self.shape, self.threads = (layers, heads, q, k), threads
        self.tokens = parse_tokens(tokens, q, "tokens", max_tokens=math.inf)
        self.cross = key_tokens is not None
        if self.cross:
            key_tokens = parse_tokens(key_tokens, k, "key_tokens", max_tokens=math.inf)
        elif q != k:
            raise ValueError("attention has %d queries but %d keys: for cross-attention pass key_tokens" % (q, k))
        else:
            key_tokens = self.tokens
        sentence_b_start = parse_sentence_b_start(sentence_b_start, q)
        specials = token_classes.parse_special_tokens(special_tokens)
        masks = _pair_masks(self.tokens, key_tokens, self.cross, sentence_b_start, specials)
        self.mask_names = [n for n in masks if not (self.cross and n in POSITIONAL)]
        stacked = np.stack([masks[n].ravel() for n in self.mask_names])  # [masks, q * k]
        self.union = np.flatnonzero(stacked.any(axis=0))
        # Sparse (the usual case): gather the weights of every pair once, then sum each metric's
        # pairs with one small product; dense (e.g. one token repeated): one matrix product.
        self.pair_weights = stacked[:, self.union].T.astype(np.float32)  # [pairs, masks]
        self.dense_weights = stacked.T.astype(np.float32) if 4 * self.union.size >= q * k else None
        self.mask_row0 = stacked[:, :k].T.astype(np.float64)  # [k, masks]: the first query's pairs
        self.members = _class_members(key_tokens, specials)
        # Valid queries of each metric, and whether the first query is one of them.
        self.count, self.row0_valid = self._valid_queries(masks, q)
        # A causal record has q == k >= 2 and no weight above the diagonal in any stored head.
        self.check_upper = not self.cross and q >= 2
        self.causal = self.check_upper
        self.sums = {name: np.full((layers, heads), np.nan) for name in METRICS}
        self.row0 = {name: np.zeros((layers, heads)) for name in METRICS}

    def _valid_queries(self, masks, q):
        count = {"previous_token": q - 1, "next_token": q - 1, "self": q, "entropy": q, "confidence": q}
        row0 = {"previous_token": False, "next_token": q > 1, "self": True, "entropy": True, "confidence": True}
        for name in self.mask_names:
            count[name] = int(np.count_nonzero(masks[name].any(axis=1)))
            row0[name] = bool(masks[name][0].any())
        for name, member in self.members.items():
            count[name], row0[name] = (q if member.size else 0), True
        if self.cross:
            for name in POSITIONAL:
                count[name] = 0
        return count, row0

    def _numpy_reductions(self, layer):
        heads, q, k = layer.shape
        diagonals = {}
        for offset in (-1, 0, 1):
            d = np.diagonal(layer, offset=offset, axis1=1, axis2=2)
            diagonals[offset] = d.sum(axis=-1, dtype=np.float64) if d.shape[-1] else None
        flat = layer.reshape(heads, q * k)
        if self.dense_weights is None:
            totals = np.take(flat, self.union, axis=1) @ self.pair_weights  # np.take beats fancy indexing
        else:
            totals = flat @ self.dense_weights
        entropy, maximum, column_sums = row_reductions(layer[None], self.threads)
        out = {
            "diagonals": diagonals,
            "totals": totals,
            "entropy": entropy[0].sum(-1, dtype=np.float64),
            "confidence": maximum[0].sum(-1, dtype=np.float64),
            "column_sums": column_sums[0],
            "upper": upper_nonzero(layer) if self.check_upper and self.causal else None,
        }
        out.update(numpy_row0(layer, entropy[0], maximum[0], LOCAL_WINDOW))
        return out

    def add_layer(self, index, layer, head_start=0):
        """Scores of layer `index`, heads `head_start` onwards (a layer may come in blocks of heads)."""
        if type(layer).__module__.split(".")[0] == "torch":
            r = torch_layer_reductions(
                layer, self.union, self.pair_weights, self.check_upper and self.causal, LOCAL_WINDOW
            )
        else:
            r = self._numpy_reductions(np.ascontiguousarray(layer, dtype=np.float32))
        if r["upper"]:
            self.causal = False
        heads = slice(head_start, head_start + r["entropy"].shape[0])
        s = {name: values[index, heads] for name, values in self.sums.items()}  # views
        first = {name: values[index, heads] for name, values in self.row0.items()}
        row0 = r["row0"]
        if not self.cross:
            for name, offset in _DIAGONALS.items():
                if r["diagonals"][offset] is not None:
                    s[name][:] = r["diagonals"][offset]
            first["self"][:] = row0[:, 0]
            if row0.shape[1] > 1:
                first["next_token"][:] = row0[:, 1]
        own = row0 @ self.mask_row0
        for c, name in enumerate(self.mask_names):
            s[name][:], first[name][:] = r["totals"][:, c], own[:, c]
        # Token classes among the keys: sum_i sum_{j in T} a_ij = sum_{j in T} colsum_j.
        for name, member in self.members.items():
            s[name][:] = r["column_sums"][:, member].sum(axis=-1)
            first[name][:] = row0[:, member].sum(axis=-1)
        for name in ("entropy", "confidence"):
            s[name][:], first[name][:] = r[name], r[name + "0"]
        if "local_window" in first:
            # Causal rows i < LOCAL_WINDOW see only keys inside their window: those rows are left
            # out together (the weight they put on their window, kept apart here).
            first["local_window"][:] = r["lead"]

    def result(self):
        """metric -> float32 [layers, heads]; NaN where a metric does not apply to this input."""
        causal = self.causal and self.check_upper
        out = {}
        for name in METRICS:
            count = self.count.get(name, 0)
            total = self.sums[name]
            if causal and name == "local_window":
                count, total = count - min(LOCAL_WINDOW, self.shape[2]), total - self.row0[name]
            elif causal and self.row0_valid.get(name):
                # The first query of a causal record sees one key: its row is fixed, so it weighs 0.
                count, total = count - 1, total - self.row0[name]
            with np.errstate(invalid="ignore", divide="ignore"):
                out[name] = (total / count if count > 0 else np.full_like(total, np.nan)).astype(np.float32)
        return out

    def is_causal(self):
        """Whether every stored head put exactly zero weight above the diagonal (q == k >= 2)."""
        return bool(self.causal and self.check_upper)


def compute_patterns(attention, tokens, key_tokens=None, sentence_b_start=None, special_tokens=None):
    """Pattern scores of one example: metric name -> float32 `[layers, heads]` (see METRICS).

    `attention` is validated float32 `[layers, heads, q, k]` with rows summing to 1 (as
    `inputs.attention.prepare` returns it). `key_tokens` given means cross-attention: the
    positional metrics (POSITIONAL) are NaN and token-identity metrics compare query text with key
    text. A metric with no valid query for this input (e.g. `cls` without a [CLS] token) is NaN.
    """
    attention = np.asarray(attention)
    if attention.ndim != 4:
        raise ValueError("attention must be [layers, heads, q, k], got shape %s" % (attention.shape,))
    if 0 in attention.shape:
        raise ValueError("attention of shape %s is empty" % (attention.shape,))
    scorer = PatternScorer(attention.shape, tokens, key_tokens, sentence_b_start, special_tokens)
    for index, layer in enumerate(attention):
        scorer.add_layer(index, layer)
    return scorer.result()


def head_patterns(attention, tokens, sentence_b_start=None, special_tokens=None, **options):
    """Pattern scores (metric -> float32 `[layers, heads]`) of attention in any form
    `add_attention` accepts: Hugging Face `outputs.attentions`, `[L, H, Q, K]` or `[L, B, H, Q, K]`
    arrays or tensors. `options` are `add_attention`'s input options (`key_tokens`,
    `attention_mask`, `key_attention_mask`, `example`, `max_tokens`), read the same way.
    Raises ValueError/TypeError for bad input."""
    array, tokens, key_tokens, sentence_b_start = prepare(
        attention, tokens, sentence_b_start=sentence_b_start, **options
    )
    return compute_patterns(array, tokens, key_tokens, sentence_b_start, special_tokens)
