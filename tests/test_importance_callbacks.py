"""Head importance from the training callbacks: a real `transformers.Trainer` on the packaged
MiniLM and a real Lightning Trainer log it at each logged step from their eval data, equal to
`head_importance` of the weights at that step; training is bit-identical with and without it."""

import copy

import numpy as np
import pytest
import torch

import tb_attention
from tests.helpers.training import Snapshots, classifier, one_torch_thread, pair_dataset, train  # noqa: F401

pytestmark = pytest.mark.slow


def _eval_loader(tokenizer, batch_size=4):
    from transformers import DataCollatorWithPadding

    collate = DataCollatorWithPadding(tokenizer)
    return torch.utils.data.DataLoader(pair_dataset(tokenizer), batch_size=batch_size, collate_fn=collate)


def _assert_same_weights(a, b):
    changed = [name for name, value in b.state_dict().items() if not torch.equal(a.state_dict()[name], value)]
    assert not changed, changed


def test_trainer_logs_importance_at_each_logged_step_and_training_is_unchanged(minilm, tmp_path):
    tokenizer, _ = minilm
    callback = tb_attention.AttentionCallback(
        tokenizer,
        ["a probe"],
        log_dir=tmp_path / "logs",
        importance_batches=2,
        importance_data=_eval_loader(tokenizer),
        importance_ablation=1,
    )
    snapshots = Snapshots()
    logged, _ = train(tokenizer, tmp_path / "a", [callback, snapshots])
    tb_attention.flush()
    records = {r.step: r for r in tb_attention.read_importance(str(tmp_path / "logs"))}
    # Train begin, checkpoints at 2, 4, 6, evaluations at 3 and 6: each step once.
    assert sorted(records) == [0, 2, 3, 4, 6]
    batches = list(_eval_loader(tokenizer))[:2]
    for step, record in records.items():
        model = classifier()
        model.load_state_dict(snapshots.weights[step])
        expected = tb_attention.measure_importance(model, batches)
        np.testing.assert_allclose(record.values, expected.values, rtol=1e-5, atol=1e-9)
        assert record.loss == pytest.approx(expected.loss, rel=1e-6)
        assert record.examples == 8 and record.batches == 2 and record.ablation["k"] == 1
    assert np.abs(records[6].values - records[0].values).max() > 1e-4  # training moved it
    # Dropout is on and the data shuffled: a pass that consumed RNG, changed a mode or touched a
    # gradient would show in the weights.
    plain, _ = train(tokenizer, tmp_path / "b", [])
    _assert_same_weights(logged.model, plain.model)
    assert logged.model.config._attn_implementation == "sdpa"


def test_without_importance_data_the_trainers_eval_loader_is_used_from_its_first_evaluation(minilm, tmp_path):
    tokenizer, _ = minilm
    callback = tb_attention.AttentionCallback(
        tokenizer, ["a probe"], log_dir=tmp_path / "logs", importance_batches=1, importance_tag="imp"
    )
    train(tokenizer, tmp_path / "a", [callback], save_strategy="no")
    tb_attention.flush()
    records = list(tb_attention.read_importance(str(tmp_path / "logs"), tag="imp"))
    assert [r.step for r in records] == [3, 6] and all(r.examples == 8 for r in records)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(importance_batches=0), ValueError, "importance_batches must be an int >= 1"),
        (dict(importance_ablation=2), ValueError, "pass importance_batches=N"),
        (dict(importance_batches=1, importance_loss="ce"), TypeError, "importance_loss must be a function"),
        (dict(importance_batches=1, importance_tag=""), TypeError, "importance_tag must be a non-empty str"),
    ],
)
def test_bad_importance_options_are_named(minilm, kwargs, error, message):
    with pytest.raises(error, match=message):
        tb_attention.AttentionCallback(minilm[0], ["a probe"], **kwargs)


def _lightning_loss(model, batch):
    ids, mask, labels = batch
    return model(input_ids=ids, attention_mask=mask, labels=labels).loss


def test_lightning_logs_importance_from_its_validation_loader_and_training_is_unchanged(minilm, tmp_path):
    import lightning.pytorch as lightning

    from tb_attention.lightning import AttentionCallback
    from tests.test_integrations_lightning import _snapshots, _train

    tokenizer, _ = minilm
    callback = AttentionCallback(
        tokenizer, ["a fine day"], every_n_steps=2, importance_batches=1, importance_loss=_lightning_loss
    )
    snapshots = _snapshots(lightning)
    module, logger = _train(lightning, tokenizer, tmp_path / "a", [callback, snapshots])
    tb_attention.flush()
    records = list(tb_attention.read_importance(logger.log_dir))
    assert [r.step for r in records] == [0, 2, 3, 4, 6]
    batch = next(iter(module.val_dataloader()))
    for r in records:
        model = copy.deepcopy(module.model)
        model.load_state_dict(snapshots.weights[r.step])
        expected = tb_attention.head_importance(model, [batch], _lightning_loss)
        np.testing.assert_allclose(r.values, expected, rtol=1e-5, atol=1e-9)
    without, _ = _train(lightning, tokenizer, tmp_path / "b", [])
    _assert_same_weights(module.model, without.model)


def test_a_model_whose_heads_cannot_be_gated_is_refused_before_training(minilm, tmp_path):
    from transformers import TrainerControl, TrainerState, TrainingArguments

    from tests.helpers.tiny_models import tiny_model

    callback = tb_attention.AttentionCallback(minilm[0], ["a probe"], log_dir=tmp_path, importance_batches=1)
    args = TrainingArguments(output_dir=str(tmp_path / "out"), report_to="none", use_cpu=True)
    with pytest.raises(ValueError, match="attention interface, so its heads cannot be gated"):
        callback.on_train_begin(args, TrainerState(), TrainerControl(), model=tiny_model("bloom", None))
