"""The LLM head metrics (induction, duplicate token, sink, local window) and causal-row weighting
(tb_attention/analysis/scoring.py) against hand-built heads, direct loops and a real Llama."""

import math

import numpy as np
import pytest

from tb_attention.analysis import labels, scoring
from tests.helpers.pattern_refs import random_attention

N = 6  # random tokens per copy
RANDOM = ["t%d" % i for i in (17, 4, 42, 8, 23, 15)]
TOKENS = ["<s>"] + RANDOM + RANDOM  # the induction probe's layout: BOS, r, r
Q = len(TOKENS)


def causal_rows(targets):
    """[Q, Q] one-hot rows: row i on key targets(i) (must be <= i)."""
    a = np.zeros((Q, Q), np.float32)
    for i in range(Q):
        a[i, targets(i)] = 1.0
    return a


def second_copy(i):
    return i > N


def test_a_perfect_induction_head_scores_exactly_one():
    # Second copy: the token after the earlier occurrence (i - N + 1); elsewhere the BOS.
    induction = causal_rows(lambda i: i - N + 1 if second_copy(i) else 0)
    duplicate = causal_rows(lambda i: i - N if second_copy(i) else 0)
    previous = causal_rows(lambda i: max(i - 1, 0))
    scores = scoring.compute_patterns(np.stack([induction, duplicate, previous])[None], TOKENS)
    assert scores["induction"][0].tolist() == [1.0, 0.0, pytest.approx(0.0)]
    assert scores["duplicate_token"][0].tolist() == [0.0, 1.0, pytest.approx(0.0)]
    assert scores["previous_token"][0, 2] == 1.0
    named = labels.label_heads(scores)
    assert named[0].tolist() == ["induction", "duplicate_token", "previous_token"]


def test_induction_and_duplicate_match_direct_loops_and_transformerlens():
    rng = np.random.default_rng(1)
    a = np.tril(random_attention(rng, 1, 3, Q)[0])
    a /= a.sum(-1, keepdims=True)
    scores = scoring.compute_patterns(a[None], TOKENS)
    for h in range(3):
        m = a[h].astype(np.float64)
        ind, dup = [], []
        for i in range(Q):
            earlier = [p for p in range(i) if TOKENS[p] == TOKENS[i] and TOKENS[i] != "<s>"]
            if earlier:
                ind.append(sum(m[i, p + 1] for p in earlier))
                dup.append(sum(m[i, p] for p in earlier))
        assert scores["induction"][0, h] == pytest.approx(np.mean(ind), abs=1e-6)
        assert scores["duplicate_token"][0, h] == pytest.approx(np.mean(dup), abs=1e-6)
        # TransformerLens's head detector ("mul") divides by every row instead of the valid ones.
        detection = np.zeros((Q, Q))
        for i in range(N + 1, Q):
            detection[i, i - N + 1] = 1
        tl = (m * detection).sum() / m.sum()
        assert scores["induction"][0, h] == pytest.approx(tl * Q / N, abs=1e-6)


def test_identity_of_tokens_is_exact_text_and_specials_are_not_copies():
    tokens = ["[CLS]", "Ġcat", "cat", "Ġcat", "[SEP]", "[SEP]"]
    a = causal_rows(lambda i: 0)[:6, :6]
    a[3] = 0
    a[3, 1] = 1.0  # "Ġcat" -> its earlier copy "Ġcat", not "cat"
    a[5] = 0
    a[5, 4] = 1.0  # [SEP] -> [SEP] is a delimiter pattern, not a duplicate
    scores = scoring.compute_patterns(a[None, None], tokens)
    assert scores["duplicate_token"][0, 0] == 1.0  # one valid query (position 3), fully on its copy
    assert scores["induction"][0, 0] == 0.0


def test_sink_and_local_window():
    sink = causal_rows(lambda i: 0)
    local = np.tril(np.ones((Q, Q), np.float32)) - np.tril(np.ones((Q, Q), np.float32), -scoring.LOCAL_WINDOW)
    local /= local.sum(-1, keepdims=True)
    scores = scoring.compute_patterns(np.stack([sink, local])[None], TOKENS)
    # Causal rows i < 8 see only keys inside their window and are left out: from row 8 on, the
    # sink head's key 0 is outside the window.
    assert scores["sink"][0, 0] == 1.0 and scores["local_window"][0, 0] == 0.0
    assert scores["local_window"][0, 1] == pytest.approx(1.0, abs=1e-6)
    expected_sink = np.mean([local[i, 0] for i in range(1, Q)])  # row 0 left out (causal)
    assert scores["sink"][0, 1] == pytest.approx(expected_sink, abs=1e-6)
    assert labels.label_heads(scores)[0].tolist() == ["cls", "local_window"]  # <s> is CLS-like, and the sink
    assert "sink" in labels.head_labels_all(scores)[0][0]


