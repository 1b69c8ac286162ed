"""A batch's loss for the importance pass and the ablation check: the model's own loss (a batch
of model inputs with labels) or the user's `loss_fn(model, batch)`, on the model's device."""

import collections.abc
import itertools

import torch

from tb_attention.capture.model_state import accepts


def to_device(batch, device):
    """The batch with every tensor moved to `device` (mappings, lists and tuples followed)."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, collections.abc.Mapping):
        return {key: to_device(value, device) for key, value in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(value, device) for value in batch)
    return batch


def first_batches(batches, count=None):
    """The first `count` batches (all with None) as a list: the passes read them more than once.
    A DataLoader draws its workers' base seed from the CPU RNG when it starts: the RNG is put
    back."""
    if isinstance(batches, (collections.abc.Mapping, torch.Tensor)) or not isinstance(
        batches, collections.abc.Iterable
    ):
        raise TypeError(
            "batches must be an iterable of batches (a DataLoader, a list of dicts), got %s" % type(batches).__name__
        )
    with torch.random.fork_rng(devices=[]):
        taken = list(itertools.islice(batches, count))
    if not taken:
        raise ValueError("batches is empty: head importance needs at least one batch")
    return taken


def batch_loss(model, batch, loss_fn, device):
    """The scalar loss of one batch: `loss_fn(model, batch)`, or the model's own loss when
    `loss_fn` is None (the batch a mapping of model inputs with labels)."""
    batch = to_device(batch, device)
    if loss_fn is not None:
        loss = loss_fn(model, batch)
    else:
        if not isinstance(batch, collections.abc.Mapping):
            raise TypeError(
                "without loss_fn each batch must be a dict of model inputs with labels, got %s: pass "
                "loss_fn=lambda model, batch: ... to compute the loss" % type(batch).__name__
            )
        kwargs = dict(batch)
        if accepts(model, "use_cache"):
            kwargs.setdefault("use_cache", False)
        outputs = model(**kwargs)
        loss = outputs.get("loss") if isinstance(outputs, collections.abc.Mapping) else getattr(outputs, "loss", None)
        if loss is None:
            raise ValueError(
                "the model returned no loss: give batches with labels, or pass loss_fn=lambda model, batch: ..."
            )
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1 or not loss.is_floating_point():
        raise ValueError("the loss must be a floating-point scalar tensor (the batch's mean loss), got %r" % (loss,))
    return loss.reshape(())
