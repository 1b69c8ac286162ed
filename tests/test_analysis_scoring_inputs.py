"""What head-pattern scoring (tb_attention/analysis/scoring.py) accepts and rejects: every attention form,
padding trimmed by the attention mask, logits and other bad input named, no torch imported; torch
tensors (the writer's path) scored as numpy scores them."""

import numpy as np
import pytest

from tb_attention.analysis import scoring
from tests.conftest import SEED_TOKENS
from tests.helpers.pattern_refs import random_attention, stack

SEED_B_START = SEED_TOKENS.index("at")


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
