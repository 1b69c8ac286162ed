"""Retrieval heads (Wu et al. 2024): the `retrieval` score against its definition, block by block
in numpy and torch, through add_attention and the capture path; the needle probes that carry
its pairs."""

import numpy as np
import pytest
import torch

import tb_attention
from tb_attention.analysis import labels, scoring
from tb_attention.analysis.needle_probe import NeedleProbe, needle_probe, needle_tokens
from tests.helpers.pattern_refs import random_attention

N = 200


def retrieval_reference(a, pairs):
    """Share of pairs (i, j) whose row i has its one largest weight at key j, by loops."""
    hits = 0
    for i, j in pairs:
        row = list(a[i])
        top = max(row)
        hits += row[j] == top and row.count(top) == 1
    return hits / len(pairs)


def _planted(rng, heads, n, pairs):
    """Causal random rows; in head h, pair p's row puts its maximum on the needle key when
    (h + p) % 3 != 0, and a tie of two maxima (no hit) when (h + p) % 3 == 0 and h is even."""
    a = random_attention(rng, 1, heads, n, zeros=True)[0] * np.tri(n, dtype=np.float32)
    a[:, :, 0] += a.sum(-1) == 0
    for h in range(heads):
        for p, (i, j) in enumerate(pairs):
            if (h + p) % 3:
                a[h, i, j] = a[h, i].max() + 0.5
            elif h % 2 == 0:
                a[h, i, j] = a[h, i, j - 1] = a[h, i].max() + 0.5
    return (a / a.sum(-1, keepdims=True)).astype(np.float32)


def _pairs(n):
    return [(n - 20 + i, 30 + i) for i in range(12)] + [(100, 3), (101, 99)]


@pytest.mark.parametrize("device_type", ["numpy", "torch"])
def test_retrieval_equals_its_definition_in_random_blocks(device_type):
    rng = np.random.default_rng(3)
    pairs = _pairs(N)
    a = _planted(rng, 4, N, pairs)
    tokens = ["t%d" % (i % 11) for i in range(N)]
    scorer = scoring.PatternScorer((1, 4, N, N), tokens, retrieval=pairs, torch_cpu=device_type == "torch")
    cuts = sorted(set(rng.choice(np.arange(1, N), size=6, replace=False).tolist()) | {0, N})
    blocks = [(h, r0, r1) for h in (0, 2) for r0, r1 in zip(cuts, cuts[1:])]
    for k in rng.permutation(len(blocks)):
        h, r0, r1 = blocks[k]
        block = a[h : h + 2, r0:r1]
        scorer.add_block(0, h, r0, torch.from_numpy(block.copy()) if device_type == "torch" else block)
    got = scorer.result()["retrieval"][0]
    expected = [retrieval_reference(a[h], pairs) for h in range(4)]
    np.testing.assert_allclose(got, expected, atol=1e-7)
    assert len(set(expected)) > 1 and 0 < min(expected) and max(expected) < 1


def test_retrieval_is_nan_without_pairs_and_for_cross_attention():
    a = random_attention(np.random.default_rng(0), 1, 2, 6)
    tokens = list("abcdef")
    assert np.isnan(scoring.compute_patterns(a, tokens)["retrieval"]).all()
    cross = scoring.compute_patterns(a, tokens, key_tokens=list("uvwxyz"), retrieval=[(5, 1)])
    assert np.isnan(cross["retrieval"]).all()
    scores = scoring.compute_patterns(a, tokens, retrieval=[(5, 1)])
    assert set(np.unique(scores["retrieval"])) <= {0.0, 1.0}


@pytest.mark.parametrize(
    "pairs, message",
    [([(3, 3)], "not before"), ([(2, 9)], "outside"), ([(4, 1), (4, 2)], "repeat"), ([(1.5, 0)], "int")],
)
def test_bad_retrieval_pairs_are_refused_and_nothing_is_logged(tmp_path, pairs, message):
    a = random_attention(np.random.default_rng(1), 1, 2, 6)
    with pytest.raises((ValueError, TypeError), match=message):
        tb_attention.add_attention(str(tmp_path), "probe/x", a, list("abcdef"), retrieval=pairs)
    tb_attention.flush()
    assert list(tb_attention.read_attention(str(tmp_path))) == []


