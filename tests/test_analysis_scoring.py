"""Head-pattern scores (tb_attention/analysis/scoring.py) against independent, direct computations."""

import math
import pathlib

import numpy as np
import pytest

from tb_attention.analysis import labels, reductions, scoring
from tb_attention.format.scores import scores_from_json, scores_to_json
from tests.conftest import SEED_TOKENS
from tests.helpers.pattern_refs import class_score, pair_score, random_attention, shift, stack

ROOT = pathlib.Path(__file__).resolve().parents[1]
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


# --------------------------------------------------------------------------- token identity


def test_same_token_on_hand_made_tokens():
    tokens = ["the", "cat", "saw", "the", "dog", "the"]
    rng = np.random.default_rng(3)
    a = random_attention(rng, 1, 2, 6)
    scores = scoring.compute_patterns(a, tokens)
    for h in range(2):
        expected = pair_score(a[0, h].astype(np.float64), lambda i, j: tokens[i] == tokens[j])
        assert scores["same_token"][0, h] == pytest.approx(expected, abs=1e-6)
    # Hand-checked case: "the" (0) splits its weight over the three "the"s, others attend to self.
    m = np.eye(6)
    m[0] = [0.5, 0, 0, 0.25, 0, 0.25]
    assert scoring.compute_patterns(stack(m), tokens)["same_token"][0, 0] == pytest.approx(1.0)
    m[0] = [0.5, 0.5, 0, 0, 0, 0]  # "the" -> "cat" is not the same token
    assert scoring.compute_patterns(stack(m), tokens)["same_token"][0, 0] == pytest.approx(1 - 0.5 / 6)


def test_same_token_ignores_word_start_markers():
    tokens = ["The", "Ġcat", "Ġsaw", "Ġcat"]
    m = np.eye(4)
    m[1] = [0, 0, 0, 1]
    assert scoring.compute_patterns(stack(m), tokens)["same_token"][0, 0] == pytest.approx(1.0)


def test_same_token_other_sentence_matches_direct_loop_and_skips_specials():
    rng = np.random.default_rng(4)
    n = len(SEED_TOKENS)
    a = random_attention(rng, 1, 3, n)
    scores = scoring.compute_patterns(a, SEED_TOKENS, sentence_b_start=SEED_B_START)

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
    scores = scoring.compute_patterns(stack(np.eye(len(SEED_TOKENS))), SEED_TOKENS)
    assert np.isnan(scores["same_token_other_sentence"]).all()
    # ...and when no word occurs in both sentences.
    tokens = ["[CLS]", "a", "[SEP]", "b", "[SEP]"]
    scores = scoring.compute_patterns(stack(np.eye(5)), tokens, sentence_b_start=3)
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
    scores = scoring.compute_patterns(stack(m), tokens, sentence_b_start=SEED_B_START)
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
    assert scoring.compute_patterns(stack(m), tokens)["word_pieces"][0, 0] == pytest.approx(1.0)
    # Identity attention never reaches another piece.
    assert scoring.compute_patterns(stack(np.eye(n)), tokens)["word_pieces"][0, 0] == 0.0


def test_word_pieces_nan_when_every_word_is_one_piece():
    assert np.isnan(scoring.compute_patterns(stack(np.eye(3)), ["a", "b", "c"])["word_pieces"]).all()


def test_cross_attention_positional_nan_and_identity_by_key_text():
    rng = np.random.default_rng(5)
    tokens, key_tokens = ["le", "chat", "noir", "."], ["[CLS]", "the", "chat", "black", ".", "[SEP]"]
    a = random_attention(rng, 2, 2, 4, 6)
    scores = scoring.compute_patterns(a, tokens, key_tokens=key_tokens)
    for name in scoring.POSITIONAL:
        assert np.isnan(scores[name]).all(), name
    for li in range(2):
        for h in range(2):
            m = a[li, h].astype(np.float64)
            expected = pair_score(m, lambda i, j: tokens[i] == key_tokens[j])  # only "chat" and "."
            assert scores["same_token"][li, h] == pytest.approx(expected, abs=1e-6)
            assert scores["delimiter"][li, h] == pytest.approx(class_score(m, [0, 5]), abs=1e-6)
            assert scores["punctuation"][li, h] == pytest.approx(class_score(m, [4]), abs=1e-6)
    assert np.isfinite(scores["entropy"]).all() and np.isfinite(scores["confidence"]).all()


def test_dense_pair_path_agrees_with_loops():
    # One repeated token makes every pair "same token": the dense branch.
    rng = np.random.default_rng(6)
    tokens = ["a"] * 8 + ["b"] * 2
    a = random_attention(rng, 1, 2, 10)
    scores = scoring.compute_patterns(a, tokens)
    for h in range(2):
        expected = pair_score(a[0, h].astype(np.float64), lambda i, j: tokens[i] == tokens[j])
        assert scores["same_token"][0, h] == pytest.approx(expected, abs=1e-6)


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


# --------------------------------------------------------------------------- input handling


