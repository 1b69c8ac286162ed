"""The Lightning callback with a real `lightning.pytorch.Trainer` on CPU: the steps it logs, the
tokens and the attention equal a direct forward at those steps, in the TensorBoardLogger's run
beside Lightning's scalars, and training is bit-identical with and without it."""

import copy
import glob
import os

import numpy as np
import pytest
import torch

import tb_attention
from tests.conftest import SEED_A, SEED_B, SEED_TOKENS
from tests.helpers.data import UINT8_BOUND
from tests.helpers.tiny_models import tiny_bert_classifier

pytestmark = pytest.mark.slow


def _module_class(lightning):
    class Classifier(lightning.LightningModule):
        def __init__(self, tokenizer):
            super().__init__()
            self.model = tiny_bert_classifier(tokenizer.vocab_size, max_position_embeddings=64)
            enc = tokenizer(
                ["the soup was good", "the soup was bad", "a fine day", "a grey day"] * 4,
                padding="max_length",
                max_length=10,
                return_tensors="pt",
            )
            labels = torch.tensor([1, 0, 1, 0] * 4)
            self.data = list(zip(enc["input_ids"], enc["attention_mask"], labels))

        def training_step(self, batch, batch_idx):
            ids, mask, labels = batch
            loss = self.model(input_ids=ids, attention_mask=mask, labels=labels).loss
            self.log("train_loss", loss)
            return loss

        def validation_step(self, batch, batch_idx):
            ids, mask, labels = batch
            self.log("val_loss", self.model(input_ids=ids, attention_mask=mask, labels=labels).loss)

        def configure_optimizers(self):
            return torch.optim.AdamW(self.parameters(), lr=5e-3)

        def train_dataloader(self):
            return torch.utils.data.DataLoader(
                self.data, batch_size=4, shuffle=True, generator=torch.Generator().manual_seed(1)
            )

        def val_dataloader(self):
            return torch.utils.data.DataLoader(self.data[:4], batch_size=4)

    return Classifier


def _snapshots(lightning):
    class Snapshots(lightning.Callback):
        """The model's weights whenever tb_attention's callback may log (it runs after it)."""

        def __init__(self):
            self.weights = {}

        def _keep(self, trainer, pl_module):
            self.weights.setdefault(trainer.global_step, copy.deepcopy(pl_module.model.state_dict()))

        on_train_start = _keep
        on_validation_end = lambda self, t, m: None if t.sanity_checking else self._keep(t, m)  # noqa: E731
        on_train_end = _keep

        def on_train_batch_end(self, trainer, pl_module, *args):
            self._keep(trainer, pl_module)

    return Snapshots()


def _train(lightning, tokenizer, root, callbacks, max_steps=6, module_class=None):
    torch.manual_seed(0)
    module = (module_class or _module_class(lightning))(tokenizer)
    logger = lightning.loggers.TensorBoardLogger(str(root), name="lightning")
    trainer = lightning.Trainer(
        max_steps=max_steps,
        val_check_interval=3,
        logger=logger,
        callbacks=callbacks,
        accelerator="cpu",
        devices=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        num_sanity_val_steps=1,
        deterministic=True,
        log_every_n_steps=1,
    )
    trainer.fit(module)
    return module, logger


