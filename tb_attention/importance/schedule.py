"""What the training callbacks run at each step they log: head importance over a few eval batches
(the same batches every time, taken once, so the steps compare), written beside the probes."""

import logging

from tb_attention.capture.model_state import needs_every_rank
from tb_attention.importance.batches import first_batches
from tb_attention.importance.log import DEFAULT_TAG, add_importance
from tb_attention.importance.measure import SHARDED, measure_importance, unwrapped

logger = logging.getLogger(__name__)


def _check_count(value, name, low):
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < low):
        raise ValueError("%s must be an int >= %d, got %r" % (name, low, value))


def base_loader(loader):
    """The plain torch DataLoader inside an accelerate-prepared one: iterating the prepared loader
    would synchronise RNG states across ranks and register with accelerate's gradient state."""
    return getattr(loader, "base_dataloader", loader)


class ImportanceLogger:
    """Head importance at each logged step, opt-in: `batches` eval batches (None: off) from
    `data` (ready batches: a DataLoader or a list), else from the eval loader the training
    framework hands over; `loss_fn(model, batch)` (None: the model's own loss); an ablation check
    of the `ablation` most and least important heads; written under `tag`."""

    def __init__(self, batches=None, data=None, loss_fn=None, ablation=0, tag=DEFAULT_TAG):
        _check_count(batches, "importance_batches", 1)
        _check_count(ablation, "importance_ablation", 0)
        if loss_fn is not None and not callable(loss_fn):
            raise TypeError("importance_loss must be a function (model, batch) -> scalar loss, got %r" % (loss_fn,))
        if not isinstance(tag, str) or not tag:
            raise TypeError("importance_tag must be a non-empty str, got %r" % (tag,))
        if batches is None and (data is not None or loss_fn is not None or ablation):
            raise ValueError("head importance is off: pass importance_batches=N (eval batches per logged step)")
        self.count, self.data, self.loss_fn, self.ablation, self.tag = batches, data, loss_fn, ablation or 0, tag
        self._batches = None  # the batches taken once, reused at every step
        self.logged_steps = set()
        self._told = False

    @property
    def enabled(self):
        return self.count is not None

    def reset(self):
        self.logged_steps = set()

    def check_model(self, model):
        """Refuse, before training starts, a model whose importance pass would not be isolated
        (sharded) or whose heads cannot be gated (off the attention interface)."""
        if not self.enabled:
            return
        if needs_every_rank(model):
            raise ValueError("importance_batches: " + SHARDED)
        unwrapped(model)

    def _eval_batches(self, eval_loader):
        if self._batches is None:
            source = self.data if self.data is not None else eval_loader
            if source is None:
                return None
            self._batches = first_batches(base_loader(source), self.count)
        return self._batches

    def log(self, model, step, log_dir, is_main, eval_loader=None):
        """Measure and write at `step` (once per step), on the main process only."""
        if not self.enabled or not is_main or log_dir is None or step in self.logged_steps:
            return
        batches = self._eval_batches(eval_loader)
        if batches is None:
            if not self._told:
                logger.info("tb_attention: no eval batches yet for head importance (pass importance_data=)")
                self._told = True
            return
        result = measure_importance(model, batches, self.loss_fn, ablation=self.ablation)
        add_importance(log_dir, self.tag, result, step)
        self.logged_steps.add(step)
