"""Head-pattern scores (tb_attention/analysis/scoring.py) against independent, direct computations: the
positional scores, the token classes and entropy."""

import math

import numpy as np
import pytest

from tb_attention.analysis import reductions, scoring
from tests.conftest import SEED_TOKENS
from tests.helpers.pattern_refs import class_score, random_attention, shift, stack

SEED_B_START = SEED_TOKENS.index("at")


# --------------------------------------------------------------------------- positional


def test_next_token_shift_matrix_scores_one_and_previous_zero():
    n = 7
    scores = scoring.compute_patterns(stack(shift(n, 1)), ["w%d" % i for i in range(n)])
    assert scores["next_token"][0, 0] == pytest.approx(1.0)
    assert scores["previous_token"][0, 0] == pytest.approx(0.0)
    # The last query has no next token and is left out rather than counted as 0.
    assert scores["self"][0, 0] == pytest.approx(1 / n)


def test_previous_token_shift_matrix():
    n = 5
    scores = scoring.compute_patterns(stack(shift(n, -1)), list("abcde"))
    assert scores["previous_token"][0, 0] == pytest.approx(1.0)
    assert scores["next_token"][0, 0] == pytest.approx(0.0)


def test_identity_is_self_same_token_confident_and_zero_entropy():
    n = 6
    scores = scoring.compute_patterns(stack(np.eye(n)), list("abcdef"))
    for name, expected in (("self", 1), ("same_token", 1), ("confidence", 1), ("entropy", 0)):
        assert scores[name][0, 0] == pytest.approx(expected, abs=1e-6), name
    assert scores["previous_token"][0, 0] == 0 and scores["next_token"][0, 0] == 0


def test_uniform_attention_entropy_is_log_n_and_confidence_one_over_n():
    n = 10
    scores = scoring.compute_patterns(stack(np.full((n, n), 1 / n)), ["t%d" % i for i in range(n)])
    assert scores["entropy"][0, 0] == pytest.approx(math.log(n), rel=1e-5)
    assert scores["confidence"][0, 0] == pytest.approx(1 / n, rel=1e-5)
    assert scores["next_token"][0, 0] == pytest.approx(1 / n, rel=1e-5)


def test_positional_metrics_match_direct_sums_on_random_heads():
    rng = np.random.default_rng(1)
    a = random_attention(rng, 2, 3, 9)
    scores = scoring.compute_patterns(a, ["w%d" % i for i in range(9)])
    for li in range(2):
        for h in range(3):
            m = a[li, h].astype(np.float64)
            assert scores["previous_token"][li, h] == pytest.approx(
                np.mean([m[i, i - 1] for i in range(1, 9)]), abs=1e-6
            )
            assert scores["next_token"][li, h] == pytest.approx(np.mean([m[i, i + 1] for i in range(8)]), abs=1e-6)
            assert scores["self"][li, h] == pytest.approx(np.mean([m[i, i] for i in range(9)]), abs=1e-6)
            assert scores["confidence"][li, h] == pytest.approx(np.mean(m.max(axis=1)), abs=1e-6)


def test_single_token_has_no_previous_or_next():
    scores = scoring.compute_patterns(np.ones((1, 1, 1, 1), np.float32), ["[CLS]"])
    assert np.isnan(scores["previous_token"]).all() and np.isnan(scores["next_token"]).all()
    assert scores["self"][0, 0] == 1 and scores["cls"][0, 0] == 1


# --------------------------------------------------------------------------- token classes


def test_all_weight_on_sep_is_full_delimiter_attention():
    n = len(SEED_TOKENS)
    a = np.zeros((n, n))
    a[:, SEED_TOKENS.index("[SEP]")] = 1.0
    scores = scoring.compute_patterns(stack(a), SEED_TOKENS, sentence_b_start=SEED_B_START)
    assert scores["delimiter"][0, 0] == pytest.approx(1.0)
    assert scores["sep"][0, 0] == pytest.approx(1.0)
    assert scores["cls"][0, 0] == pytest.approx(0.0)
    assert scores["punctuation"][0, 0] == pytest.approx(0.0)


