"""Head change (tb_attention/analysis/change.py), labels (analysis/labels.py) and the stored score
JSON (format/scores.py) against independent computations."""

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tb_attention.analysis import labels, scoring
from tb_attention.analysis.change import head_change, sparse_head_change
from tb_attention.format import blocks
from tb_attention.format.scores import scores_from_json, scores_to_json
from tests.helpers.pattern_refs import js_reference, random_attention, stack

# --------------------------------------------------------------------------- head_change


def test_head_change_identical_is_zero_and_disjoint_is_ln2():
    rng = np.random.default_rng(9)
    a = random_attention(rng, 2, 3, 5, zeros=True)
    assert (head_change(a, a.copy()) == 0).all()
    # One-hot rows that never share a key: i -> i + 1 vs i -> i + 3 (mod 6), i -> i vs i -> i + 1.
    p = stack(np.roll(np.eye(6), 1, axis=1), np.eye(6))
    q = stack(np.roll(np.eye(6), 3, axis=1), np.roll(np.eye(6), 1, axis=1))
    js = head_change(p, q)
    np.testing.assert_allclose(js, math.log(2), rtol=1e-6)


def test_head_change_matches_reference_per_row_and_is_symmetric():
    rng = np.random.default_rng(10)
    a = random_attention(rng, 2, 2, 7, zeros=True)
    b = random_attention(rng, 2, 2, 7, zeros=True)
    js = head_change(a, b)
    for li in range(2):
        for h in range(2):
            expected = np.mean([js_reference(a[li, h, i], b[li, h, i]) for i in range(7)])
            assert js[li, h] == pytest.approx(expected, abs=2e-6)
    np.testing.assert_array_equal(js, head_change(b, a))
    assert js.shape == (2, 2) and js.dtype == np.float32


def _sparse(weights, top_k):
    counts, _, indices, values = blocks.select_keys(weights, top_k=top_k)
    counts = counts.reshape(weights.shape[:2])  # [heads, q], as a stored block reads
    return (counts, indices, values), blocks.densify(counts, indices, values, *weights.shape)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4), st.integers(1, 12), st.integers(1, 6), st.integers(1, 6), st.integers(0, 2**32 - 1))
def test_sparse_head_change_is_the_dense_one_of_the_densified_records(heads, n, top_a, top_b, seed):
    rng = np.random.default_rng(seed)
    a, b = random_attention(rng, 1, heads, n, zeros=n > 2)[0], random_attention(rng, 1, heads, n)[0]
    (sa, da), (sb, db) = _sparse(a, top_a), _sparse(b, top_b)
    js = sparse_head_change(sa, sb, n, n)
    np.testing.assert_allclose(js, head_change(da[None], db[None])[0], atol=2e-6)
    np.testing.assert_allclose(js, sparse_head_change(sb, sa, n, n), atol=1e-7)
    assert js.dtype == np.float32 and js.shape == (heads,)


def test_sparse_head_change_of_disjoint_keys_is_ln2_and_of_the_same_is_0():
    # Rows i -> i and i -> i + 1: no key in common; a weight quantised to 0 adds nothing.
    eye = np.eye(5, dtype=np.float32)[None]
    (same, _), (shifted, _) = _sparse(eye, 1), _sparse(np.roll(eye, 1, axis=2), 1)
    np.testing.assert_allclose(sparse_head_change(same, shifted, 5, 5), math.log(2), rtol=1e-6)
    assert sparse_head_change(same, same, 5, 5)[0] == 0
    counts, indices, values = same
    zeroed = (counts, indices, np.where(np.arange(5) == 0, 0.0, values).astype(np.float32))
    expected = head_change(blocks.densify(*zeroed, 1, 5, 5)[None], eye[None])[0]
    np.testing.assert_allclose(sparse_head_change(zeroed, same, 5, 5), expected, atol=1e-6)
    with pytest.raises(ValueError, match="same shape"):
        sparse_head_change(same, _sparse(np.eye(4, dtype=np.float32)[None], 1)[0], 5, 5)


