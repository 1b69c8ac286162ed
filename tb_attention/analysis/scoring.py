"""Head-pattern scores: how much each head attends to the previous token, [SEP], itself, ...

Every metric is defined in docs/patterns.md (Clark et al. 2019, Kovaleva et al. 2019, Voita et
al. 2019, and the six patterns of the "Deconstructing BERT" head view). Every metric is a
per-(layer, head) reduction, so `PatternScorer` takes one layer at a time (the writer scores a
layer and lets it go) in numpy, or in torch on the layer's own device.
"""

import math

import numpy as np

from tb_attention.analysis import tokens as token_classes
from tb_attention.analysis.reductions import row_reductions, torch_layer_reductions
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
_DIAGONALS = {"previous_token": -1, "next_token": 1, "self": 0}


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


def _class_members(key_tokens, specials):
    """Key positions of each token class: delimiter, cls, sep, punctuation."""
    return {
        "delimiter": np.flatnonzero([t in specials for t in key_tokens]),
        "cls": np.flatnonzero([t in token_classes.CLS_TOKENS for t in key_tokens]),
        "sep": np.flatnonzero([t in token_classes.SEP_TOKENS for t in key_tokens]),
        "punctuation": np.flatnonzero([token_classes.is_punctuation(t) for t in key_tokens]),
    }


class PatternScorer:
    """The pattern scores of one input `[layers, heads, q, k]`, a layer at a time.

    `tokens` / `key_tokens` / `sentence_b_start` / `special_tokens` as for `compute_patterns`.
    `add_layer(l, layer)` takes layer `l` (float32 numpy `[heads, q, k]`, or a torch tensor on
    any device: reduced there); `result()` gives metric -> float32 `[layers, heads]`.
    """

    def __init__(self, shape, tokens, key_tokens=None, sentence_b_start=None, special_tokens=None, threads=None):
        layers, heads, q, k = (int(n) for n in shape)
        self.shape, self.threads = (layers, heads, q, k), threads
        self.tokens = inputs.check_tokens(tokens, q, "tokens", max_tokens=math.inf)
        self.cross = key_tokens is not None
        if self.cross:
            key_tokens = inputs.check_tokens(key_tokens, k, "key_tokens", max_tokens=math.inf)
        elif q != k:
            raise ValueError("attention has %d queries but %d keys: for cross-attention pass key_tokens" % (q, k))
        else:
            key_tokens = self.tokens
        sentence_b_start = inputs.check_sentence_b_start(sentence_b_start, q)
        specials = token_classes.check_specials(special_tokens)
        masks = _pair_masks(self.tokens, key_tokens, self.cross, sentence_b_start, specials)
        self.mask_names = list(masks)
        self.stacked = np.stack([masks[n].ravel() for n in self.mask_names])  # [masks, q * k]
        self.union = np.flatnonzero(self.stacked.any(axis=0))
        self.valid = {n: int(np.count_nonzero(masks[n].any(axis=1))) for n in self.mask_names}
        self.members = _class_members(key_tokens, specials)
        self.scores = {name: np.full((layers, heads), np.nan, dtype=np.float32) for name in METRICS}

    def _numpy_reductions(self, layer):
        heads, q, k = layer.shape
        diagonals = {}
        for offset in (-1, 0, 1):
            d = np.diagonal(layer, offset=offset, axis1=1, axis2=2)
            diagonals[offset] = d.mean(axis=-1, dtype=np.float64) if d.shape[-1] else None
        flat = layer.reshape(heads, q * k)
        if 4 * self.union.size < q * k:
            # Sparse (the usual case): gather the weights of every pair once (np.take is much faster
            # than fancy indexing here), then sum each metric's pairs with one small product.
            totals = np.take(flat, self.union, axis=1) @ self.stacked[:, self.union].T.astype(np.float32)
        else:
            # Dense (e.g. one token repeated throughout): one pass of a matrix product.
            totals = flat @ self.stacked.T.astype(np.float32)
        entropy, maximum, column_sums = row_reductions(layer[None], self.threads)
        return diagonals, totals, entropy[0].mean(-1, dtype=np.float64), maximum[0].mean(-1, dtype=np.float64), column_sums[0]

    def add_layer(self, index, layer, head_start=0):
        """Scores of layer `index`, heads `head_start` onwards (a layer may come in blocks of heads)."""
        if type(layer).__module__.split(".")[0] == "torch":
            reduced = torch_layer_reductions(layer, self.union, self.stacked)
        else:
            reduced = self._numpy_reductions(np.ascontiguousarray(layer, dtype=np.float32))
        diagonals, totals, entropy, confidence, column_sums = reduced
        q = self.shape[2]
        heads = slice(head_start, head_start + entropy.shape[0])
        s = {name: values[index, heads] for name, values in self.scores.items()}  # views
        if not self.cross:
            for name, offset in _DIAGONALS.items():
                if diagonals[offset] is not None:
                    s[name][:] = diagonals[offset]
        for c, name in enumerate(self.mask_names):
            if self.valid[name] and not (self.cross and name in POSITIONAL):
                s[name][:] = totals[:, c] / self.valid[name]
        # Token classes among the keys: mean_i sum_{j in T} a_ij = (1/q) sum_{j in T} colsum_j.
        for name, member in self.members.items():
            if member.size:
                s[name][:] = column_sums[:, member].sum(axis=-1) / q
        s["entropy"][:] = entropy
        s["confidence"][:] = confidence

    def result(self):
        """metric -> float32 [layers, heads]; NaN where a metric does not apply to this input."""
        return {name: self.scores[name].copy() for name in METRICS}


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
    array, tokens, key_tokens, sentence_b_start = inputs.prepare(
        attention, tokens, sentence_b_start=sentence_b_start, **options
    )
    return compute_patterns(array, tokens, key_tokens, sentence_b_start, special_tokens)
