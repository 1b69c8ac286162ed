"""Head-pattern scores (tb_attention/patterns.py) against independent, direct computations."""

import json
import math
import pathlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tb_attention import patterns
from tests.conftest import SEED_TOKENS

ROOT = pathlib.Path(__file__).resolve().parents[1]
SEED_B_START = SEED_TOKENS.index("at")


def stack(*heads, layers=1):
    """float32 [layers, len(heads), n, n] with the given [n, n] head matrices in every layer."""
    one = np.stack([np.asarray(h, dtype=np.float32) for h in heads])
    return np.ascontiguousarray(np.broadcast_to(one, (layers,) + one.shape))


def random_attention(rng, layers, heads, q, k=None, zeros=False):
    """Softmax-like rows (Dirichlet), optionally with exact zeros, as float32 [L, H, q, k]."""
    a = rng.dirichlet(np.full(k or q, 0.3), size=(layers, heads, q))
    if zeros:
        a[a < np.quantile(a, 0.3)] = 0.0
        a /= a.sum(-1, keepdims=True)
    return a.astype(np.float32)


def shift(n, offset):
    """All weight on key i + offset; rows without such a key attend to themselves."""
    a = np.zeros((n, n))
    for i in range(n):
        j = i + offset
        a[i, j if 0 <= j < n else i] = 1.0
    return a


def class_score(a, members):
    """Clark et al.: mean over queries of the weight on keys in `members`, by explicit loops."""
    q = a.shape[0]
    return sum(sum(a[i, j] for j in members) for i in range(q)) / q


def pair_score(a, related):
    """Mean over queries with a related key of sum_{j related to i} a_ij; NaN if none has."""
    per_query = []
    for i in range(a.shape[0]):
        js = [j for j in range(a.shape[1]) if related(i, j)]
        if js:
            per_query.append(sum(a[i, j] for j in js))
    return sum(per_query) / len(per_query) if per_query else math.nan


def js_reference(p, q):
    """Jensen-Shannon divergence of two rows, float64, natural log, 0 log 0 = 0."""
    p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
    m = (p + q) / 2

    def kl(x):
        keep = x > 0
        return float(np.sum(x[keep] * np.log(x[keep] / m[keep])))

    return (kl(p) + kl(q)) / 2


# --------------------------------------------------------------------------- positional


def test_next_token_shift_matrix_scores_one_and_previous_zero():
    n = 7
    scores = patterns.compute_patterns(stack(shift(n, 1)), ["w%d" % i for i in range(n)])
    assert scores["next_token"][0, 0] == pytest.approx(1.0)
    assert scores["previous_token"][0, 0] == pytest.approx(0.0)
    # The last query has no next token and is left out rather than counted as 0.
    assert scores["self"][0, 0] == pytest.approx(1 / n)


def test_previous_token_shift_matrix():
    n = 5
    scores = patterns.compute_patterns(stack(shift(n, -1)), list("abcde"))
    assert scores["previous_token"][0, 0] == pytest.approx(1.0)
    assert scores["next_token"][0, 0] == pytest.approx(0.0)


def test_identity_is_self_same_token_confident_and_zero_entropy():
    n = 6
    scores = patterns.compute_patterns(stack(np.eye(n)), list("abcdef"))
    for name, expected in (("self", 1), ("same_token", 1), ("confidence", 1), ("entropy", 0)):
        assert scores[name][0, 0] == pytest.approx(expected, abs=1e-6), name
    assert scores["previous_token"][0, 0] == 0 and scores["next_token"][0, 0] == 0


def test_uniform_attention_entropy_is_log_n_and_confidence_one_over_n():
    n = 10
    scores = patterns.compute_patterns(stack(np.full((n, n), 1 / n)), ["t%d" % i for i in range(n)])
    assert scores["entropy"][0, 0] == pytest.approx(math.log(n), rel=1e-5)
    assert scores["confidence"][0, 0] == pytest.approx(1 / n, rel=1e-5)
    assert scores["next_token"][0, 0] == pytest.approx(1 / n, rel=1e-5)