def test_head_change_rejects_different_shapes():
    with pytest.raises(ValueError, match="same shape"):
        head_change(np.eye(3)[None, None], np.eye(4)[None, None])


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 9), st.integers(0, 2**32 - 1))
def test_scores_stay_in_range_on_random_heads(layers, heads, n, seed):
    rng = np.random.default_rng(seed)
    a = random_attention(rng, layers, heads, n, zeros=n > 2)
    b = random_attention(rng, layers, heads, n)
    tokens = [rng.choice(["[CLS]", "[SEP]", "a", "##b", ",", "c"]) for _ in range(n)]
    scores = scoring.compute_patterns(a, tokens)
    for name, values in scores.items():
        assert values.shape == (layers, heads) and values.dtype == np.float32
        finite = values[np.isfinite(values)]
        upper = {"entropy": math.log(n), "span_mean": n - 1, "span_p90": n - 1}.get(name, 1.0)  # nats, tokens
        assert ((finite >= -1e-6) & (finite <= upper + 1e-5)).all(), (name, finite)
    js = head_change(a, b)
    assert ((js >= 0) & (js <= math.log(2) + 1e-7)).all()


# --------------------------------------------------------------------------- JSON


def test_scores_json_round_trip_rounds_and_maps_nan_to_null():
    scores = {
        "next_token": np.array([[0.123456789, np.nan]], np.float32),
        "entropy": np.array([[2.5, 1.0]], np.float32),
    }
    obj = scores_to_json(scores)
    assert obj["next_token"] == [[0.12346, None]]
    text = json.dumps(obj, allow_nan=False)  # the header encoder refuses NaN
    back = scores_from_json(json.loads(text))
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
        scores_from_json(obj)


# --------------------------------------------------------------------------- labels


def one_head(**values):
    return {name: np.array([[values.get(name, 0.0)]], np.float32) for name in scoring.METRICS}


def test_label_thresholds_are_strict_and_from_the_literature():
    assert labels.label_heads(one_head(previous_token=0.51))[0, 0] == "previous_token"
    assert labels.label_heads(one_head(previous_token=0.5))[0, 0] == "mixed"
    assert labels.label_heads(one_head(sep=0.61))[0, 0] == "sep"
    assert labels.label_heads(one_head(sep=0.59))[0, 0] == "mixed"
    assert labels.label_heads(one_head(entropy=3.9))[0, 0] == "broad"
    assert labels.label_heads(one_head(punctuation=0.7))[0, 0] == "punctuation"
    assert labels.label_heads(one_head(delimiter=0.7, cls=0.35, sep=0.35))[0, 0] == "delimiter"


def test_label_priority_is_deterministic_and_all_labels_are_listed():
    head = one_head(next_token=0.6, cls=0.7, delimiter=0.7, entropy=4.0)
    assert labels.label_heads(head)[0, 0] == "next_token"
    assert labels.head_labels_all(head) == [[("next_token", "cls", "delimiter", "broad")]]
    assert labels.label_heads(one_head(cls=0.7, delimiter=0.7))[0, 0] == "cls"


def test_custom_thresholds_none_disables_and_nan_never_labels():
    head = one_head(self=0.45, sep=0.7)
    assert labels.label_heads(head, {"self": 0.4})[0, 0] == "self"
    assert labels.label_heads(head, {"sep": None})[0, 0] == "mixed"
    assert labels.label_heads(one_head(next_token=0.6), {"next_token": ("previous_token", 0.5)})[0, 0] == "mixed"
    assert labels.label_heads(one_head(next_token=np.nan))[0, 0] == "mixed"
    with pytest.raises(ValueError, match="unknown label 'diagonal'"):
        labels.label_heads(head, {"diagonal": 0.5})
    with pytest.raises(TypeError, match="finite number"):
        labels.label_heads(head, {"sep": "high"})
    with pytest.raises(TypeError, match=r"\(metric, value\)"):
        labels.label_heads(head, {"sep": ("sep",)})
    with pytest.raises(ValueError, match="unknown metric 'seps'"):
        labels.label_heads(head, {"sep": ("seps", 0.5)})
    with pytest.raises(TypeError, match="must be a dict"):
        labels.label_heads(head, [0.5])


def test_label_heads_accepts_the_json_form():
    obj = scores_to_json({"previous_token": np.array([[0.9, np.nan]]), "entropy": np.array([[1.0, 1.0]])})
    np.testing.assert_array_equal(labels.label_heads(obj), [["previous_token", "mixed"]])