def test_token_classes_match_explicit_loops():
    rng = np.random.default_rng(2)
    n = len(SEED_TOKENS)
    a = random_attention(rng, 2, 2, n, zeros=True)
    scores = scoring.compute_patterns(a, SEED_TOKENS, sentence_b_start=SEED_B_START)
    where = lambda *names: [j for j, t in enumerate(SEED_TOKENS) if t in names]  # noqa: E731
    for li in range(2):
        for h in range(2):
            m = a[li, h].astype(np.float64)
            assert scores["cls"][li, h] == pytest.approx(class_score(m, where("[CLS]")), abs=1e-6)
            assert scores["sep"][li, h] == pytest.approx(class_score(m, where("[SEP]")), abs=1e-6)
            assert scores["delimiter"][li, h] == pytest.approx(class_score(m, where("[CLS]", "[SEP]")), abs=1e-6)
            assert scores["punctuation"][li, h] == pytest.approx(class_score(m, where(".", ",")), abs=1e-6)


def test_missing_class_is_nan_not_zero():
    scores = scoring.compute_patterns(stack(np.eye(3)), ["hello", "big", "world"])
    for name in ("cls", "sep", "delimiter", "punctuation"):
        assert np.isnan(scores[name]).all(), name


def test_custom_special_tokens_and_sentencepiece_defaults():
    tokens = ["<s>", "▁hi", "<extra>", "</s>"]
    a = np.zeros((4, 4))
    a[:, 2] = 1.0
    assert scoring.compute_patterns(stack(a), tokens)["delimiter"][0, 0] == 0.0
    custom = scoring.compute_patterns(stack(a), tokens, special_tokens=["<extra>"])
    assert custom["delimiter"][0, 0] == pytest.approx(1.0)
    a[:] = 0
    a[:, 0], a[:, 3] = 0.25, 0.75
    scores = scoring.compute_patterns(stack(a), tokens)
    assert scores["cls"][0, 0] == pytest.approx(0.25) and scores["sep"][0, 0] == pytest.approx(0.75)
    assert scores["delimiter"][0, 0] == pytest.approx(1.0)


def test_punctuation_recognises_marked_and_unicode_punctuation():
    tokens = ["Ġ,", "▁.", "…", "word", "¿"]
    a = np.zeros((5, 5))
    a[:, [0, 1, 2, 4]] = 0.25
    assert scoring.compute_patterns(stack(a), tokens)["punctuation"][0, 0] == pytest.approx(1.0)


# --------------------------------------------------------------------------- entropy


def test_entropy_matches_direct_sum_with_zero_weights():
    rng = np.random.default_rng(7)
    a = random_attention(rng, 2, 2, 12, zeros=True)
    assert (a == 0).any()
    scores = scoring.compute_patterns(a, ["t%d" % i for i in range(12)])
    for li in range(2):
        for h in range(2):
            rows = a[li, h].astype(np.float64)
            expected = np.mean([-sum(p * math.log(p) for p in row if p > 0) for row in rows])
            assert scores["entropy"][li, h] == pytest.approx(expected, abs=1e-5)


def test_entropy_spans_heads_and_layers_independently():
    # 2 x 3 x 850 x 850 weights exceed _THREAD_MIN_WEIGHTS: row blocks and the threaded split.
    rng = np.random.default_rng(8)
    a = random_attention(rng, 2, 3, 850)
    assert a.size >= reductions._THREAD_MIN_WEIGHTS
    scores = scoring.compute_patterns(a, ["t%d" % i for i in range(850)])
    a64 = a.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(a64 > 0, a64 * np.log(a64), 0.0)
    np.testing.assert_allclose(scores["entropy"], -terms.sum(-1).mean(-1), rtol=1e-5)
    np.testing.assert_allclose(scores["confidence"], a64.max(-1).mean(-1), rtol=1e-6)
    np.testing.assert_allclose(scores["next_token"], np.diagonal(a64, 1, 2, 3).mean(-1), rtol=1e-5)
