"""Scoring a layer row block by row block (PatternScorer.add_block) gives the scores of the whole
attention (compute_patterns), in numpy and in torch, in any row order, without q x k arrays."""

import tracemalloc

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tb_attention.analysis import scoring
from tests.helpers.pattern_refs import random_attention

VOCAB = ["[CLS]", "[SEP]", "<s>", "a", "b", "Ġa", "Ġb", "##x", "▁c", "c", ".", ",", "[PAD]"]


def _input(rng, layers, heads, q, causal, cross):
    """Random attention [L, H, q, k] and its tokens; causal ones with exact zeros above the
    diagonal, some rows all on the sink."""
    k = int(rng.integers(1, 30)) if cross else q
    a = random_attention(rng, layers, heads, q, k, zeros=k > 2 and bool(rng.random() < 0.5))
    if causal and not cross:
        a = np.tril(a)
        a[..., 0] += a.sum(-1) == 0  # a row whose visible weight was all zeroed
        a /= a.sum(-1, keepdims=True)
    sink_rows = rng.random(a.shape[:3]) < 0.1
    a[sink_rows] = 0
    a[..., 0][sink_rows] = 1
    tokens = list(rng.choice(VOCAB, q))
    key_tokens = list(rng.choice(VOCAB, k)) if cross else None
    sentence_b_start = int(rng.integers(1, q)) if q > 1 and not cross and rng.random() < 0.5 else None
    return a.astype(np.float32), tokens, key_tokens, sentence_b_start


def _blocks(rng, layers, heads, q):
    """Every (layer, head range, row range) of a random partition, in a random order."""
    units = []
    for layer in range(layers):
        cuts = sorted(set(rng.integers(1, heads, size=int(rng.integers(0, heads))).tolist()))
        for h0, h1 in zip([0] + cuts, cuts + [heads]):
            rows = sorted(set(rng.integers(1, q, size=int(rng.integers(0, q))).tolist())) if q > 1 else []
            units += [(layer, h0, h1, r0, r1) for r0, r1 in zip([0] + rows, rows + [q])]
    return [units[i] for i in rng.permutation(len(units))]


def _assert_same(got, expected, span_rtol):
    for name in scoring.METRICS:
        np.testing.assert_array_equal(np.isnan(got[name]), np.isnan(expected[name]), err_msg=name)
        rtol = span_rtol if name in scoring.SPAN else 0
        np.testing.assert_allclose(got[name], expected[name], rtol=rtol, atol=1e-6, equal_nan=True, err_msg=name)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 2),
    st.integers(1, 4),
    st.integers(1, 40),
    st.booleans(),
    st.sampled_from([False, False, False, True]),
    st.integers(0, 2**32 - 1),
)
@example(1, 1, 2, False, False, 1)  # not causal, yet its only upper weight is zero (a sink row)
def test_row_blocks_in_any_order_give_the_whole_attention_scores(layers, heads, q, causal, cross, seed):
    import torch

    rng = np.random.default_rng(seed)
    a, tokens, key_tokens, sentence_b_start = _input(rng, layers, heads, q, causal, cross)
    expected = scoring.compute_patterns(a, tokens, key_tokens, sentence_b_start)
    for torch_cpu in (False, True):
        scorer = scoring.PatternScorer(a.shape, tokens, key_tokens, sentence_b_start, torch_cpu=torch_cpu)
        for layer, h0, h1, r0, r1 in _blocks(rng, layers, heads, q):
            block = np.ascontiguousarray(a[layer, h0:h1, r0:r1])
            scorer.add_block(layer, h0, r0, torch.from_numpy(block) if torch_cpu else block)
        # Causal as the data says: a non-causal input whose few upper weights were all zeroed
        # (say q = 2, its first row all on the sink) is causal too.
        zero_above = not cross and q >= 2 and not np.triu(a, 1).any()
        assert scorer.is_causal() == zero_above
        assert zero_above or not causal or cross or q < 2
        _assert_same(scorer.result(), expected, 1e-5 if torch_cpu else 1e-6)


def test_a_head_missing_rows_is_nan_and_rows_are_added_once():
    rng = np.random.default_rng(0)
    a = random_attention(rng, 1, 2, 6)
    scorer = scoring.PatternScorer(a.shape, list("abcdef"))
    scorer.add_block(0, 0, 0, a[0, :, :4])
    scorer.add_block(0, 1, 4, a[0, 1:, 4:])
    got = scorer.result()
    assert np.isnan(got["entropy"][0, 0]) and np.isfinite(got["entropy"][0, 1])
    with pytest.raises(ValueError, match="each row once"):
        scorer.add_block(0, 0, 0, a[0, :, :3])


@pytest.mark.parametrize(
    "args, error, message",
    [
        ((1, 0, 0, np.zeros((2, 3, 6), np.float32)), ValueError, "layers 1..1 are outside"),
        ((0, 1, 0, np.zeros((2, 3, 6), np.float32)), ValueError, "heads 1..2 are outside"),
        ((0, 0, 4, np.zeros((2, 3, 6), np.float32)), ValueError, "rows 4..6 are outside"),
        ((0, 0, 0, np.zeros((2, 3, 5), np.float32)), ValueError, "5 keys but the attention has 6"),
        ((0, 0, 0, np.zeros((3, 6), np.float32)), ValueError, r"\[heads, rows, keys\]"),
        ((0, 0, 1.0, np.zeros((2, 3, 6), np.float32)), TypeError, "row index must be an int"),
    ],
)
def test_add_block_names_bad_blocks(args, error, message):
    scorer = scoring.PatternScorer((1, 2, 6, 6), list("abcdef"))
    with pytest.raises(error, match=message):
        scorer.add_block(*args)


def _llm_block(heads, n, r0, r1, seed=0):
    """Rows r0..r1 of a causal, sink-heavy softmax attention, made without the whole matrix."""
    rng = np.random.default_rng([seed, r0])
    logits = rng.standard_normal((heads, r1 - r0, n)).astype(np.float32)
    logits[..., 0] += 4.0
    logits[:, np.arange(n)[None, :] > np.arange(r0, r1)[:, None]] = -np.inf
    weights = np.exp(logits - logits.max(-1, keepdims=True))
    return weights / weights.sum(-1, keepdims=True)


def test_row_block_scoring_never_holds_queries_x_keys():
    n, rows = 4096, 64
    tokens = ["<s>"] + ["Ġw%d" % (i % 50) for i in range(n - 1)]  # repeats: many token pairs
    scorer = scoring.PatternScorer((1, 1, n, n), tokens)
    tracemalloc.start()
    peak = 0
    for r0 in range(0, n, rows):
        block = _llm_block(1, n, r0, r0 + rows)
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        scorer.add_block(0, 0, r0, block)
        peak = max(peak, tracemalloc.get_traced_memory()[1] - base)
        del block
    tracemalloc.stop()
    # A q x k boolean mask alone would be 16 MiB; one block of weights is 1 MiB.
    assert peak < 4 * rows * n * 4, peak
    result = scorer.result()
    assert scorer.is_causal() and np.isfinite(result["span_p90"]).all()