def test_causal_records_leave_the_one_key_row_out():
    rng = np.random.default_rng(2)
    a = np.tril(random_attention(rng, 2, 2, Q))
    a /= a.sum(-1, keepdims=True)
    scores = scoring.compute_patterns(a, TOKENS)
    rows = range(1, Q)  # row 0 sees only itself: weight 0
    for li in range(2):
        for h in range(2):
            m = a[li, h].astype(np.float64)
            entropy = np.mean([-sum(p * math.log(p) for p in m[i] if p > 0) for i in rows])
            assert scores["entropy"][li, h] == pytest.approx(entropy, abs=1e-5)
            assert scores["self"][li, h] == pytest.approx(np.mean([m[i, i] for i in rows]), abs=1e-6)
            assert scores["delimiter"][li, h] == pytest.approx(np.mean([m[i, 0] for i in rows]), abs=1e-6)
            assert scores["confidence"][li, h] == pytest.approx(np.mean([m[i].max() for i in rows]), abs=1e-6)
            w = scoring.LOCAL_WINDOW  # rows whose visible keys all lie in the window carry no information
            local = np.mean([m[i, i - w + 1 : i + 1].sum() for i in range(w, Q)])
            assert scores["local_window"][li, h] == pytest.approx(local, abs=1e-6)
            assert scores["same_token"][li, h] == pytest.approx(
                np.mean([sum(m[i, j] for j in range(Q) if TOKENS[j] == TOKENS[i]) for i in rows]), abs=1e-6
            )
    # One weight above the diagonal in one head: not causal, so row 0 counts again.
    b = a.copy()
    b[1, 1, 2, 3] = 1e-3
    b[1, 1, 2] /= b[1, 1, 2].sum()
    full = scoring.compute_patterns(b, TOKENS)
    m = b[0, 0].astype(np.float64)
    assert full["self"][0, 0] == pytest.approx(np.mean([m[i, i] for i in range(Q)]), abs=1e-6)


def test_cross_attention_has_no_positional_llm_metrics_but_a_sink():
    rng = np.random.default_rng(3)
    a = random_attention(rng, 1, 2, 4, 6)
    scores = scoring.compute_patterns(a, ["a", "b", "a", "b"], key_tokens=["<s>", "a", "b", "a", "b", "</s>"])
    for name in ("induction", "duplicate_token", "local_window"):
        assert np.isnan(scores[name]).all(), name
    np.testing.assert_allclose(scores["sink"], a[..., 0].mean(-1), atol=1e-6)


def _tiny_llama():
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
        attn_implementation="eager",
    )
    return LlamaForCausalLM(config).eval()


def test_sink_on_a_tiny_llama_is_exact():
    import torch

    model = _tiny_llama()
    ids = torch.tensor([[1] + list(range(5, 25))])
    with torch.no_grad():
        attentions = model(ids, output_attentions=True).attentions
    tokens = ["<s>"] + ["t%d" % i for i in range(5, 25)]
    scores = scoring.head_patterns(attentions, tokens)
    att = torch.stack([layer[0] for layer in attentions]).double().numpy()  # [L, H, q, q]
    assert np.triu(att, 1).max() == 0  # eager causal attention: exact zeros above the diagonal
    expected = att[:, :, 1:, 0].mean(-1)  # position 0's share, the one-key row 0 left out
    np.testing.assert_allclose(scores["sink"], expected, atol=1e-6)
    np.testing.assert_allclose(scores["cls"], expected, atol=1e-6)  # <s> is the only CLS-like token
    entropy = -(np.where(att > 0, att * np.log(np.where(att > 0, att, 1)), 0)).sum(-1)[:, :, 1:].mean(-1)
    np.testing.assert_allclose(scores["entropy"], entropy, atol=1e-5)


def test_torch_path_gives_the_numpy_scores_for_causal_records():
    import torch

    rng = np.random.default_rng(4)
    a = np.tril(random_attention(rng, 2, 4, Q))
    a = (a / a.sum(-1, keepdims=True)).astype(np.float32)
    expected = scoring.compute_patterns(a, TOKENS)
    scorer = scoring.PatternScorer(a.shape, TOKENS, torch_cpu=True)
    for index, layer in enumerate(a):
        scorer.add_layer(index, torch.from_numpy(layer[:2]), 0)  # in blocks of heads, as the writer does
        scorer.add_layer(index, torch.from_numpy(layer[2:]), 2)
    assert scorer.is_causal()
    got = scorer.result()
    for name in scoring.METRICS:
        np.testing.assert_allclose(got[name], expected[name], atol=2e-5, equal_nan=True, err_msg=name)


def test_scores_of_records_written_before_the_new_metrics_still_label(tmp_path):
    from tb_attention.format.scores import scores_from_json, scores_to_json

    old = {name: np.array([[0.1, 0.7]], np.float32) for name in scoring.METRICS[:3]}  # an old metric set
    back = scores_from_json(scores_to_json(old))
    assert set(back) == set(old)
    assert labels.label_heads(back)[0].tolist() == ["mixed", "previous_token"]


def test_causal_detection_finds_any_weight_above_the_diagonal():
    from tb_attention.analysis.reductions import upper_nonzero

    a = np.tril(np.ones((2, 150, 150), np.float32))
    assert not upper_nonzero(a)
    for i, j in ((3, 140), (100, 101), (0, 1), (148, 149), (70, 127)):
        b = a.copy()
        b[1, i, j] = 1e-30  # beyond a block of rows, or inside its diagonal square
        assert upper_nonzero(b), (i, j)
