"""Head-pattern scores: how much each head attends to the previous token, [SEP], itself, the
position after an earlier copy of the query's token (induction), the first position (sink), how
far back it reaches (span), ...

Every metric is defined in docs/patterns.md (Clark et al. 2019, Kovaleva et al. 2019, Voita et
al. 2019, the six patterns of the "Deconstructing BERT" head view, Olsson et al. 2022, Xiao et
al. 2023). Every metric is a per-(layer, head) sum over query rows, so `PatternScorer` takes a
block of rows of a few heads at a time (row_blocks.py), in numpy or in torch on the block's own
device, and builds nothing of size queries x keys. Causal records (nothing above the diagonal)
leave out the first query row, whose one visible key carries no information.
"""

import math
import numbers

import numpy as np

from tb_attention.analysis import pairs
from tb_attention.analysis import tokens as token_classes
from tb_attention.analysis.retrieval import parse_pairs
from tb_attention.analysis.row_blocks import BAND, LOCAL_WINDOW, BlockSpec, numpy_block, torch_block
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
    "retrieval",
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
    "span_mean",
    "span_p90",
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
    "retrieval",
    "local_window",
    "span_mean",
    "span_p90",
)
# In tokens, over the rows with non-sink weight (which rows count depends on the weights).
SPAN = ("span_mean", "span_p90")
_OFFSET = {offset: c for c, offset in enumerate(BAND)}


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
    """The pattern scores of one input `[layers, heads, q, k]`, a block of rows at a time.

    `tokens` / `key_tokens` / `sentence_b_start` / `special_tokens` as for `compute_patterns`.
    `add_block(layer, head_start, row_start, weights)` takes query rows `row_start ..` of heads
    `head_start ..` of layer `layer`: `weights` `[heads, rows, k]`, float32 numpy or a torch
    tensor (on a GPU reduced there; CPU tensors are read as numpy, or in torch with
    `torch_cpu=True`). The blocks of a head may come in any row order, each row once; nothing
    of size q x k is built. `retrieval`: the (query, needle key) positions of a needle probe
    (analysis/needle_probe.py), for the `retrieval` score (NaN without them). `add_layer` adds
    every row of a layer at once. `result()` gives metric -> float32 `[layers, heads]`, NaN for
    heads not given every row. Each metric is kept
    as a sum over its valid queries and their count, with the first row's share apart:
    `result()` leaves that row out when every stored head turned out causal.
    """

    def __init__(
        self,
        shape,
        tokens,
        key_tokens=None,
        sentence_b_start=None,
        special_tokens=None,
        threads=None,
        torch_cpu=False,
        retrieval=None,
    ):
        layers, heads, q, k = (int(n) for n in shape)
        self.shape, self.threads, self.torch_cpu = (layers, heads, q, k), threads, torch_cpu
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
        relations = pairs.token_relations(self.tokens, key_tokens, self.cross, sentence_b_start, specials)
        members = _class_members(key_tokens, specials)
        needle = parse_pairs(retrieval, q, k)
        self.spec = BlockSpec(list(relations.items()), list(members.items()), not self.cross, needle)
        # Valid queries of each metric, and whether the first query is one of them.
        self.count, self.row0_valid = self._valid_queries(q)
        # A causal record has q == k >= 2 and no weight above the diagonal in any stored head.
        self.check_upper = not self.cross and q >= 2
        self.causal = self.check_upper
        self.sums = {name: np.zeros((layers, heads)) for name in METRICS}
        self.row0 = {name: np.zeros((layers, heads)) for name in METRICS}
        self.span_count = np.zeros((layers, heads))  # the span's valid rows, per head
        self.rows_seen = np.zeros((layers, heads), dtype=np.int64)

    def _valid_queries(self, q):
        count = {"previous_token": q - 1, "next_token": q - 1, "self": q, "local_window": q, "entropy": q}
        row0 = {"previous_token": False, "next_token": q > 1, "self": True, "local_window": True, "entropy": True}
        count["confidence"], row0["confidence"] = q, True
        # Retrieval queries have an earlier key (the needle), so the first row is never one.
        count["retrieval"], row0["retrieval"] = (0 if self.spec.retrieval is None else len(self.spec.retrieval)), False
        for name, relation in self.spec.relations:
            valid = relation.valid()
            count[name], row0[name] = int(np.count_nonzero(valid)), bool(valid[0])
        for name, member in self.spec.members:
            count[name], row0[name] = (q if member.size else 0), True
        if self.cross:
            for name in POSITIONAL:
                count[name] = 0
        return count, row0

    def _check_block(self, layer, head_start, row_start, shape):
        layers, heads, q, k = self.shape
        if len(shape) != 3 or 0 in shape:
            raise ValueError("a block of attention must be [heads, rows, keys], got shape %s" % (shape,))
        if shape[2] != k:
            raise ValueError("the block has %d keys but the attention has %d" % (shape[2], k))
        for what, start, size, limit in (
            ("layer", layer, 1, layers),
            ("head", head_start, shape[0], heads),
            ("row", row_start, shape[1], q),
        ):
            if isinstance(start, bool) or not isinstance(start, numbers.Integral):
                raise TypeError("the %s index must be an int, got %r" % (what, start))
            if start < 0 or start + size > limit:
                raise ValueError("%ss %d..%d are outside the attention's %d" % (what, start, start + size - 1, limit))
        if (self.rows_seen[layer, head_start : head_start + shape[0]] + shape[1] > q).any():
            raise ValueError("layer %d: more than its %d query rows added to a head (add each row once)" % (layer, q))

    def add_block(self, layer, head_start, row_start, weights):
        """Scores of query rows `row_start ..` of heads `head_start ..` of layer `layer`, from
        `weights` `[heads, rows, k]` (see the class)."""
        shape = tuple(int(n) for n in weights.shape)
        self._check_block(layer, head_start, row_start, shape)
        check = self.check_upper and self.causal
        if type(weights).__module__.split(".")[0] == "torch":
            if self.torch_cpu or weights.device.type != "cpu":
                return self._accumulate(layer, head_start, row_start, torch_block(weights, row_start, self.spec, check))
            weights = weights.detach().float().numpy()  # float32 CPU tensors are not copied
        weights = np.ascontiguousarray(weights, dtype=np.float32)
        self._accumulate(layer, head_start, row_start, numpy_block(weights, row_start, self.spec, check, self.threads))

    def add_layer(self, index, layer, head_start=0):
        """Scores of every row of layer `index`, heads `head_start` onwards (a layer may come in
        blocks of heads)."""
        self.add_block(index, head_start, 0, layer)

    def _accumulate(self, layer, head_start, row_start, r):
        heads = slice(head_start, head_start + r["entropy"].shape[0])
        s = {name: values[layer, heads] for name, values in self.sums.items()}  # views
        if r["upper"]:
            self.causal = False
        if self.spec.positional:
            band = r["band"]
            for name, offset in (("previous_token", -1), ("self", 0), ("next_token", 1)):
                s[name] += band[:, _OFFSET[offset]]
            s["local_window"] += band[:, : _OFFSET[0] + 1].sum(axis=1)
            for name in SPAN:
                s[name] += r[name]
            self.span_count[layer, heads] += r["span_count"]
            if r.get("retrieval") is not None:
                s["retrieval"] += r["retrieval"]
            # Causal rows i < LOCAL_WINDOW see only keys inside their window: those rows are left
            # out together (the weight they put on their window, kept apart here).
            self.row0["local_window"][layer, heads] += r["lead"]
        for c, (name, _) in enumerate(self.spec.relations):
            s[name] += r["pairs"][:, c]
        for c, (name, _) in enumerate(self.spec.members):
            s[name] += r["classes"][:, c]
        for name in ("entropy", "confidence"):
            s[name] += r[name]
        if row_start == 0:
            self._first_row(layer, heads, r)
        self.rows_seen[layer, heads] += r["rows"]

    def _first_row(self, layer, heads, r):
        """The first query row's share of each metric, left out of causal records."""
        first = {name: values[layer, heads] for name, values in self.row0.items()}  # views
        row0 = r["row0"]
        if self.spec.positional:
            first["self"][:] = row0[:, 0]
            if row0.shape[1] > 1:
                first["next_token"][:] = row0[:, 1]
        for name, relation in self.spec.relations:
            first[name][:] = row0[:, relation.flat_pairs(0, 1)].sum(axis=-1)
        for name, member in self.spec.members:
            first[name][:] = row0[:, member].sum(axis=-1)
        for name in ("entropy", "confidence"):
            first[name][:] = r[name + "0"]

    def result(self):
        """metric -> float32 [layers, heads]; NaN where a metric does not apply to this input, and
        for heads not given every query row."""
        causal = self.causal and self.check_upper
        complete = self.rows_seen == self.shape[2]
        out = {}
        for name in METRICS:
            total = self.sums[name]
            if name in SPAN:
                count = self.span_count * (not self.cross)
            else:
                count = self.count.get(name, 0)
                if causal and name == "local_window":
                    count, total = count - min(LOCAL_WINDOW, self.shape[2]), total - self.row0[name]
                elif causal and self.row0_valid.get(name):
                    # The first query of a causal record sees one key: its row is fixed, so it weighs 0.
                    count, total = count - 1, total - self.row0[name]
                count = np.full(total.shape, count, dtype=np.float64)
            score = total / np.where(count > 0, count, 1)
            out[name] = np.where((count > 0) & complete, score, np.nan).astype(np.float32)
        return out

    def is_causal(self):
        """Whether every stored head put exactly zero weight above the diagonal (q == k >= 2)."""
        return bool(self.causal and self.check_upper)