def test_positional_metrics_match_direct_sums_on_random_heads():
    rng = np.random.default_rng(1)
    a = random_attention(rng, 2, 3, 9)
    scores = patterns.compute_patterns(a, ["w%d" % i for i in range(9)])
    for l in range(2):
        for h in range(3):
            m = a[l, h].astype(np.float64)
            assert scores["previous_token"][l, h] == pytest.approx(np.mean([m[i, i - 1] for i in range(1, 9)]), abs=1e-6)
            assert scores["next_token"][l, h] == pytest.approx(np.mean([m[i, i + 1] for i in range(8)]), abs=1e-6)
            assert scores["self"][l, h] == pytest.approx(np.mean([m[i, i] for i in range(9)]), abs=1e-6)
            assert scores["confidence"][l, h] == pytest.approx(np.mean(m.max(axis=1)), abs=1e-6)


def test_single_token_has_no_previous_or_next():
    scores = patterns.compute_patterns(np.ones((1, 1, 1, 1), np.float32), ["[CLS]"])
    assert np.isnan(scores["previous_token"]).all() and np.isnan(scores["next_token"]).all()
    assert scores["self"][0, 0] == 1 and scores["cls"][0, 0] == 1


# --------------------------------------------------------------------------- token classes


def test_all_weight_on_sep_is_full_delimiter_attention():
    n = len(SEED_TOKENS)
    a = np.zeros((n, n))
    a[:, SEED_TOKENS.index("[SEP]")] = 1.0
    scores = patterns.compute_patterns(stack(a), SEED_TOKENS, sentence_b_start=SEED_B_START)
    assert scores["delimiter"][0, 0] == pytest.approx(1.0)
    assert scores["sep"][0, 0] == pytest.approx(1.0)
    assert scores["cls"][0, 0] == pytest.approx(0.0)
    assert scores["punctuation"][0, 0] == pytest.approx(0.0)


def test_token_classes_match_explicit_loops():
    rng = np.random.default_rng(2)
    n = len(SEED_TOKENS)
    a = random_attention(rng, 2, 2, n, zeros=True)
    scores = patterns.compute_patterns(a, SEED_TOKENS, sentence_b_start=SEED_B_START)
    where = lambda *names: [j for j, t in enumerate(SEED_TOKENS) if t in names]  # noqa: E731
    for l in range(2):
        for h in range(2):
            m = a[l, h].astype(np.float64)
            assert scores["cls"][l, h] == pytest.approx(class_score(m, where("[CLS]")), abs=1e-6)
            assert scores["sep"][l, h] == pytest.approx(class_score(m, where("[SEP]")), abs=1e-6)
            assert scores["delimiter"][l, h] == pytest.approx(class_score(m, where("[CLS]", "[SEP]")), abs=1e-6)
            assert scores["punctuation"][l, h] == pytest.approx(class_score(m, where(".", ",")), abs=1e-6)


def test_missing_class_is_nan_not_zero():
    scores = patterns.compute_patterns(stack(np.eye(3)), ["hello", "big", "world"])
    for name in ("cls", "sep", "delimiter", "punctuation"):
        assert np.isnan(scores[name]).all(), name


def test_custom_special_tokens_and_sentencepiece_defaults():
    tokens = ["<s>", "▁hi", "<extra>", "</s>"]
    a = np.zeros((4, 4))
    a[:, 2] = 1.0
    assert patterns.compute_patterns(stack(a), tokens)["delimiter"][0, 0] == 0.0
    custom = patterns.compute_patterns(stack(a), tokens, special_tokens=["<extra>"])
    assert custom["delimiter"][0, 0] == pytest.approx(1.0)
    a[:] = 0
    a[:, 0], a[:, 3] = 0.25, 0.75
    scores = patterns.compute_patterns(stack(a), tokens)
    assert scores["cls"][0, 0] == pytest.approx(0.25) and scores["sep"][0, 0] == pytest.approx(0.75)
    assert scores["delimiter"][0, 0] == pytest.approx(1.0)


def test_punctuation_recognises_marked_and_unicode_punctuation():
    tokens = ["Ġ,", "▁.", "…", "word", "¿"]
    a = np.zeros((5, 5))
    a[:, [0, 1, 2, 4]] = 0.25
    assert patterns.compute_patterns(stack(a), tokens)["punctuation"][0, 0] == pytest.approx(1.0)


# --------------------------------------------------------------------------- token identity


