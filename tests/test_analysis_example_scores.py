"""Pattern scores over a set of examples (`score_examples=`): the logged mean, spread and
confidence interval equal a direct numpy computation over the same examples; the interval
narrows as examples are added; every form of examples gives the same scores; the eager path
and Trainer's eval batches."""

import csv
import pathlib
import warnings

import numpy as np
import pytest
import torch
from scipy import stats

import tb_attention
from tb_attention.analysis.scoring import METRICS, compute_patterns
from tb_attention.integrations.example_set import ExampleSet, score_set

ROOT = pathlib.Path(__file__).resolve().parent.parent
with open(ROOT / "demo" / "data" / "train.tsv", encoding="utf-8") as f:
    PAIRS = [(r["sentence_a"], r["sentence_b"]) for r in csv.DictReader(f, delimiter="\t")][:128]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # test workers share two cores
    yield
    torch.set_num_threads(threads)


def _eager(model, tokenizer, a, b):
    """float64 [layers, heads, q, q] of an eager forward, its tokens and sentence B's start."""
    enc = tokenizer(a, b, return_tensors="pt")
    with torch.no_grad():
        attentions = model(**enc, output_attentions=True).attentions
    tokens = tokenizer.convert_ids_to_tokens(enc["input_ids"][0])
    return torch.stack([x[0] for x in attentions]).double().numpy(), tokens, enc["token_type_ids"][0].tolist().index(1)


def _direct(a, tokens):
    """A few metrics written out in numpy for every head (bidirectional rows: every row counts)."""
    cls = [j for j, t in enumerate(tokens) if t == "[CLS]"]
    return {
        "previous_token": np.diagonal(a, -1, 2, 3).mean(-1),
        "next_token": np.diagonal(a, 1, 2, 3).mean(-1),
        "self": np.diagonal(a, 0, 2, 3).mean(-1),
        "sink": a[..., 0].mean(-1),
        "cls": a[..., cls].sum(-1).mean(-1),
        "entropy": -(a * np.log(np.where(a > 0, a, 1))).sum(-1).mean(-1),
        "confidence": a.max(-1).mean(-1),
    }


def _summary(per_example):
    """mean, std, half width and count over examples [n, L, H], NaN examples left out."""
    values = np.asarray(per_example, dtype=np.float64)
    count = np.isfinite(values).sum(0)
    with warnings.catch_warnings():  # metrics no example defines: NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(values, 0)
        std = np.nanstd(values, 0, ddof=1)
    return mean, std, stats.t.ppf(0.975, count - 1) * std / np.sqrt(count), count


def test_scores_over_examples_equal_a_direct_computation(minilm, tmp_path):
    tokenizer, model = minilm
    examples = PAIRS[:8]
    logger = tb_attention.ProbeLogger(tokenizer, {"seed": "I went to the store."}, score_examples=examples)
    logger.log(model, 5, str(tmp_path), True)
    tb_attention.flush()
    [record] = tb_attention.read_attention(str(tmp_path), tag="probe/examples")
    summary = record.example_scores
    assert record.step == 5 and summary["examples"] == 8 and summary["level"] == 0.95
    eager = [_eager(model, tokenizer, a, b) for a, b in examples]
    assert record.tokens == eager[0][1]  # the record shows the first example's attention
    direct = [_direct(a, tokens) for a, tokens, _ in eager]
    full = [compute_patterns(a.astype(np.float32), tokens, sentence_b_start=sb) for a, tokens, sb in eager]
    for metric in METRICS:
        per_example = [d[metric] for d in direct] if metric in direct[0] else [s[metric] for s in full]
        mean, std, half, count = _summary(per_example)
        np.testing.assert_array_equal(summary["count"][metric], count, err_msg=metric)
        for got, expected in ((record.patterns[metric], mean), (summary["std"][metric], std)):
            np.testing.assert_allclose(got, expected, atol=2e-5, equal_nan=True, err_msg=metric)
        np.testing.assert_allclose(summary["half"][metric], half, atol=2e-5, rtol=1e-4, equal_nan=True, err_msg=metric)
    assert np.isnan(record.patterns["retrieval"]).all() and (summary["count"]["retrieval"] == 0).all()
    assert (summary["std"]["previous_token"] > 0).all()


@pytest.mark.slow
def test_the_interval_narrows_from_8_to_128_examples(minilm):
    tokenizer, model = minilm
    results = {}
    for n in (8, 128):
        examples = ExampleSet(PAIRS[:n], "probe/examples")
        results[n] = score_set(model, examples.inputs(tokenizer, model, None), {})
    ratios = []
    for metric in ("previous_token", "cls", "sink", "entropy", "span_mean", "local_window"):
        s8, s128 = results[8][1], results[128][1]
        assert (s8["count"][metric] == 8).all() and (s128["count"][metric] == 128).all()
        ratios.append((s128["half"][metric] / s8["half"][metric]).ravel())
    ratios = np.concatenate(ratios)
    # sqrt(8 / 128) t(0.975, 127) / t(0.975, 7) = 0.21 for an unchanged spread.
    assert np.median(ratios) < 0.4 and np.mean(ratios < 1) > 0.95, np.quantile(ratios, [0.1, 0.5, 0.9])


