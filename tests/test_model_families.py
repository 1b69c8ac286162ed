"""GPT-2-style causal attention and BART-style cross-attention: logged with the real writer, read
back with `read_attention` and served by a real TensorBoard process. Tiny random models, no downloads."""

import subprocess
import sys

import numpy as np
import pytest
import torch

import tb_attention
from demo import model_families as mf  # tiny configs + a word vocabulary
from tb_attention import read_attention
from tests.helpers.data import UINT8_BOUND
from tests.helpers.http import BASE, q, served_layer

SOURCE = "the pilot bought fresh strawberries at the market"
TARGET = "<s> market the at"  # shorter than the source: queries != keys


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """Forward passes of a random GPT-2 and BART, logged at steps 0 and 5 into runs gpt2/ and bart/."""
    torch.set_num_threads(1)  # tiny models: threads only add overhead
    logdir = tmp_path_factory.mktemp("families")
    vocab = mf.WordVocab([SOURCE, TARGET.replace("<s> ", "")])
    expected = {}
    gpt2 = mf.gpt2(len(vocab)).eval()
    bart = mf.bart(len(vocab)).eval()
    source_ids = torch.tensor([vocab.encode(SOURCE)])
    target_ids = torch.tensor([vocab.encode(TARGET)])
    for step, seed in ((0, 1), (5, 2)):
        # A different random model per step stands in for training moving the weights.
        for model in (gpt2, bart):
            torch.manual_seed(seed)
            for p in model.parameters():
                p.data.normal_(0, 0.3)
        with torch.no_grad():
            g = gpt2(input_ids=source_ids, output_attentions=True)
            b = bart(input_ids=source_ids, decoder_input_ids=target_ids, output_attentions=True)
        tb_attention.add_attention(logdir / "gpt2", "probe/self", g.attentions, SOURCE.split(), global_step=step)
        tb_attention.add_attention(
            logdir / "bart", "probe/decoder", b.decoder_attentions, TARGET.split(), global_step=step
        )
        tb_attention.add_attention(
            logdir / "bart",
            "probe/cross",
            b.cross_attentions,
            TARGET.split(),
            global_step=step,
            key_tokens=SOURCE.split(),
            precision="float16",
        )
        for run, tag, attentions in (
            ("gpt2", "probe/self", g.attentions),
            ("bart", "probe/decoder", b.decoder_attentions),
            ("bart", "probe/cross", b.cross_attentions),
        ):
            expected[run, tag, step] = torch.stack([a[0] for a in attentions]).numpy()
    tb_attention.flush()
    return logdir, expected


def _records(logdir, run, tag):
    return {r.step: r for r in read_attention(str(logdir), run=run, tag=tag)}


def test_gpt2_causal_self_attention_round_trips(logged):
    logdir, expected = logged
    records = _records(logdir, "gpt2", "probe/self")
    assert sorted(records) == [0, 5]
    q = len(SOURCE.split())
    for step, record in records.items():
        assert record.tokens == SOURCE.split() and record.key_tokens is None
        assert record.attention.shape == (2, 4, q, q)
        np.testing.assert_allclose(record.attention, expected["gpt2", "probe/self", step], atol=UINT8_BOUND, rtol=0)
        upper = np.triu(np.ones((q, q), dtype=bool), k=1)
        assert np.all(record.attention[..., upper] == 0)  # no query sees a later token
        assert np.all(record.attention[..., 0, 0] == 1)  # the first token can only see itself
        past = np.tril(np.ones((q, q), dtype=bool), k=-1)
        assert record.attention[..., past].sum() > 1  # while later queries do attend to the past
        np.testing.assert_allclose(record.attention.sum(-1), 1, atol=q / 510)
    assert np.abs(records[5].attention - records[0].attention).max() > 0.05


