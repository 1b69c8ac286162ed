"""Attention span (span_mean, span_p90: how far back attention reaches, in tokens, the sink
left out) against its definition, on heads whose span is known, and beside the labels."""

import numpy as np
import pytest

from tb_attention.analysis import labels, scoring
from tb_attention.analysis.formed import formed_heads
from tests.helpers.pattern_refs import random_attention, span_reference

TOKENS = ["<s>"] + ["t%d" % (i % 7) for i in range(1, 120)]
N = len(TOKENS)


def _causal(rng, heads, n, allowed):
    """Causal rows with random (Dirichlet) weights on the keys allowed[i, j] (and j <= i)."""
    a = rng.dirichlet(np.full(n, 0.5), size=(heads, n)) * (allowed & np.tri(n, dtype=bool))
    a[..., 0] += a.sum(-1) == 0
    return (a / a.sum(-1, keepdims=True)).astype(np.float32)


def _both(a, tokens):
    return scoring.compute_patterns(a[None], tokens)


@pytest.mark.parametrize("window", [1, 4, 16, 33])
def test_a_sliding_window_head_reaches_at_most_its_window(window):
    rng = np.random.default_rng(window)
    q = np.arange(N)
    inside = (q[:, None] - q[None, :] < window) | (q[None, :] == 0)  # the window, and a sink
    a = _causal(rng, 3, N, inside)
    scores = _both(a, TOKENS)
    assert (scores["span_p90"] <= window - 1).all() and (scores["span_mean"] <= window - 1).all()
    for h in range(3):
        mean, p90 = span_reference(a[h], causal=True)
        assert scores["span_mean"][0, h] == pytest.approx(mean, rel=1e-6, abs=1e-6)
        assert scores["span_p90"][0, h] == pytest.approx(p90, abs=1e-6)
    if window > 1:
        assert scores["span_p90"].max() > (window - 1) / 2  # random weights fill the window


def test_a_previous_token_head_reaches_about_one_token():
    a = np.zeros((1, N, N), np.float32)
    q = np.arange(1, N)
    a[0, 0, 0] = 1
    a[0, q, 0], a[0, q, q - 1], a[0, q, q] = 0.3, 0.65, 0.05  # a sink, then mostly the previous token
    a[0, 1, 0] += a[0, 1, 0]  # row 1's previous token is the sink: only itself is left
    a[0, 1] /= a[0, 1].sum()
    scores = _both(a, TOKENS)
    assert scores["previous_token"][0, 0] > 0.6
    assert scores["span_p90"][0, 0] == pytest.approx((N - 2) / (N - 1))  # 1, and 0 for row 1
    assert scores["span_mean"][0, 0] == pytest.approx(np.mean([0] + [0.65 / 0.7] * (N - 2)), rel=1e-5)