def test_same_token_on_hand_made_tokens():
    tokens = ["the", "cat", "saw", "the", "dog", "the"]
    rng = np.random.default_rng(3)
    a = random_attention(rng, 1, 2, 6)
    scores = patterns.compute_patterns(a, tokens)
    for h in range(2):
        expected = pair_score(a[0, h].astype(np.float64), lambda i, j: tokens[i] == tokens[j])
        assert scores["same_token"][0, h] == pytest.approx(expected, abs=1e-6)
    # Hand-checked case: "the" (0) splits its weight over the three "the"s, others attend to self.
    m = np.eye(6)
    m[0] = [0.5, 0, 0, 0.25, 0, 0.25]
    assert patterns.compute_patterns(stack(m), tokens)["same_token"][0, 0] == pytest.approx(1.0)
    m[0] = [0.5, 0.5, 0, 0, 0, 0]  # "the" -> "cat" is not the same token
    assert patterns.compute_patterns(stack(m), tokens)["same_token"][0, 0] == pytest.approx(1 - 0.5 / 6)


def test_same_token_ignores_word_start_markers():
    tokens = ["The", "Ġcat", "Ġsaw", "Ġcat"]
    m = np.eye(4)
    m[1] = [0, 0, 0, 1]
    assert patterns.compute_patterns(stack(m), tokens)["same_token"][0, 0] == pytest.approx(1.0)


def test_same_token_other_sentence_matches_direct_loop_and_skips_specials():
    rng = np.random.default_rng(4)
    n = len(SEED_TOKENS)
    a = random_attention(rng, 1, 3, n)
    scores = patterns.compute_patterns(a, SEED_TOKENS, sentence_b_start=SEED_B_START)

    def related(i, j):
        return (
            SEED_TOKENS[i] == SEED_TOKENS[j]
            and (i < SEED_B_START) != (j < SEED_B_START)
            and SEED_TOKENS[i] not in ("[CLS]", "[SEP]")
        )

    for h in range(3):
        expected = pair_score(a[0, h].astype(np.float64), related)
        assert scores["same_token_other_sentence"][0, h] == pytest.approx(expected, abs=1e-6)


def test_same_token_other_sentence_is_nan_without_sentence_b():
    scores = patterns.compute_patterns(stack(np.eye(len(SEED_TOKENS))), SEED_TOKENS)
    assert np.isnan(scores["same_token_other_sentence"]).all()
    # ...and when no word occurs in both sentences.
    tokens = ["[CLS]", "a", "[SEP]", "b", "[SEP]"]
    scores = patterns.compute_patterns(stack(np.eye(5)), tokens, sentence_b_start=3)
    assert np.isnan(scores["same_token_other_sentence"]).all()


def test_word_pieces_straw_berries():
    tokens = SEED_TOKENS
    straw, berries = tokens.index("straw"), tokens.index("##berries")
    n = len(tokens)
    m = np.eye(n)
    m[straw] = 0
    m[straw, berries] = 1.0  # straw -> ##berries fully
    m[berries] = 0
    m[berries, berries], m[berries, straw] = 0.6, 0.4
    scores = patterns.compute_patterns(stack(m), tokens, sentence_b_start=SEED_B_START)
    # Only straw and ##berries belong to a word of several pieces.
    assert scores["word_pieces"][0, 0] == pytest.approx((1.0 + 0.4) / 2)


@pytest.mark.parametrize(
    "tokens, word",
    [
        (["<s>", "▁I", "▁ate", "▁straw", "berries", "▁.", "</s>"], [3, 4]),  # SentencePiece
        (["<|endoftext|>", "I", "Ġate", "Ġstraw", "berries", ".", "<|endoftext|>"], [3, 4, 5]),  # GPT-2
        (["[CLS]", "un", "##believ", "##able", "[SEP]"], [1, 2, 3]),  # WordPiece, three pieces
    ],
)
def test_word_pieces_under_each_tokenizer_convention(tokens, word):
    n = len(tokens)
    m = np.eye(n)
    for i in word:  # each piece spreads all its weight over the word's other pieces
        m[i] = 0
        m[i, [j for j in word if j != i]] = 1 / (len(word) - 1)
    assert patterns.compute_patterns(stack(m), tokens)["word_pieces"][0, 0] == pytest.approx(1.0)
    # Identity attention never reaches another piece.
    assert patterns.compute_patterns(stack(np.eye(n)), tokens)["word_pieces"][0, 0] == 0.0


