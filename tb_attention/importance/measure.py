"""The gradient pass: every head's importance as Michel et al. (2019) define it,
`I_h = E_x |dL(x)/d xi_h|`, with `xi_h` a gate (= 1) on head h's attention output.

Each example gets a gate of its own per head (capture/gates.py), so one backward pass of a
batch's mean loss gives every example's derivative: `B * d(mean loss)/d gate[b, h]` is example
b's own `dL/d xi_h` (for a loss that averages over tokens, weighted by the example's share of the
batch's tokens). The absolute values are summed over the examples of every batch and divided by
their number. Gradients are taken for the gates only (`torch.autograd.grad`), so no parameter's
`.grad` is touched; the model runs in eval mode (no dropout) with its modes, kernels and the RNG
put back afterwards, so training goes on exactly as without the pass.
"""

import numpy as np
import torch

from tb_attention.capture.gates import HeadGates
from tb_attention.capture.model_state import device_of, needs_every_rank, on_attention_interface, untouched
from tb_attention.importance.batches import batch_loss, first_batches
from tb_attention.importance.result import HeadImportance

SHARDED = (
    "head importance is not computed for a sharded model (FSDP, FSDP2, DeepSpeed ZeRO-3, tensor "
    "parallel): its backward pass would run the sharding's gradient hooks (reduce-scatter), which "
    "belong to the training step. Measure it on an unsharded copy, or after training."
)


def unwrapped(model):
    """The module inside a DistributedDataParallel wrapper (its forward would prepare a gradient
    reduction that our backward never completes), else the model; refuses what cannot be gated."""
    from torch.nn.parallel import DistributedDataParallel

    if isinstance(model, DistributedDataParallel):
        model = model.module
    if not isinstance(model, torch.nn.Module):
        raise TypeError("model must be a torch.nn.Module, got %s" % type(model).__name__)
    if needs_every_rank(model):
        raise ValueError(SHARDED)
    if not on_attention_interface(model):
        raise ValueError(
            "%s does not compute attention through transformers' attention interface, so its heads "
            "cannot be gated (head importance needs a model that can set_attn_implementation)" % type(model).__name__
        )
    return model


def _batch_gradients(gates, loss):
    """float64 `[rows, heads]`: sum over the batch's examples of |dL(x)/d gate|, and the batch size."""
    leaves = gates.leaves()
    if not leaves:
        raise ValueError("the forward pass made no attention call through transformers' attention interface")
    heads = {leaf.shape[1] for leaf in leaves}
    if len(heads) != 1:
        raise ValueError(
            "the model's attention layers have different head counts %s: not one [layers, heads] grid" % heads
        )
    grads = torch.autograd.grad(loss, leaves, allow_unused=True)
    size = leaves[0].shape[0]
    # Summed on the device in float32, accumulated on the CPU in float64 (not every device has it).
    per_row = [
        torch.zeros(leaf.shape[1], dtype=torch.float64) if grad is None else grad.float().abs().sum(0).cpu().double()
        for grad, leaf in zip(grads, leaves)
    ]
    return torch.stack(per_row) * size, size


def gradient_pass(model, batches, loss_fn=None):
    """A HeadImportance of `model` over the list `batches` (no ablation)."""
    device = device_of(model)
    total, examples, loss_sum, rows = None, 0, 0.0, None
    with untouched(model, device, grad=True), HeadGates(model, grad=True) as gates:
        for batch in batches:
            gates.reset()
            loss = batch_loss(model, batch, loss_fn, device)
            if not loss.requires_grad:
                raise ValueError("the loss does not depend on the model's attention (it requires no gradient)")
            summed, size = _batch_gradients(gates, loss)
            batch_rows = [row for row in gates.rows() if row in gates.gates]
            if rows is not None and batch_rows != rows:
                raise ValueError("batches went through different attention layers (%s, then %s)" % (rows, batch_rows))
            rows = batch_rows
            total = summed if total is None else total + summed
            examples += size
            loss_sum += float(loss.detach()) * size
    values = (total / examples).numpy().astype(np.float32)
    return HeadImportance(values, rows, loss_sum / examples, examples, len(batches))


def measure_importance(model, batches, loss_fn=None, *, ablation=0, max_batches=None):
    """Every head's importance over `batches` (the first `max_batches` of them), with an ablation
    check of the `ablation` most and least important heads when it is above 0: a HeadImportance.

    `batches`: an iterable of batches (a DataLoader, a list); each a dict of model inputs with
    labels (the model's own loss), or anything `loss_fn(model, batch)` takes, returning the
    batch's mean loss as a scalar tensor. A DistributedDataParallel model is measured through its
    module (on the calling rank alone); a sharded model is refused (SHARDED)."""
    from tb_attention.importance.ablation import ablation_check

    if loss_fn is not None and not callable(loss_fn):
        raise TypeError("loss_fn must be a function (model, batch) -> scalar loss, got %r" % (loss_fn,))
    if isinstance(ablation, bool) or not isinstance(ablation, int) or ablation < 0:
        raise ValueError(
            "ablation must be an int >= 0 (heads checked at each end of the ranking), got %r" % (ablation,)
        )
    model = unwrapped(model)
    batches = first_batches(batches, max_batches)
    result = gradient_pass(model, batches, loss_fn)
    if ablation:
        result.ablation = ablation_check(model, batches, result, ablation, loss_fn)
    return result


def head_importance(model, batches, loss_fn=None):
    """Float32 `[layers, heads]`: each head's raw importance (the expected absolute derivative of
    the loss with respect to a gate on its output, Michel et al. 2019) over `batches`; the model's
    own loss when `loss_fn` is None (batches of model inputs with labels), else
    `loss_fn(model, batch)`. Rows are the attention layers in order (encoder-decoder models: the
    encoder's, the decoder's self-attention, then its cross-attention). Normalise per layer for
    display (`tb_attention.analysis.importance.normalize`). The model, its modes, kernels and
    gradients and the RNG are left as they were."""
    return measure_importance(model, batches, loss_fn).values
