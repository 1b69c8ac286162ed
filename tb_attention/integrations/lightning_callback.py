"""The Lightning callback: the same probes, schedule and sharded-model rule as the Hugging Face
Trainer callback, writing into the TensorBoardLogger's run directory next to Lightning's scalars.
One implementation for both namespaces (`lightning.pytorch` and `pytorch_lightning`): the class
is built on the namespace's own `Callback`, which Lightning checks for."""

import importlib

from tb_attention.integrations.probe_logger import ProbeCallbackBase


def _log_dir(trainer):
    """The run directory of the trainer's TensorBoard logger (the first one, if several)."""
    for logger in getattr(trainer, "loggers", None) or []:
        if type(logger).__name__ == "TensorBoardLogger":
            return logger.log_dir
    return None


def _eval_batches(trainer, pl_module):
    """The first validation dataloader: the trainer's, else the datamodule's or the module's own
    `val_dataloader()` (what `score_examples=N` and head importance take their batches from); None
    if there is none."""
    loaders = getattr(trainer, "val_dataloaders", None)
    if loaders is None:
        source = getattr(trainer, "datamodule", None) or pl_module
        make = getattr(source, "val_dataloader", None)
        try:
            loaders = make() if callable(make) else None
        except Exception:  # Lightning's default hook raises when the module defines none
            loaders = None
    if isinstance(loaders, (list, tuple)):
        loaders = loaders[0] if loaders else None
    return loaders


class _AttentionHooks(ProbeCallbackBase):
    """Lightning hooks over a ProbeLogger (mixed into the namespace's Callback)."""

    def __init__(self, tokenizer, probes, *, model=None, **options):
        if model is not None and not callable(model):
            raise TypeError(
                "model must be a function of the LightningModule returning the Hugging Face model, got %r" % (model,)
            )
        super().__init__(tokenizer, probes, **options)
        self._model = model

    def _hf_model(self, pl_module):
        """The model the probes run through: `model(pl_module)` if given, else the module's
        `.model` when it is a Hugging Face model (has a config), else the module itself."""
        if self._model is not None:
            return self._model(pl_module)
        inner = getattr(pl_module, "model", None)
        return inner if getattr(inner, "config", None) is not None else pl_module

    def _log(self, trainer, pl_module):
        # The validation batches the set of examples and head importance read (either may wait for them).
        self.log_step(
            self._hf_model(pl_module), trainer.global_step, trainer.is_global_zero, _eval_batches(trainer, pl_module)
        )

    def on_train_start(self, trainer, pl_module):
        self.start(self._hf_model(pl_module))
        self.log_dir = self._given_log_dir or _log_dir(trainer)
        if self.log_dir is None and trainer.is_global_zero:
            raise ValueError(
                "tb_attention's AttentionCallback found no TensorBoardLogger: give the Trainer one "
                "(lightning's default logger is one) or pass log_dir="
            )
        if self.probe_logger.all_ranks and trainer.world_size > 1:
            self.log_dir = trainer.strategy.broadcast(self.log_dir, src=0)
        self._log(trainer, pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.probe_logger.due(trainer.global_step):
            self._log(trainer, pl_module)

    def on_validation_end(self, trainer, pl_module):
        if not trainer.sanity_checking and self.log_dir is not None:
            self._log(trainer, pl_module)

    def on_save_checkpoint(self, trainer, pl_module, checkpoint):
        if self.log_dir is not None:
            self._log(trainer, pl_module)

    def on_train_end(self, trainer, pl_module):
        self._log(trainer, pl_module)
        if trainer.is_global_zero or self.probe_logger.all_ranks:
            self.probe_logger.flush()


def callback_class(namespace):
    """AttentionCallback for the Lightning of `namespace` ("lightning.pytorch" or "pytorch_lightning")."""
    base = importlib.import_module(namespace).Callback
    doc = (
        """Logs the attention of a few probe inputs into the TensorBoardLogger's run, while %s trains.

    trainer = Trainer(callbacks=[AttentionCallback(tokenizer, probes)])   # logger: TensorBoardLogger

    Logs at the start of training (the baseline), after every validation, at every checkpoint
    save, at the end of training and, with `every_n_steps`, every N optimizer steps; at most once
    per step. Only the global-zero process writes (all_ranks=True: every rank, into a run of its
    own); when the model is sharded (FSDP, DeepSpeed ZeRO-3, tensor parallel) every process runs
    the probe pass with it. Probes and options as `tb_attention.AttentionCallback` (head
    importance over the first validation loader's batches by default); `model`: a
    function of the LightningModule returning the Hugging Face model to probe (default: its
    `.model` if that has a config, else the module itself); `log_dir`: default the
    TensorBoardLogger's `log_dir`. Training results are exactly those without the callback.
    """
        % namespace
    )
    return type("AttentionCallback", (_AttentionHooks, base), {"__doc__": doc, "__module__": "tb_attention.lightning"})
