"""Head-pattern scores of token identity (tb_attention/analysis/scoring.py) against direct loops: the same
token, in the other sentence, word pieces under each tokenizer's convention, cross attention by key text."""

import numpy as np
import pytest

from tb_attention.analysis import scoring
from tests.conftest import SEED_TOKENS
from tests.helpers.pattern_refs import class_score, pair_score, random_attention, stack

SEED_B_START = SEED_TOKENS.index("at")


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