def test_word_pieces_nan_when_every_word_is_one_piece():
    assert np.isnan(patterns.compute_patterns(stack(np.eye(3)), ["a", "b", "c"])["word_pieces"]).all()


def test_cross_attention_positional_nan_and_identity_by_key_text():
    rng = np.random.default_rng(5)
    tokens, key_tokens = ["le", "chat", "noir", "."], ["[CLS]", "the", "chat", "black", ".", "[SEP]"]
    a = random_attention(rng, 2, 2, 4, 6)
    scores = patterns.compute_patterns(a, tokens, key_tokens=key_tokens)
    for name in patterns.POSITIONAL:
        assert np.isnan(scores[name]).all(), name
    for l in range(2):
        for h in range(2):
            m = a[l, h].astype(np.float64)
            expected = pair_score(m, lambda i, j: tokens[i] == key_tokens[j])  # only "chat" and "."
            assert scores["same_token"][l, h] == pytest.approx(expected, abs=1e-6)
            assert scores["delimiter"][l, h] == pytest.approx(class_score(m, [0, 5]), abs=1e-6)
            assert scores["punctuation"][l, h] == pytest.approx(class_score(m, [4]), abs=1e-6)
    assert np.isfinite(scores["entropy"]).all() and np.isfinite(scores["confidence"]).all()


def test_dense_pair_path_agrees_with_loops():
    # One repeated token makes every pair "same token": the dense branch.
    rng = np.random.default_rng(6)
    tokens = ["a"] * 8 + ["b"] * 2
    a = random_attention(rng, 1, 2, 10)
    scores = patterns.compute_patterns(a, tokens)
    for h in range(2):
        expected = pair_score(a[0, h].astype(np.float64), lambda i, j: tokens[i] == tokens[j])
        assert scores["same_token"][0, h] == pytest.approx(expected, abs=1e-6)


# --------------------------------------------------------------------------- entropy


def test_entropy_matches_direct_sum_with_zero_weights():
    rng = np.random.default_rng(7)
    a = random_attention(rng, 2, 2, 12, zeros=True)
    assert (a == 0).any()
    scores = patterns.compute_patterns(a, ["t%d" % i for i in range(12)])
    for l in range(2):
        for h in range(2):
            rows = a[l, h].astype(np.float64)
            expected = np.mean([-sum(p * math.log(p) for p in row if p > 0) for row in rows])
            assert scores["entropy"][l, h] == pytest.approx(expected, abs=1e-5)


def test_entropy_spans_heads_and_layers_independently():
    # 2 x 3 x 850 x 850 weights exceed _THREAD_MIN_WEIGHTS: row blocks and the threaded split.
    rng = np.random.default_rng(8)
    a = random_attention(rng, 2, 3, 850)
    assert a.size >= patterns._THREAD_MIN_WEIGHTS
    scores = patterns.compute_patterns(a, ["t%d" % i for i in range(850)])
    a64 = a.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(a64 > 0, a64 * np.log(a64), 0.0)
    np.testing.assert_allclose(scores["entropy"], -terms.sum(-1).mean(-1), rtol=1e-5)
    np.testing.assert_allclose(scores["confidence"], a64.max(-1).mean(-1), rtol=1e-6)
    np.testing.assert_allclose(scores["next_token"], np.diagonal(a64, 1, 2, 3).mean(-1), rtol=1e-5)


# --------------------------------------------------------------------------- head_change


def test_head_change_identical_is_zero_and_disjoint_is_ln2():
    rng = np.random.default_rng(9)
    a = random_attention(rng, 2, 3, 5, zeros=True)
    assert (patterns.head_change(a, a.copy()) == 0).all()
    # One-hot rows that never share a key: i -> i + 1 vs i -> i + 3 (mod 6), i -> i vs i -> i + 1.
    p = stack(np.roll(np.eye(6), 1, axis=1), np.eye(6))
    q = stack(np.roll(np.eye(6), 3, axis=1), np.roll(np.eye(6), 1, axis=1))
    js = patterns.head_change(p, q)
    np.testing.assert_allclose(js, math.log(2), rtol=1e-6)