def compute_patterns(attention, tokens, key_tokens=None, sentence_b_start=None, special_tokens=None, retrieval=None):
    """Pattern scores of one example: metric name -> float32 `[layers, heads]` (see METRICS).

    `attention` is validated float32 `[layers, heads, q, k]` with rows summing to 1 (as
    `inputs.attention.prepare` returns it). `key_tokens` given means cross-attention: the positional metrics
    (POSITIONAL) are NaN and token-identity metrics compare query text with key text. A metric
    with no valid query for this input (e.g. `cls` without a [CLS] token) is NaN. `retrieval`:
    a needle probe's (query, needle key) positions (`retrieval` is NaN without them).
    """
    attention = np.asarray(attention)
    if attention.ndim != 4:
        raise ValueError("attention must be [layers, heads, q, k], got shape %s" % (attention.shape,))
    if 0 in attention.shape:
        raise ValueError("attention of shape %s is empty" % (attention.shape,))
    scorer = PatternScorer(attention.shape, tokens, key_tokens, sentence_b_start, special_tokens, retrieval=retrieval)
    for index, layer in enumerate(attention):
        scorer.add_layer(index, layer)
    return scorer.result()


def head_patterns(attention, tokens, sentence_b_start=None, special_tokens=None, retrieval=None, **options):
    """Pattern scores (metric -> float32 `[layers, heads]`) of attention in any form
    `add_attention` accepts: Hugging Face `outputs.attentions`, `[L, H, Q, K]` or `[L, B, H, Q, K]`
    arrays or tensors. `options` are `add_attention`'s input options (`key_tokens`,
    `attention_mask`, `key_attention_mask`, `example`, `max_tokens`), read the same way;
    `retrieval` a needle probe's pairs (e.g. `needle_probe(...).retrieval`), positions in the
    tokens as logged (padding dropped). Raises ValueError/TypeError for bad input."""
    array, tokens, key_tokens, sentence_b_start = prepare(
        attention, tokens, sentence_b_start=sentence_b_start, **options
    )
    return compute_patterns(array, tokens, key_tokens, sentence_b_start, special_tokens, retrieval)