def test_the_packaged_previous_token_head_has_span_about_one(seed_attention):
    attentions, tokens, sentence_b_start = seed_attention
    scores = scoring.head_patterns(attentions, tokens, sentence_b_start)
    layer, head = np.unravel_index(np.argmax(scores["previous_token"]), scores["previous_token"].shape)
    att = attentions[layer][0, head].double().numpy()
    mean, p90 = span_reference(att, causal=False)
    assert scores["span_mean"][layer, head] == pytest.approx(mean, rel=1e-5)
    assert scores["span_p90"][layer, head] == pytest.approx(p90)
    # Rows 0 ([CLS]) and 1 ("i", whose previous token is the sink) keep almost nothing off the
    # sink, and the remainder, renormalised, is spread; every other row reaches one token back.
    rest = att[None, None].astype(np.float32).copy()
    rest[..., :2, :] = 0
    rest[..., :2, 0] = 1  # all on the sink: left out
    scores = scoring.compute_patterns(rest, tokens, sentence_b_start=sentence_b_start)
    assert scores["span_p90"][0, 0] == 1.0
    assert scores["span_mean"][0, 0] == pytest.approx(1.0, abs=0.02)


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("n", [2, 17, 150])
def test_span_equals_the_definition_on_random_attention(causal, n):
    rng = np.random.default_rng(n)
    a = random_attention(rng, 2, 3, n, zeros=True)
    if causal:
        a = _causal(rng, 6, n, np.ones((n, n), bool)).reshape(2, 3, n, n)
    a[0, 0, n // 2] = 0
    a[0, 0, n // 2, 0] = 1  # a row all on the sink: left out
    tokens = ["<s>"] + ["w%d" % i for i in range(n - 1)]
    scores = scoring.compute_patterns(a, tokens)
    for layer in range(2):
        for h in range(3):
            mean, p90 = span_reference(a[layer, h], causal)
            np.testing.assert_allclose(scores["span_mean"][layer, h], mean, rtol=1e-6, atol=1e-6)
            np.testing.assert_allclose(scores["span_p90"][layer, h], p90, atol=1e-6)


def test_an_exact_tie_at_ninety_percent_reaches_it():
    n = 11
    a = np.zeros((1, n, n), np.float32)
    a[0, :, 0] = 1
    a[0, n - 1] = 0
    a[0, n - 1, 1:] = 0.1  # the last query: uniform over 10 non-sink keys, 0.9 after 9 of them
    scores = scoring.compute_patterns(a[None], ["<s>"] + ["w%d" % i for i in range(n - 1)])
    assert scores["span_p90"][0, 0] == 8 and scores["span_mean"][0, 0] == pytest.approx(4.5)


def test_span_is_nan_for_cross_attention_and_rows_all_on_the_sink():
    rng = np.random.default_rng(1)
    cross = scoring.compute_patterns(random_attention(rng, 1, 2, 3, 5), list("abc"), key_tokens=list("vwxyz"))
    assert np.isnan(cross["span_mean"]).all() and np.isnan(cross["span_p90"]).all()
    sink = np.zeros((1, 1, 4, 4), np.float32)
    sink[..., 0] = 1
    scores = scoring.compute_patterns(sink, list("abcd"))
    assert np.isnan(scores["span_mean"]).all() and scores["sink"][0, 0] == 1


def test_span_has_no_label_and_formed_heads_skip_it():
    assert {"span_mean", "span_p90"} <= set(scoring.METRICS)  # listed in /patterns' rules.metrics
    assert not [rule for _, rule in labels.active_rules() if rule[0].startswith("span")]
    rng = np.random.default_rng(2)
    scores = scoring.compute_patterns(random_attention(rng, 1, 2, 30), ["w%d" % i for i in range(30)])
    assert labels.label_heads(scores).shape == (1, 2)
    early = {name: np.zeros((1, 2), np.float32) for name in scores}
    late = {name: values.copy() for name, values in early.items()}
    late["span_mean"][:] = late["span_p90"][:] = 500.0  # far above every label's threshold
    late["previous_token"][0, 1] = 0.9
    formed = formed_heads([0, 10], [early, late])
    assert [(e["label"], e["head"]) for e in formed["formed"]] == [("previous_token", 1)]
    with pytest.raises(ValueError, match="unknown label"):
        labels.label_heads(scores, {"span_mean": 10})


def test_a_model_with_a_sliding_window_reaches_at_most_its_window(tmp_path):
    """A tiny Mistral (sliding window 7) through the capture: every head's span is at most 6,
    the window's farthest key, and the record says the window."""
    import tb_attention
    from tb_attention.analysis.induction_probe import TokenProbe
    from tests.helpers.tiny_models import Tokens, tiny_inputs, tiny_model

    class Tokenizer(Tokens):
        def __call__(self, *args, **kwargs):
            raise AssertionError("token ids are not tokenised")

    ids = tiny_inputs("mistral", length=60)["input_ids"][0].tolist()
    logger = tb_attention.ProbeLogger(Tokenizer(), {"ids": TokenProbe("ids", ids)})
    logger.log(tiny_model("mistral"), 0, str(tmp_path), True)
    tb_attention.flush()
    [record] = tb_attention.read_attention(str(tmp_path))
    assert record.windows == [7, 7]
    assert (record.patterns["span_p90"] <= 6).all() and (record.patterns["span_mean"] <= 6).all()
    assert record.patterns["span_p90"].max() >= 4  # random heads spread over the window