def test_head_change_matches_reference_per_row_and_is_symmetric():
    rng = np.random.default_rng(10)
    a = random_attention(rng, 2, 2, 7, zeros=True)
    b = random_attention(rng, 2, 2, 7, zeros=True)
    js = patterns.head_change(a, b)
    for l in range(2):
        for h in range(2):
            expected = np.mean([js_reference(a[l, h, i], b[l, h, i]) for i in range(7)])
            assert js[l, h] == pytest.approx(expected, abs=2e-6)
    np.testing.assert_array_equal(js, patterns.head_change(b, a))
    assert js.shape == (2, 2) and js.dtype == np.float32


def test_head_change_rejects_different_shapes():
    with pytest.raises(ValueError, match="same shape"):
        patterns.head_change(np.eye(3)[None, None], np.eye(4)[None, None])


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 9), st.integers(0, 2**32 - 1))
def test_scores_stay_in_range_on_random_heads(layers, heads, n, seed):
    rng = np.random.default_rng(seed)
    a = random_attention(rng, layers, heads, n, zeros=n > 2)
    b = random_attention(rng, layers, heads, n)
    tokens = [rng.choice(["[CLS]", "[SEP]", "a", "##b", ",", "c"]) for _ in range(n)]
    scores = patterns.compute_patterns(a, tokens)
    for name, values in scores.items():
        assert values.shape == (layers, heads) and values.dtype == np.float32
        finite = values[np.isfinite(values)]
        upper = math.log(n) if name == "entropy" else 1.0
        assert ((finite >= -1e-6) & (finite <= upper + 1e-5)).all(), (name, finite)
    js = patterns.head_change(a, b)
    assert ((js >= 0) & (js <= math.log(2) + 1e-7)).all()


# --------------------------------------------------------------------------- JSON


def test_scores_json_round_trip_rounds_and_maps_nan_to_null():
    scores = {"next_token": np.array([[0.123456789, np.nan]], np.float32), "entropy": np.array([[2.5, 1.0]], np.float32)}
    obj = patterns.scores_to_json(scores)
    assert obj["next_token"] == [[0.12346, None]]
    text = json.dumps(obj, allow_nan=False)  # the header encoder refuses NaN
    back = patterns.scores_from_json(json.loads(text))
    assert back["next_token"].dtype == np.float32 and np.isnan(back["next_token"][0, 1])
    assert back["next_token"][0, 0] == pytest.approx(0.12346)
    np.testing.assert_array_equal(back["entropy"], [[2.5, 1.0]])


@pytest.mark.parametrize(
    "obj, message",
    [
        ([1, 2], "JSON object"),
        ({"entropy": [1.0]}, "list of lists"),
        ({"entropy": [[1.0], [1.0, 2.0]]}, "different lengths"),
        ({"entropy": [["x"]]}, "neither a number nor null"),
        ({"entropy": [[1.0]], "self": [[1.0, 2.0]]}, "other metrics"),
    ],
)
def test_scores_from_json_names_the_problem(obj, message):
    with pytest.raises(ValueError, match=message):
        patterns.scores_from_json(obj)


# --------------------------------------------------------------------------- labels


def one_head(**values):
    return {name: np.array([[values.get(name, 0.0)]], np.float32) for name in patterns.METRICS}


def test_label_thresholds_are_strict_and_from_the_literature():
    assert patterns.label_heads(one_head(previous_token=0.51))[0, 0] == "previous_token"
    assert patterns.label_heads(one_head(previous_token=0.5))[0, 0] == "mixed"
    assert patterns.label_heads(one_head(sep=0.61))[0, 0] == "sep"
    assert patterns.label_heads(one_head(sep=0.59))[0, 0] == "mixed"
    assert patterns.label_heads(one_head(entropy=3.9))[0, 0] == "broad"
    assert patterns.label_heads(one_head(punctuation=0.7))[0, 0] == "punctuation"
    assert patterns.label_heads(one_head(delimiter=0.7, cls=0.35, sep=0.35))[0, 0] == "delimiter"