def test_a_retrieval_label_at_wu_et_al_threshold():
    assert labels.DEFAULT_THRESHOLDS["retrieval"] == ("retrieval", 0.1)
    scores = {"retrieval": np.array([[0.05, 0.1, 0.6]]), "previous_token": np.zeros((1, 3))}
    assert labels.label_heads(scores).tolist() == [["mixed", "mixed", "retrieval"]]
    # One hit in ten is 0.1, at the threshold, not above it: as a scorer returns it (float32,
    # 0.100000001 in float64) and as JSON stores it alike, in labels and in heads that formed.
    from tb_attention.analysis.formed import formed_heads
    from tb_attention.format.scores import scores_from_json, scores_to_json

    steps = [{"retrieval": np.array([[0.0, 0.0]], np.float32)}, {"retrieval": np.array([[0.1, 0.2]], np.float32)}]
    for form in (steps, [scores_to_json(s) for s in steps], [scores_from_json(scores_to_json(s)) for s in steps]):
        assert labels.label_heads(form[1]).tolist() == [["mixed", "retrieval"]]
        assert [e["head"] for e in formed_heads([0, 1], form)["formed"]] == [1]


def test_needle_tokens_place_a_unique_needle_at_the_depth():
    probe = needle_tokens(range(1, 64), 1300, depth=0.1, seed=4, prefix=[0])
    ids = probe.token_ids
    (n0, n1), (a0, a1) = probe.needle, probe.answer
    assert len(ids) == 1300 and ids[0] == 0 and a1 == 1300 and ids[n0:n1] == ids[a0:a1] and n1 - n0 == 6
    needle = ids[n0 - 2 : n1]  # the two key tokens, then the copied ones
    assert ids[a0 - 2 : a0] == needle[:2]
    for token in needle:  # each needle token once before the question
        assert ids[: a0 - 2].count(token) == 1
    assert abs((n0 - 2 - 1) - 0.1 * (1300 - 1 - 8 - 8)) <= 1
    assert probe.retrieval == tuple((a0 + i - 1, n0 + i) for i in range(6))
    assert a0 - 1 - n0 >= 1024  # copied over more than 1024 positions
    assert needle_tokens(range(1, 64), 1300, depth=0.1, seed=4, prefix=[0]) == probe
    assert needle_tokens(range(1, 64), 1300, depth=0.1, seed=5, prefix=[0]) != probe


def test_needle_probe_of_a_tokenizer(minilm):
    tokenizer = minilm[0]
    probe = needle_probe(tokenizer, 400, depth=0.25, seed=1)
    ids = list(probe.token_ids)
    assert len(ids) == 400 and ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id
    (n0, n1), (a0, a1) = probe.needle, probe.answer
    number = tokenizer.decode(ids[a0:a1]).replace(" ", "")
    assert number.isdigit() and len(number) == 5 and len(set(number)) == 5
    words = tokenizer.convert_ids_to_tokens
    assert words(ids[n0 - 4 : n1 + 1]) == ["the", "pass", "key", "is"] + words(ids[a0:a1]) + ["."]
    assert words(ids[a0 - 10 : a0]) == "what is the pass key ? the pass key is".split()
    assert probe.retrieval == tuple((a0 - 1 + i, n0 + i) for i in range(a1 - a0))
    deeper = needle_probe(tokenizer, 400, depth=0.75, seed=1)
    assert deeper.needle[0] > n0 and deeper.answer == probe.answer
    with pytest.raises(ValueError, match="too short"):
        needle_probe(tokenizer, 40)
    with pytest.raises(ValueError, match="depth"):
        needle_probe(tokenizer, 400, depth=1.5)


def test_a_needle_probe_must_copy_its_needle():
    with pytest.raises(ValueError, match="copy"):
        NeedleProbe("n", (1, 2, 3, 4, 5, 6, 2, 9), needle=(1, 3), answer=(6, 8))
    with pytest.raises(ValueError, match="before its answer"):
        NeedleProbe("n", (1, 2, 3, 2, 3), needle=(1, 3), answer=(2, 4))


class _Tokenizer:
    def __call__(self, *args, **kwargs):
        raise AssertionError("token-id probes are not tokenised")

    def convert_ids_to_tokens(self, ids):
        return ["t%d" % int(i) for i in ids]


@pytest.mark.parametrize("family", ["llama", "bloom"])
def test_the_integrations_score_retrieval_on_a_needle_probe(family, tmp_path):
    """Llama through the capture (rows in blocks of 256), Bloom through eager attention: the
    stored score equals the definition on the record's own float32 weights."""
    from tests.helpers.tiny_models import VOCAB, tiny_model

    probe = needle_tokens(range(5, VOCAB), 600, depth=0.2, seed=2)
    logger = tb_attention.ProbeLogger(_Tokenizer(), {"needle": probe}, precision="float32")
    logger.log(tiny_model(family), 7, str(tmp_path), True)
    tb_attention.flush()
    [record] = tb_attention.read_attention(str(tmp_path))
    stored = record.attention
    expected = [[retrieval_reference(stored[li, h], probe.retrieval) for h in range(stored.shape[1])] for li in (0, 1)]
    np.testing.assert_allclose(record.patterns["retrieval"], expected, atol=1e-7)
