"""Head gates (tb_attention/capture/gates.py) on tiny random-init models of several families: at 1
the forward is bit for bit the model's own, a head's gate at 0 equals zeroing that head where the
model's output projection reads it (an independent hook), rows come in kind order, and the model's
attention implementation is put back, also after an error."""

import pytest
import torch

from tb_attention.capture.gates import HeadGates
from tests.helpers.importance import scaled_head
from tests.helpers.tiny_models import tiny_inputs, tiny_model


def _batch(name, seed=0):
    one = tiny_inputs(name, 12, seed=seed)
    return {k: torch.cat([v, v.flip(1)]) for k, v in one.items()}  # two different examples


def _output(model, batch):
    out = model(**batch)
    return out.logits if hasattr(out, "logits") else out.last_hidden_state


FAMILIES = [("llama", "sdpa"), ("llama", "eager"), ("bert", "sdpa"), ("gpt2", "sdpa"), ("bart", "sdpa")]


@pytest.mark.parametrize("name, implementation", FAMILIES)
def test_gates_at_one_leave_the_forward_bit_identical(name, implementation):
    model = tiny_model(name, implementation)
    batch = _batch(name)
    with torch.no_grad():
        expected = _output(model, batch)
        with HeadGates(model) as gates:
            gated = _output(model, batch)
    assert torch.equal(gated, expected)
    assert model.config._attn_implementation == implementation
    assert all(leaf.shape == (2, 4) for leaf in gates.leaves())


@pytest.mark.parametrize("name", ["llama", "bert"])
def test_a_gate_at_zero_is_the_head_zeroed_at_the_output_projection(name):
    model = tiny_model(name, "sdpa")
    batch = _batch(name)
    with torch.no_grad():
        with scaled_head(model, name, 1, 2, 0.0):
            expected = _output(model, batch)
        with HeadGates(model, {("self", 1): {2: 0.0}}):
            zeroed = _output(model, batch)
        with HeadGates(model, {("self", 1): {3: 0.0}}):
            other = _output(model, batch)
    torch.testing.assert_close(zeroed, expected, rtol=0, atol=1e-6)
    assert (other - expected).abs().max() > 1e-3  # another head's gate is another intervention


def test_grouped_query_attention_gates_every_query_head():
    model = tiny_model("llama", "sdpa")  # 4 query heads over 2 key/value heads
    assert model.config.num_key_value_heads == 2
    with torch.no_grad():
        base = _output(model, _batch("llama"))
        outputs = []
        for head in range(4):
            with HeadGates(model, {("self", 0): {head: 0.0}}):
                outputs.append(_output(model, _batch("llama")))
    # Each query head of a shared KV head is its own intervention.
    assert all((o - base).abs().max() > 1e-4 for o in outputs)
    assert (outputs[0] - outputs[1]).abs().max() > 1e-4


def test_encoder_decoder_rows_come_encoder_then_decoder_then_cross():
    model = tiny_model("bart", "sdpa")
    with torch.no_grad(), HeadGates(model) as gates:
        model(**_batch("bart"))
    kinds = ("encoder", "decoder", "cross")
    assert gates.rows() == [(k, layer) for k in kinds for layer in (0, 1)]


def test_the_implementation_is_put_back_after_an_error_and_bad_heads_are_named():
    model = tiny_model("llama", "sdpa")
    with pytest.raises(ValueError, match="head 7 is out of range: self layer 0 has 4 heads"):
        with torch.no_grad(), HeadGates(model, {("self", 0): {7: 0.0}}):
            model(**_batch("llama"))
    assert model.config._attn_implementation == "sdpa"
    with pytest.raises(RuntimeError, match="already active"):
        with HeadGates(model), HeadGates(model):
            pass
    assert model.config._attn_implementation == "sdpa"