def test_label_priority_is_deterministic_and_all_labels_are_listed():
    head = one_head(next_token=0.6, cls=0.7, delimiter=0.7, entropy=4.0)
    assert patterns.label_heads(head)[0, 0] == "next_token"
    assert patterns.head_labels_all(head) == [[("next_token", "cls", "delimiter", "broad")]]
    assert patterns.label_heads(one_head(cls=0.7, delimiter=0.7))[0, 0] == "cls"


def test_custom_thresholds_none_disables_and_nan_never_labels():
    head = one_head(self=0.45, sep=0.7)
    assert patterns.label_heads(head, {"self": 0.4})[0, 0] == "self"
    assert patterns.label_heads(head, {"sep": None})[0, 0] == "mixed"
    assert patterns.label_heads(one_head(next_token=0.6), {"next_token": ("previous_token", 0.5)})[0, 0] == "mixed"
    assert patterns.label_heads(one_head(next_token=np.nan))[0, 0] == "mixed"
    with pytest.raises(ValueError, match="unknown label 'diagonal'"):
        patterns.label_heads(head, {"diagonal": 0.5})
    with pytest.raises(TypeError, match="finite number"):
        patterns.label_heads(head, {"sep": "high"})
    with pytest.raises(TypeError, match=r"\(metric, value\)"):
        patterns.label_heads(head, {"sep": ("sep",)})
    with pytest.raises(ValueError, match="unknown metric 'seps'"):
        patterns.label_heads(head, {"sep": ("seps", 0.5)})
    with pytest.raises(TypeError, match="must be a dict"):
        patterns.label_heads(head, [0.5])


def test_label_heads_accepts_the_json_form():
    obj = patterns.scores_to_json({"previous_token": np.array([[0.9, np.nan]]), "entropy": np.array([[1.0, 1.0]])})
    np.testing.assert_array_equal(patterns.label_heads(obj), [["previous_token", "mixed"]])


# --------------------------------------------------------------------------- input handling


def test_head_patterns_accepts_every_attention_form():
    import torch

    rng = np.random.default_rng(11)
    tokens = SEED_TOKENS
    n = len(tokens)
    batch = random_attention(rng, 3, 2 * 4, n).reshape(3, 2, 4, n, n)  # [L, B, H, q, k]
    expected = patterns.compute_patterns(batch[:, 1], tokens, None, SEED_B_START)
    forms = {
        "hf tuple": tuple(torch.from_numpy(layer) for layer in batch),
        "5-d array": batch,
        "5-d tensor": torch.from_numpy(batch),
    }
    for label, attention in forms.items():
        got = patterns.head_patterns(attention, tokens, SEED_B_START, example=1)
        for name in patterns.METRICS:
            np.testing.assert_array_equal(got[name], expected[name], err_msg="%s %s" % (label, name))
    got = patterns.head_patterns(batch[:, 1], tokens, SEED_B_START)
    np.testing.assert_array_equal(got["entropy"], expected["entropy"])


def test_head_patterns_trims_padding_with_attention_mask():
    rng = np.random.default_rng(12)
    a = random_attention(rng, 1, 2, 4)
    padded = np.zeros((1, 2, 6, 6), np.float32)
    padded[..., :4, :4] = a
    padded[..., 4:, 0] = 1.0  # padded rows: any valid distribution
    tokens = ["[CLS]", "hi", ".", "[SEP]", "[PAD]", "[PAD]"]
    got = patterns.head_patterns(padded, tokens, attention_mask=[1, 1, 1, 1, 0, 0])
    expected = patterns.compute_patterns(a, tokens[:4])
    for name in patterns.METRICS:
        np.testing.assert_array_equal(got[name], expected[name], err_msg=name)


