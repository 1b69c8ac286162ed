"""The capture path (tb_attention.capture): a model's attention computed from its queries and keys
through transformers' attention interface, block by block, equals an eager forward's attention;
the model's output is unchanged; the model's kernel comes back; what the model told us of its
structure (KV heads, sliding windows) is stored."""

import numpy as np
import pytest
import torch

import tb_attention
from tb_attention.capture import capture
from tb_attention.capture import masks as capture_masks
from tests.helpers.tiny_models import SEQ2SEQ, Tokens, eager_attention, tiny_inputs, tiny_model

FAMILIES = ("llama", "mistral", "qwen2", "gemma2", "gpt2", "bert", "bart", "t5")


def _captured(model, inputs, logdir, **options):
    with torch.no_grad(), capture(model, Tokens(), **options) as cap:
        output = model(**inputs)
    cap.log(str(logdir), "probe/x", 1)
    tb_attention.flush()
    return output, {r.kind: r for r in (r.part(k) for r in tb_attention.read_attention(str(logdir)) for k in r.kinds)}


@pytest.mark.parametrize("family", FAMILIES)
def test_captured_attention_equals_eager_and_the_output_is_unchanged(family, tmp_path):
    model = tiny_model(family)
    inputs = tiny_inputs(family)
    before = model.config._attn_implementation
    with torch.no_grad():
        plain = model(**inputs)
    output, records = _captured(model, inputs, tmp_path, precision="float32")
    expected = eager_attention(model, inputs)
    assert sorted(records) == sorted(expected)
    for kind, attention in expected.items():
        np.testing.assert_allclose(records[kind].attention, attention, atol=1e-6)
    field = "logits" if getattr(plain, "logits", None) is not None else "last_hidden_state"
    # The model's own kernel computed the output, with the mask it would have built: bit for bit.
    assert torch.equal(getattr(plain, field), getattr(output, field))
    assert model.config._attn_implementation == before


@pytest.mark.parametrize("family", ["mistral", "gemma2", "t5", "bert"])
def test_the_capture_computes_the_output_itself_when_the_kernel_mask_would_be_too_large(family, tmp_path, monkeypatch):
    monkeypatch.setattr(capture_masks, "KERNEL_MASK_BYTES", 0)
    model = tiny_model(family, implementation="eager")
    inputs = tiny_inputs(family)
    with torch.no_grad():
        plain = model(**inputs)
    output, records = _captured(model, inputs, tmp_path, precision="float32")
    for kind, attention in eager_attention(model, inputs).items():
        np.testing.assert_allclose(records[kind].attention, attention, atol=1e-6)
    field = "logits" if getattr(plain, "logits", None) is not None else "last_hidden_state"
    # The same arithmetic in another order: equal within float32 rounding (docs/capture.md).
    torch.testing.assert_close(getattr(output, field), getattr(plain, field), atol=1e-5, rtol=1e-5)


def test_the_default_precision_holds_its_bound(tmp_path):
    model, inputs = tiny_model("llama"), tiny_inputs("llama", length=40)
    _, records = _captured(model, inputs, tmp_path)
    from tb_attention.format.precision import error_bound

    record = records["self"]
    assert (
        np.abs(record.attention - eager_attention(model, inputs)["self"]).max() <= error_bound(record.precision) + 1e-7
    )


def test_structure_is_recorded_kv_heads_and_windows(tmp_path):
    _, records = _captured(tiny_model("gemma2"), tiny_inputs("gemma2"), tmp_path)
    header = records["self"]
    assert header.kv_heads == [0, 0, 1, 1]  # 4 query heads reading 2 KV heads
    # Gemma 2 alternates sliding (window 7) and global layers.
    assert header.windows == [7, None, 7, None]
    assert header.causal is True


def test_padding_is_dropped_from_the_record(tmp_path):
    model = tiny_model("bert")
    inputs = tiny_inputs("bert", length=20)
    inputs["attention_mask"][0, 15:] = 0
    _, records = _captured(model, inputs, tmp_path, precision="float32")
    record = records["self"]
    assert record.shape == (2, 4, 15, 15) and len(record.tokens) == 15
    trimmed = {k: v[:, :15] for k, v in inputs.items()}
    np.testing.assert_allclose(record.attention, eager_attention(model, trimmed)["self"], atol=1e-6)


def test_layers_and_heads_subsets(tmp_path):
    model, inputs = tiny_model("llama"), tiny_inputs("llama")
    _, records = _captured(model, inputs, tmp_path, precision="float32", layers=[1], heads=[1, 3])
    record = records["self"]
    assert record.layer_ids == [1] and record.head_ids == [1, 3] and record.kv_heads == [0, 1]
    np.testing.assert_allclose(record.attention[0], eager_attention(model, inputs)["self"][1][[1, 3]], atol=1e-6)


def test_the_capture_leaves_the_model_as_it_was_after_an_error():
    model, inputs = tiny_model("llama"), tiny_inputs("llama")
    with pytest.raises(RuntimeError, match="boom"):
        with capture(model, Tokens()):
            raise RuntimeError("boom")
    assert model.config._attn_implementation == "sdpa"
    with torch.no_grad():
        model(**inputs)  # the registered implementation is gone from this model


def test_capture_needs_the_tokens():
    model, inputs = tiny_model("llama"), tiny_inputs("llama")
    with pytest.raises(ValueError, match="tokenizer="):
        with torch.no_grad(), capture(model):
            model(**inputs)


def test_seq2seq_families_capture_three_kinds(tmp_path):
    for family in SEQ2SEQ:
        _, records = _captured(tiny_model(family), tiny_inputs(family), tmp_path / family)
        assert sorted(records) == ["cross", "decoder", "encoder"]
        assert records["cross"].shape[2:] == (12, 24)


class _Tokenizer(Tokens):
    def __call__(self, *args, **kwargs):
        raise AssertionError("token-id probes are not tokenised")


@pytest.mark.parametrize("family", ["llama", "bloom"])
def test_probe_logger_captures_models_on_the_interface_and_falls_back_to_eager(family, tmp_path):
    """Bloom computes attention without transformers' attention interface: its probes take the
    eager `output_attentions` path; Llama's the capture. Both records equal eager attention."""
    from tb_attention.analysis.induction_probe import TokenProbe
    from tb_attention.integrations.probe_pass import on_attention_interface

    model = tiny_model(family)
    assert on_attention_interface(model) == (family == "llama")
    ids = tiny_inputs(family)["input_ids"][0].tolist()
    logger = tb_attention.ProbeLogger(_Tokenizer(), {"ids": TokenProbe("ids", ids)}, precision="float32")
    logger.log(model, 3, str(tmp_path), True)
    tb_attention.flush()
    [record] = tb_attention.read_attention(str(tmp_path))
    assert record.step == 3 and record.tokens == ["t%d" % i for i in ids]
    expected = eager_attention(model, {"input_ids": torch.tensor([ids])})["self"]
    np.testing.assert_allclose(record.attention, expected, atol=1e-6)