def test_every_form_of_examples_gives_the_same_scores(minilm):
    import datasets

    tokenizer, model = minilm
    pairs = PAIRS[:3]
    a, b = [p[0] for p in pairs], [p[1] for p in pairs]
    padded = tokenizer(a, b, padding=True, return_tensors="pt")
    tokenizer.padding_side = "left"
    try:
        left = tokenizer(a, b, padding=True, return_tensors="pt")
    finally:
        tokenizer.padding_side = "right"
    columns = {k: v.tolist() for k, v in padded.items()}
    forms = {
        "batch": dict(padded),
        "left-padded batches": [dict(left)],
        "columns": columns,
        "dataset": datasets.Dataset.from_dict(columns),
        "rows": [{k: v[i] for k, v in columns.items()} for i in range(3)],
    }
    expected = score_set(model, ExampleSet(pairs, "x").inputs(tokenizer, model, None), {})
    for name, form in forms.items():
        got = score_set(model, ExampleSet(form, "x").inputs(tokenizer, model, None), {})
        for metric in METRICS:
            np.testing.assert_allclose(got[0][metric], expected[0][metric], atol=1e-5, err_msg=(name, metric))
    texts = [p[0] for p in pairs]
    by_text = score_set(
        model, ExampleSet(datasets.Dataset.from_dict({"text": texts}), "x").inputs(tokenizer, model, None), {}
    )
    ids = [tokenizer(t)["input_ids"] for t in texts]
    by_ids = score_set(model, ExampleSet(ids, "x").inputs(tokenizer, model, None), {})
    np.testing.assert_allclose(by_text[0]["entropy"], by_ids[0]["entropy"], atol=1e-6)


def test_the_eager_path_scores_examples_too(tmp_path):
    """Bloom computes attention outside transformers' interface: eager output_attentions."""
    from tb_attention.analysis.scoring import head_patterns
    from tests.helpers.tiny_models import Tokens, eager_attention, tiny_inputs, tiny_model

    class Tokenizer(Tokens):
        def __call__(self, *args, **kwargs):
            raise AssertionError("token ids are not tokenised")

    model = tiny_model("bloom")
    examples = [tiny_inputs("bloom", length=12 + 3 * i, seed=i)["input_ids"][0].tolist() for i in range(4)]
    logger = tb_attention.ProbeLogger(Tokenizer(), [], score_examples=examples, precision="float32")
    logger.log(model, 2, str(tmp_path), True)
    tb_attention.flush()
    [record] = tb_attention.read_attention(str(tmp_path), tag="probe/examples")
    eager = [eager_attention(model, {"input_ids": torch.tensor([ids])})["self"] for ids in examples]
    np.testing.assert_allclose(record.attention, eager[0], atol=1e-6)
    scores = [head_patterns(a, ["t%d" % i for i in ids]) for a, ids in zip(eager, examples)]
    for metric in ("previous_token", "entropy", "span_mean"):
        np.testing.assert_allclose(record.patterns[metric], _summary([s[metric] for s in scores])[0], atol=2e-5)


@pytest.mark.parametrize(
    "examples, error, message",
    [
        ("one text", TypeError, "score_examples is 'str'"),
        ([], ValueError, "empty"),
        (0, ValueError, "positive number of eval batches"),
        ([{"label": 1}], TypeError, "needs input_ids or text"),
        ([3.5], TypeError, "example 0 is 3.5"),
        ({"input_ids": [[1, 2], [3]], "text": ["a"]}, TypeError, "columns of equal length"),
        ([(torch.ones(2, 3, dtype=torch.long), torch.ones(2, 3))], TypeError, "batches as dicts"),
    ],
)
def test_bad_examples_are_named(minilm, examples, error, message):
    tokenizer, model = minilm
    with pytest.raises(error, match=message):
        ExampleSet(examples, "x").inputs(tokenizer, model, None)


def test_an_encoder_decoder_model_and_a_clashing_tag_are_refused(minilm):
    from tests.helpers.tiny_models import Tokens, tiny_model

    with pytest.raises(ValueError, match="not encoder-decoder"):
        ExampleSet([[5, 6, 7]], "x").inputs(Tokens(), tiny_model("t5"), None)
    with pytest.raises(ValueError, match="tag of score_examples"):
        tb_attention.ProbeLogger(minilm[0], {"examples": "a text"}, score_examples=["b"])


@pytest.mark.slow
def test_trainer_scores_the_first_eval_batches_from_its_first_evaluation(minilm, tmp_path):
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    from tests.helpers.tiny_models import tiny_bert_classifier

    tokenizer, _ = minilm
    model = tiny_bert_classifier(tokenizer.vocab_size)
    enc = tokenizer([a for a, _ in PAIRS[:8]], [b for _, b in PAIRS[:8]], truncation=True, max_length=32)
    data = [dict({k: v[i] for k, v in enc.items()}, labels=i % 2) for i in range(8)]
    callback = tb_attention.AttentionCallback(tokenizer, {"seed": "I went to the store."}, score_examples=1)
    args = TrainingArguments(
        output_dir=str(tmp_path),
        max_steps=4,
        per_device_train_batch_size=4,
        per_device_eval_batch_size=3,
        eval_strategy="steps",
        eval_steps=2,
        save_strategy="no",
        report_to="tensorboard",
        use_cpu=True,
        disable_tqdm=True,
        seed=0,
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=data,
        eval_dataset=data,
        data_collator=DataCollatorWithPadding(tokenizer),
        callbacks=[callback],
    )
    trainer.train()
    probes = list(tb_attention.read_attention(callback.log_dir, tag="probe/seed"))
    sets = list(tb_attention.read_attention(callback.log_dir, tag="probe/examples"))
    assert [r.step for r in probes] == [0, 2, 4]  # Trainer has no eval dataloader at step 0
    assert [r.step for r in sets] == [2, 4] and all(r.example_scores["examples"] == 3 for r in sets)
    assert sets[0].tokens == tokenizer.convert_ids_to_tokens(data[0]["input_ids"])  # the first eval example