def test_head_patterns_rejects_logits_with_a_clear_error():
    logits = np.random.default_rng(13).standard_normal((1, 1, 3, 3)).astype(np.float32)
    with pytest.raises(ValueError, match="apply softmax"):
        patterns.head_patterns(logits, ["a", "b", "c"])


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(attention=np.eye(3, dtype=np.float32)), ValueError, r"\[layers, heads, q, k\]"),
        (dict(tokens=["a", "b"]), ValueError, "2 tokens but the attention has 3"),
        (dict(tokens="abc"), TypeError, "list of strings"),
        (dict(tokens=["a", 1, "c"]), TypeError, r"tokens\[1\]"),
        (dict(attention=np.full((1, 1, 3, 4), 0.25, np.float32)), ValueError, "pass key_tokens"),
        (dict(sentence_b_start=3), ValueError, "sentence_b_start=3"),
        (dict(sentence_b_start=1.5), TypeError, "sentence_b_start"),
        (dict(special_tokens="[SEP]"), TypeError, "special_tokens"),
    ],
)
def test_compute_patterns_names_bad_input(kwargs, error, message):
    args = dict(attention=stack(np.eye(3)), tokens=["a", "b", "c"])
    args.update(kwargs)
    with pytest.raises(error, match=message):
        patterns.compute_patterns(**args)


def test_importing_patterns_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, tb_attention.patterns; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --------------------------------------------------------------------------- the packaged model


def test_minilm_seed_pair_shows_the_literature_patterns(seed_attention):
    import torch

    attentions, tokens, sentence_b_start = seed_attention
    scores = patterns.head_patterns(attentions, tokens, sentence_b_start)
    att = torch.stack([layer[0] for layer in attentions]).double()  # [L, H, q, k]

    # Direct computations from the model's own output_attentions.
    previous = torch.diagonal(att, offset=-1, dim1=-2, dim2=-1).mean(-1).numpy()
    following = torch.diagonal(att, offset=1, dim1=-2, dim2=-1).mean(-1).numpy()
    specials = [i for i, t in enumerate(tokens) if t in ("[CLS]", "[SEP]")]
    delimiter = att[..., specials].sum(-1).mean(-1).numpy()
    cls = att[..., tokens.index("[CLS]")].mean(-1).numpy()
    entropy = (-(att * att.clamp_min(1e-45).log()).sum(-1)).mean(-1).numpy()
    np.testing.assert_allclose(scores["previous_token"], previous, atol=1e-5)
    np.testing.assert_allclose(scores["next_token"], following, atol=1e-5)
    np.testing.assert_allclose(scores["delimiter"], delimiter, atol=1e-5)
    np.testing.assert_allclose(scores["cls"], cls, atol=1e-5)
    np.testing.assert_allclose(scores["entropy"], entropy, atol=1e-4)

    # Clark et al. report previous/next-token heads and heavy delimiter attention in the middle.
    labels = patterns.label_heads(scores)
    l, h = np.unravel_index(previous.argmax(), previous.shape)
    assert previous[l, h] > 0.9 and labels[l, h] == "previous_token"
    l, h = np.unravel_index(following.argmax(), following.shape)
    assert following[l, h] > 0.5 and labels[l, h] == "next_token"
    middle = delimiter[1:5]
    assert middle.mean() > 0.5 and middle.max() > 0.8
    # On MiniLM that delimiter attention goes to [CLS]; Clark's BERT-base sent it to [SEP].
    assert cls[1:5].mean() > 0.4 > scores["sep"][1:5].mean()
    assert att[1:5, :, tokens.index("[CLS]"), tokens.index("[CLS]")].mean() > 0.85  # [CLS] -> itself


def test_doc_table_matches_the_packaged_model(seed_attention):
    from tests.patterns_helpers import seed_table

    attentions, tokens, sentence_b_start = seed_attention
    table = seed_table(patterns.head_patterns(attentions, tokens, sentence_b_start))
    doc = (ROOT / "docs" / "patterns.md").read_text(encoding="utf-8")
    assert table in doc, "docs/patterns.md is stale: regenerate with `python -m tests.patterns_helpers`"


def test_writer_stores_the_scores_in_the_record(tmp_path, seed_attention):
    import tb_attention

    attentions, tokens, sentence_b_start = seed_attention
    tb_attention.add_attention(str(tmp_path), "probe/seed", attentions, tokens, 3, sentence_b_start=sentence_b_start)
    tb_attention.flush()
    (record,) = list(tb_attention.read_attention(str(tmp_path)))
    expected = patterns.scores_from_json(
        patterns.scores_to_json(patterns.head_patterns(attentions, tokens, sentence_b_start))
    )
    assert set(record.patterns) == set(patterns.METRICS)
    for name in patterns.METRICS:
        np.testing.assert_array_equal(record.patterns[name], expected[name], err_msg=name)
