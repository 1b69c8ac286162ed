"""Head importance (tb_attention.head_importance) through one code path for a tiny Llama (grouped-
query attention) and a tiny BERT: equal to finite differences of each example's loss in the scale
of one head, taken where the model's output projection reads it (not through tb-attention's
gates); the same for the model's SDPA and eager kernels; the model, its modes, gradients, kernel
and the RNG left as they were; bad input named."""

import numpy as np
import pytest
import torch

import tb_attention
from tests.helpers.importance import finite_difference, lm_losses
from tests.helpers.tiny_models import VOCAB, tiny_model


def _lm_batches(count=2, size=3, length=10):
    generator = torch.Generator().manual_seed(5)
    batches = []
    for _ in range(count):
        ids = torch.randint(5, VOCAB - 5, (size, length), generator=generator)
        batches.append({"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids})
    return batches


def _bert_classifier():
    import transformers as t

    torch.manual_seed(0)
    config = t.BertConfig(
        vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4
    )
    return t.BertForSequenceClassification(config).eval()


def _bert_batches():
    batches = _lm_batches()
    for i, batch in enumerate(batches):
        batch["labels"] = torch.tensor([0, 1, i % 2])
        batch["attention_mask"][1, 7:] = 0  # padding in one example
    return batches


def _bert_losses(model, batch):
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    logits = model(**inputs).logits.double()
    return torch.nn.functional.cross_entropy(logits, batch["labels"], reduction="none")


@pytest.mark.parametrize("family", ["llama", "bert"])
def test_importance_equals_finite_differences_at_the_output_projection(family):
    if family == "llama":
        model, batches, losses = tiny_model("llama", "sdpa").double(), _lm_batches(), lm_losses
    else:
        model, batches, losses = _bert_classifier().double(), _bert_batches(), _bert_losses
    importance = tb_attention.head_importance(model, batches)  # the model's own loss
    assert importance.shape == (2, 4) and importance.dtype == np.float32
    assert (importance > 0).all()
    # Llama's RMSNorm computes in float32 even in a float64 model: a larger step keeps its
    # rounding out of the difference (truncation error ~eps^2).
    eps, rtol = (1e-2, 2e-2) if family == "llama" else (1e-5, 1e-4)
    for layer, head in [(0, 0), (0, 3), (1, 1), (1, 2)]:
        expected = finite_difference(model, family, batches, losses, layer, head, eps)
        assert importance[layer, head] == pytest.approx(expected, rel=rtol), (layer, head)


def test_sdpa_and_eager_give_the_same_importance_and_rows_are_kind_ordered():
    batches = _lm_batches()
    sdpa = tb_attention.measure_importance(tiny_model("llama", "sdpa"), batches)
    eager = tb_attention.measure_importance(tiny_model("llama", "eager"), batches)
    np.testing.assert_allclose(sdpa.values, eager.values, rtol=1e-4)
    assert sdpa.rows == [("self", 0), ("self", 1)] and sdpa.stored_rows is None
    assert sdpa.examples == 6 and sdpa.batches == 2 and np.isfinite(sdpa.loss)
    norms = np.linalg.norm(sdpa.normalized, axis=1)
    np.testing.assert_allclose(norms, 1, rtol=1e-6)

    bart = tiny_model("bart", "sdpa")
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(5, VOCAB - 5, (2, 8), generator=generator)
    result = tb_attention.measure_importance(bart, [{"input_ids": ids, "labels": ids}])
    assert result.values.shape == (6, 4)
    assert result.stored_rows == [(k, layer) for k in ("encoder", "decoder", "cross") for layer in (0, 1)]


def test_the_model_its_modes_gradients_kernel_and_the_rng_are_left_as_they_were():
    model = tiny_model("llama", "sdpa").train()
    model.model.layers[1].eval()  # a mixed state, put back module by module
    batches = _lm_batches()
    loss = model(**batches[0]).loss
    loss.backward()  # parameters hold gradients of a training step
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    model.lm_head.weight.grad = None
    modes = {name: m.training for name, m in model.named_modules()}
    weights = {name: p.detach().clone() for name, p in model.named_parameters()}
    rng = torch.get_rng_state()

    tb_attention.measure_importance(model, batches, ablation=2)

    assert torch.equal(torch.get_rng_state(), rng)
    assert {name: m.training for name, m in model.named_modules()} == modes
    assert model.config._attn_implementation == "sdpa"
    assert model.lm_head.weight.grad is None
    for name, p in model.named_parameters():
        assert torch.equal(p, weights[name]), name
        if name in grads and name != "lm_head.weight":
            assert torch.equal(p.grad, grads[name]), name


def test_the_ablation_check_zeroes_the_most_and_least_important_heads():
    model = tiny_model("llama", "sdpa")
    batches = _lm_batches()
    result = tb_attention.measure_importance(model, batches, ablation=2)
    check = result.ablation
    assert check["mode"] == "zero" and check["k"] == 2
    assert check["base_loss"] == pytest.approx(result.loss, rel=1e-6)
    ranked = np.argsort(-result.normalized, axis=None, kind="stable")
    most = [divmod(int(i), 4) for i in ranked[:2]]
    least = [divmod(int(i), 4) for i in ranked[::-1][:2]]
    assert [(e["layer"], e["head"]) for e in check["heads"] if e["group"] == "most"] == most
    assert [(e["layer"], e["head"]) for e in check["heads"] if e["group"] == "least"] == least
    # Each entry is the loss with that head zeroed, measured again here by the model's own loss.
    from tb_attention.capture.gates import HeadGates

    entry = check["heads"][0]
    with torch.no_grad(), HeadGates(model, {("self", entry["layer"]): {entry["head"]: 0.0}}):
        losses = [float(model(**b).loss) for b in batches]
    assert entry["loss"] == pytest.approx(np.mean(losses), rel=1e-6)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda m, b: tb_attention.head_importance(m, []), ValueError, "batches is empty"),
        (lambda m, b: tb_attention.head_importance(m, b[0]), TypeError, "iterable of batches"),
        (
            lambda m, b: tb_attention.head_importance(m, [{"input_ids": b[0]["input_ids"]}]),
            ValueError,
            "returned no loss",
        ),
        (lambda m, b: tb_attention.head_importance(m, [(1, 2)]), TypeError, "dict of model inputs"),
        (lambda m, b: tb_attention.head_importance(m, b, loss_fn="mean"), TypeError, "loss_fn must be a function"),
        (lambda m, b: tb_attention.head_importance(m, b, loss_fn=lambda *a: 1.0), ValueError, "scalar tensor"),
        (lambda m, b: tb_attention.measure_importance(m, b, ablation=-1), ValueError, "ablation must be"),
        (lambda m, b: tb_attention.head_importance(torch.nn.Linear(2, 2), b), ValueError, "attention interface"),
    ],
)
def test_bad_input_is_named(call, error, message):
    model = tiny_model("llama", "sdpa")
    with pytest.raises(error, match=message):
        call(model, _lm_batches())
    assert model.config._attn_implementation == "sdpa"
