"""Pieces of the training-integration tests: a Trainer callback that keeps the model's weights at
the events the attention callback logs on, so a test can run a direct forward at each logged step."""

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
