"""Pieces of the training-integration tests: a Trainer callback that keeps the model's weights at
the events the attention callback logs on, and the direct forward at a logged step to compare
with what was logged."""

import copy

from transformers import TrainerCallback


class Snapshots(TrainerCallback):
    """The model's weights at train begin, every step end, evaluation and train end (placed after
    the attention callback, it sees the weights that callback logged)."""

    def __init__(self):
        self.weights = {}

    def _keep(self, args, state, control, model=None, **kwargs):
        self.weights.setdefault(state.global_step, copy.deepcopy(model.state_dict()))

    on_train_begin = on_step_end = on_evaluate = on_train_end = _keep


def direct_attention(model, weights, inputs, autocast=None):
    """Float32 `[layers, heads, q, k]` of example 0: an eager forward of a copy of `model` holding
    `weights` (a `Snapshots` entry), in eval mode without gradients, on `inputs`; under CPU
    autocast to `autocast` (a dtype) when the trainer trained in mixed precision, as its model's
    forward then runs."""
    import contextlib

    import torch

    reference = copy.deepcopy(model).eval()
    # A mixed-precision Trainer (accelerate) wraps the instance's forward in a closure over the
    # original model, which a deep copy would go on calling: the copy runs its class's forward.
    reference.__dict__.pop("forward", None)
    reference.load_state_dict(weights)
    reference.set_attn_implementation("eager")
    mixed = torch.autocast("cpu", dtype=autocast) if autocast is not None else contextlib.nullcontext()
    with torch.no_grad(), mixed:
        attentions = reference(**inputs, output_attentions=True).attentions
    return torch.stack([a[0] for a in attentions]).float().numpy()