def test_bart_cross_attention_round_trips(logged):
    logdir, expected = logged
    cross = _records(logdir, "bart", "probe/cross")
    decoder = _records(logdir, "bart", "probe/decoder")
    n_q, n_k = len(TARGET.split()), len(SOURCE.split())
    assert sorted(cross) == sorted(decoder) == [0, 5]
    for step in (0, 5):
        record = cross[step]
        assert record.attention.shape == (2, 4, n_q, n_k) and n_q != n_k
        assert record.tokens == TARGET.split() and record.key_tokens == SOURCE.split()
        assert record.precision == "float16"
        np.testing.assert_allclose(record.attention, expected["bart", "probe/cross", step], atol=1e-3, rtol=0)
        self_attention = decoder[step].attention
        assert self_attention.shape == (2, 4, n_q, n_q) and decoder[step].key_tokens is None
        assert np.all(self_attention[..., np.triu(np.ones((n_q, n_q), dtype=bool), k=1)] == 0)
        np.testing.assert_allclose(self_attention, expected["bart", "probe/decoder", step], atol=UINT8_BOUND, rtol=0)


def test_families_through_tensorboard(logged, tensorboard):
    logdir, expected = logged
    tb = tensorboard(logdir)
    tags = tb.wait_for(
        lambda: (
            tb.get_json(BASE + "/tags")["runs"].get("bart", {}).get("probe/cross")
            and tb.get_json(BASE + "/tags")["runs"]
        )
    )
    assert set(tags["gpt2"]) == {"probe/self"} and set(tags["bart"]) == {"probe/decoder", "probe/cross"}

    n_q, n_k = len(TARGET.split()), len(SOURCE.split())
    steps = tb.get_json(BASE + "/steps?" + q(run="bart", tag="probe/cross"))["steps"]
    assert [s["step"] for s in steps] == [0, 5]
    assert all(s["kinds"] == ["cross"] for s in steps)
    assert all(
        p["shape"] == [2, 4, n_q, n_k] and p["key_tokens"] == SOURCE.split() and p["tokens"] == TARGET.split()
        for p in (s["parts"]["cross"] for s in steps)
    )
    steps = tb.get_json(BASE + "/steps?" + q(run="gpt2", tag="probe/self"))["steps"]
    assert (
        [s["step"] for s in steps] == [0, 5]
        and steps[0]["parts"]["self"]["key_tokens"] is None
        and steps[0]["parts"]["self"]["shape"] == [2, 4, n_k, n_k]
    )

    for layer in (0, 1):
        cross = served_layer(tb, "bart", "probe/cross", 5, layer)
        assert cross.shape == (4, n_q, n_k)
        np.testing.assert_allclose(cross, expected["bart", "probe/cross", 5][layer], atol=1e-3, rtol=0)
        causal = served_layer(tb, "gpt2", "probe/self", 0, layer)
        assert np.all(np.triu(causal, k=1) == 0)
        np.testing.assert_allclose(causal, expected["gpt2", "probe/self", 0][layer], atol=UINT8_BOUND, rtol=0)


def test_model_families_demo_script(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "demo.model_families", "--no-serve", "--steps", "20", "--logdir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=str(mf.__file__).rsplit("/demo/", 1)[0],
    )
    assert result.returncode == 0, result.stderr[-3000:]
    records = list(read_attention(str(tmp_path)))
    runs = {r.run.split("-")[0]: r.run for r in records}
    assert set(runs) == {"gpt2", "bart"}
    by_key = {(r.run.split("-")[0], r.tag, r.step): r for r in records}
    assert sorted(s for (run, tag, s) in by_key if tag == "probe/reverse") == list(range(0, 21, 2))
    assert by_key["bart", "probe/reverse", 0].kinds == ["encoder", "decoder", "cross"]
    first, last = (by_key["bart", "probe/reverse", s].part("cross") for s in (0, 20))
    assert last.key_tokens == mf.PROBE.split() + ["</s>"] and last.tokens[0] == "<s>"
    assert np.abs(last.attention - first.attention).max() > 0.1  # training reshaped the cross-attention
    gpt2 = by_key["gpt2", "probe/self", 20].attention
    assert np.all(np.triu(gpt2, k=1) == 0)