def test_lightning_logs_the_probes_beside_its_scalars(minilm, tmp_path):
    import lightning.pytorch as lightning
    from tensorboard.backend.event_processing import event_accumulator

    from tb_attention.lightning import AttentionCallback

    tokenizer, _ = minilm
    callback = AttentionCallback(tokenizer, {"store": (SEED_A, SEED_B)}, every_n_steps=2)
    snapshots = _snapshots(lightning)
    module, logger = _train(lightning, tokenizer, tmp_path, [callback, snapshots])
    assert os.path.realpath(callback.log_dir) == os.path.realpath(logger.log_dir)
    records = list(tb_attention.read_attention(logger.log_dir))
    # Start, every 2 steps, validation at steps 3 and 6, the end: each step once.
    assert [r.step for r in records] == [0, 2, 3, 4, 6]
    lightning_files = [
        f for f in glob.glob(os.path.join(logger.log_dir, "events.out.tfevents.*")) if "tb_attention" not in f
    ]
    scalars = event_accumulator.EventAccumulator(lightning_files[0]).Reload().Tags()["scalars"]
    assert "train_loss" in scalars and "val_loss" in scalars  # the same run directory as Lightning's scalars
    enc = tokenizer(SEED_A, SEED_B, return_tensors="pt")
    model = copy.deepcopy(module.model).eval()
    model.set_attn_implementation("eager")
    for r in records:
        assert r.tokens == SEED_TOKENS and r.sentence_b_start == SEED_TOKENS.index("at")
        model.load_state_dict(snapshots.weights[r.step])
        with torch.no_grad():
            expected = torch.stack([a[0] for a in model(**enc, output_attentions=True).attentions]).numpy()
        assert np.abs(r.attention - expected).max() <= UINT8_BOUND, r.step
    assert module.model.config._attn_implementation == "sdpa"  # training kept its kernel


def test_training_is_bit_identical_with_and_without_the_callback(minilm, tmp_path):
    import lightning.pytorch as lightning

    from tb_attention.lightning import AttentionCallback

    tokenizer, _ = minilm
    with_cb, _ = _train(
        lightning, tokenizer, tmp_path / "a", [AttentionCallback(tokenizer, ["a fine day"], every_n_steps=1)]
    )
    without, _ = _train(lightning, tokenizer, tmp_path / "b", [])
    for (name, a), (_, b) in zip(with_cb.model.state_dict().items(), without.model.state_dict().items()):
        assert torch.equal(a, b), name


def test_the_pytorch_lightning_namespace(minilm, tmp_path):
    import pytorch_lightning

    from tb_attention.pytorch_lightning import AttentionCallback

    tokenizer, _ = minilm
    callback = AttentionCallback(tokenizer, ["a fine day"])
    assert isinstance(callback, pytorch_lightning.Callback)
    _, logger = _train(pytorch_lightning, tokenizer, tmp_path, [callback], max_steps=2)
    assert [r.step for r in tb_attention.read_attention(logger.log_dir)] == [0, 2]


def test_a_trainer_without_tensorboard_logger_is_told(minilm, tmp_path):
    import lightning.pytorch as lightning

    from tb_attention.lightning import AttentionCallback

    tokenizer, _ = minilm
    module = _module_class(lightning)(tokenizer)
    trainer = lightning.Trainer(
        max_steps=1,
        logger=False,
        callbacks=[AttentionCallback(tokenizer, ["x y"])],
        accelerator="cpu",
        enable_progress_bar=False,
        enable_checkpointing=False,
        default_root_dir=str(tmp_path),
    )
    with pytest.raises(ValueError, match="found no TensorBoardLogger"):
        trainer.fit(module)


def test_lightning_scores_the_first_validation_batches(minilm, tmp_path):
    """score_examples=1: the first batch of the module's validation dataloader (dicts), its
    padding dropped, scored from the start of training on."""
    import lightning.pytorch as lightning

    from tb_attention.lightning import AttentionCallback

    class DictBatches(_module_class(lightning)):
        def val_dataloader(self):
            rows = [{"input_ids": i, "attention_mask": m, "labels": y} for i, m, y in self.data[:4]]
            return torch.utils.data.DataLoader(rows, batch_size=4)

        def validation_step(self, batch, batch_idx):
            self.log("val_loss", self.model(**batch).loss)

    tokenizer, _ = minilm
    callback = AttentionCallback(tokenizer, {"store": SEED_A}, score_examples=1)
    module, logger = _train(lightning, tokenizer, tmp_path, [callback], module_class=DictBatches)
    sets = list(tb_attention.read_attention(logger.log_dir, tag="probe/examples"))
    assert [r.step for r in sets] == [0, 3, 6] and all(r.example_scores["examples"] == 4 for r in sets)
    first = [int(i) for i, m in zip(module.data[0][0], module.data[0][1]) if m]
    assert sets[0].tokens == tokenizer.convert_ids_to_tokens(first)  # padding dropped