def test_head_patterns_accepts_every_attention_form():
    import torch

    rng = np.random.default_rng(11)
    tokens = SEED_TOKENS
    n = len(tokens)
    batch = random_attention(rng, 3, 2 * 4, n).reshape(3, 2, 4, n, n)  # [L, B, H, q, k]
    expected = scoring.compute_patterns(batch[:, 1], tokens, None, SEED_B_START)
    forms = {
        "hf tuple": tuple(torch.from_numpy(layer) for layer in batch),
        "5-d array": batch,
        "5-d tensor": torch.from_numpy(batch),
    }
    for label, attention in forms.items():
        got = scoring.head_patterns(attention, tokens, SEED_B_START, example=1)
        for name in scoring.METRICS:
            np.testing.assert_array_equal(got[name], expected[name], err_msg="%s %s" % (label, name))
    got = scoring.head_patterns(batch[:, 1], tokens, SEED_B_START)
    np.testing.assert_array_equal(got["entropy"], expected["entropy"])


def test_head_patterns_trims_padding_with_attention_mask():
    rng = np.random.default_rng(12)
    a = random_attention(rng, 1, 2, 4)
    padded = np.zeros((1, 2, 6, 6), np.float32)
    padded[..., :4, :4] = a
    padded[..., 4:, 0] = 1.0  # padded rows: any valid distribution
    tokens = ["[CLS]", "hi", ".", "[SEP]", "[PAD]", "[PAD]"]
    got = scoring.head_patterns(padded, tokens, attention_mask=[1, 1, 1, 1, 0, 0])
    expected = scoring.compute_patterns(a, tokens[:4])
    for name in scoring.METRICS:
        np.testing.assert_array_equal(got[name], expected[name], err_msg=name)


def test_head_patterns_rejects_logits_with_a_clear_error():
    logits = np.random.default_rng(13).standard_normal((1, 1, 3, 3)).astype(np.float32)
    with pytest.raises(ValueError, match="apply softmax"):
        scoring.head_patterns(logits, ["a", "b", "c"])


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
        scoring.compute_patterns(**args)


def test_importing_patterns_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, tb_attention.analysis.scoring, tb_attention.analysis.labels; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --------------------------------------------------------------------------- the packaged model


def test_minilm_seed_pair_shows_the_literature_patterns(seed_attention):
    import torch

    attentions, tokens, sentence_b_start = seed_attention
    scores = scoring.head_patterns(attentions, tokens, sentence_b_start)
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
    named = labels.label_heads(scores)
    li, h = np.unravel_index(previous.argmax(), previous.shape)
    assert previous[li, h] > 0.9 and named[li, h] == "previous_token"
    li, h = np.unravel_index(following.argmax(), following.shape)
    assert following[li, h] > 0.5 and named[li, h] == "next_token"
    middle = delimiter[1:5]
    assert middle.mean() > 0.5 and middle.max() > 0.8
    # On MiniLM that delimiter attention goes to [CLS]; Clark's BERT-base sent it to [SEP].
    assert cls[1:5].mean() > 0.4 > scores["sep"][1:5].mean()
    assert att[1:5, :, tokens.index("[CLS]"), tokens.index("[CLS]")].mean() > 0.85  # [CLS] -> itself


def test_doc_table_matches_the_packaged_model(seed_attention):
    from tests.helpers.patterns_table import seed_table

    attentions, tokens, sentence_b_start = seed_attention
    table = seed_table(scoring.head_patterns(attentions, tokens, sentence_b_start))
    doc = (ROOT / "docs" / "patterns.md").read_text(encoding="utf-8")
    assert table in doc, "docs/patterns.md is stale: regenerate with `python -m tests.helpers.patterns_table`"


def test_writer_stores_the_scores_in_the_record(tmp_path, seed_attention):
    import tb_attention

    attentions, tokens, sentence_b_start = seed_attention
    tb_attention.add_attention(str(tmp_path), "probe/seed", attentions, tokens, 3, sentence_b_start=sentence_b_start)
    tb_attention.flush()
    (record,) = list(tb_attention.read_attention(str(tmp_path)))
    expected = scores_from_json(scores_to_json(scoring.head_patterns(attentions, tokens, sentence_b_start)))
    assert set(record.patterns) == set(scoring.METRICS)
    for name in scoring.METRICS:
        np.testing.assert_array_equal(record.patterns[name], expected[name], err_msg=name)


def test_torch_reductions_give_the_numpy_scores():
    # The writer scores GPU layers in torch on their device; on CPU tensors the same code runs here.
    import torch

    rng = np.random.default_rng(3)
    a = random_attention(rng, 2, 3, 12, zeros=True)
    tokens = ["[CLS]", "i", "went", "to", "the", "store", ".", "[SEP]", "the", "store", "##s", "[SEP]"]
    expected = scoring.compute_patterns(a, tokens, sentence_b_start=8)
    scorer = scoring.PatternScorer(a.shape, tokens, sentence_b_start=8, torch_cpu=True)
    for index, layer in enumerate(a):
        scorer.add_layer(index, torch.from_numpy(layer).to(torch.bfloat16 if index else torch.float32))
    got = scorer.result()
    for name in scoring.METRICS:
        tolerance = 1e-5 if name != "entropy" else 1e-4
        np.testing.assert_allclose(got[name][0], expected[name][0], atol=tolerance, equal_nan=True, err_msg=name)
        np.testing.assert_allclose(
            got[name][1], expected[name][1], atol=2e-2, equal_nan=True, err_msg=name
        )  # bf16 input
