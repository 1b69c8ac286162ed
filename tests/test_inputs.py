"""Accepted attention forms and the exact error for each kind of bad input."""

import numpy as np
import pytest
import torch

from tb_attention.inputs.attention import prepare
from tb_attention.inputs.checks import parse_step
from tests.helpers.bad_inputs import BAD_INPUTS, TOKENS5
from tests.helpers.data import softmax_attention


def hf_tuple(layers=2, batch=2, heads=3, q=5, k=5, seed=0):
    a = softmax_attention((layers, batch, heads, q, k), seed=seed)
    return tuple(torch.from_numpy(a[i]) for i in range(layers))


def test_hugging_face_tuple_picks_the_example():
    attn = hf_tuple()
    out, tokens, key_tokens, sb = prepare(attn, TOKENS5, example=1, sentence_b_start=4)
    assert out.dtype == np.float32 and out.shape == (2, 3, 5, 5)
    np.testing.assert_array_equal(out[1], attn[1][1].numpy())
    assert tokens == TOKENS5 and key_tokens is None and sb == 4


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_torch_dtypes_are_converted(dtype):
    attn = tuple(t.to(dtype) for t in hf_tuple())
    out, *_ = prepare(attn, TOKENS5)
    np.testing.assert_allclose(out, torch.stack(attn)[:, 0].float().numpy(), atol=1e-6)


def test_stacked_forms_agree():
    a = softmax_attention((2, 1, 3, 5, 5))
    from_tuple, *_ = prepare(tuple(torch.from_numpy(a[i]) for i in range(2)), TOKENS5)
    from_rank5, *_ = prepare(a, TOKENS5)
    from_rank4, *_ = prepare(a[:, 0], TOKENS5)
    from_list3, *_ = prepare([a[0, 0], a[1, 0]], TOKENS5)
    for other in (from_rank5, from_rank4, from_list3):
        np.testing.assert_array_equal(from_tuple, other)


def test_input_is_copied():
    a = softmax_attention((1, 2, 5, 5))
    out, *_ = prepare(a, TOKENS5)
    a[:] = 0
    assert out.sum() > 0


def test_attention_mask_trims_padding_and_padded_tokens():
    a = softmax_attention((1, 1, 2, 4, 4))
    a[..., 3] = 0  # the padded key gets no weight, as in a real model
    a /= a.sum(-1, keepdims=True)
    out, tokens, *_ = prepare(a, ["[CLS]", "x", "[SEP]", "[PAD]"], attention_mask=[1, 1, 1, 0])
    assert out.shape == (1, 2, 3, 3) and tokens == ["[CLS]", "x", "[SEP]"]
    out2, tokens2, *_ = prepare(a, ["[CLS]", "x", "[SEP]"], attention_mask=torch.tensor([[1, 1, 1, 0]]))
    np.testing.assert_array_equal(out, out2)
    assert tokens2 == tokens


def test_cross_attention_needs_key_tokens():
    a = softmax_attention((2, 3, 4, 6))
    out, tokens, key_tokens, _ = prepare(a, list("abcd"), key_tokens=list("uvwxyz"))
    assert out.shape == (2, 3, 4, 6) and key_tokens == list("uvwxyz")


def test_unicode_and_markup_tokens_are_kept_verbatim():
    tokens = ["🍓", "naïve", "<script>alert(1)</script>", "", "\u200b"]
    _, got, *_ = prepare(softmax_attention((1, 1, 5, 5)), tokens)
    assert got == tokens


@pytest.mark.parametrize("case, kwargs, exc, message", BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_gets_a_clear_error(case, kwargs, exc, message):
    kwargs = dict(kwargs)
    with pytest.raises(exc, match=message):
        prepare(kwargs.pop("attention"), kwargs.pop("tokens"), **kwargs)


@pytest.mark.parametrize(
    "step, expected",
    [(None, 0), (0, 0), (7, 7), (np.int64(9), 9), (3.0, 3), (torch.tensor(5), 5), (2**63 - 1, 2**63 - 1)],
)
def test_good_steps(step, expected):
    assert parse_step(step) == expected


@pytest.mark.parametrize(
    "step, exc, message",
    [
        (-1, ValueError, "non-negative, got -1"),
        (1.5, TypeError, "non-negative int, got 1.5"),
        ("3", TypeError, "got '3'"),
        (True, TypeError, "got True"),
        (2**63, ValueError, "int64"),
        (float("nan"), TypeError, "nan"),
    ],
)
def test_bad_steps(step, exc, message):
    with pytest.raises(exc, match=message):
        parse_step(step)


def test_sentence_b_start_follows_left_padding_trimmed_by_the_mask():
    tokens = ["[PAD]", "[PAD]", "[CLS]", "a", "b", "[SEP]", "c", "d", "[SEP]"]
    a = softmax_attention((1, 1, 2, 9, 9))
    a[..., :2] = 0  # padded keys get no weight
    a /= a.sum(-1, keepdims=True)
    _, got, _, sb = prepare(a, tokens, attention_mask=[0, 0, 1, 1, 1, 1, 1, 1, 1], sentence_b_start=6)
    assert got[sb] == "c" and sb == 4
    # Tokens given already trimmed: sentence_b_start is already in trimmed positions.
    _, _, _, sb2 = prepare(a, tokens[2:], attention_mask=[0, 0, 1, 1, 1, 1, 1, 1, 1], sentence_b_start=4)
    assert sb2 == 4


def test_unencodable_tokens_are_refused_up_front():
    with pytest.raises(ValueError, match=r"tokens\[1\] is not valid Unicode text"):
        prepare(softmax_attention((1, 1, 3, 3)), ["a", "\ud800", "c"])


def test_two_dimensional_mask_smaller_than_the_batch():
    a = softmax_attention((1, 3, 1, 5, 5))
    with pytest.raises(ValueError, match="example=2 is outside the attention_mask's batch of 1"):
        prepare(a, TOKENS5, example=2, attention_mask=[[1, 1, 1, 1, 1]])


def test_key_attention_mask_drops_encoder_padding_in_cross_attention():
    a = softmax_attention((2, 1, 3, 4, 6))
    a[..., 4:] = 0  # the encoder's two padded positions get no weight
    a /= a.sum(-1, keepdims=True)
    keys = ["<s>", "x", "y", "</s>", "<pad>", "<pad>"]
    out, _, key_tokens, _ = prepare(a, list("abcd"), key_tokens=keys, key_attention_mask=[[1, 1, 1, 1, 0, 0]])
    assert out.shape == (2, 3, 4, 4) and key_tokens == keys[:4]
    np.testing.assert_array_equal(out, a[:, 0, :, :, :4])
    with pytest.raises(ValueError, match="key_attention_mask of shape \\(5,\\) does not match the 6 key positions"):
        prepare(a, list("abcd"), key_tokens=keys, key_attention_mask=[1] * 5)
    with pytest.raises(ValueError, match="key_attention_mask is for cross-attention"):
        prepare(softmax_attention((1, 1, 4, 4)), list("abcd"), key_attention_mask=[1] * 4)
