"""Head-importance records (format 4): written by `add_importance` into the run beside the
attention, read back by `read_importance`, served by /importance and as the `importance` metric of
/patterns (with the "important" label and /formed), hidden from /tags and from readers before
format 4; bad records and bad input named."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import tb_attention
from tb_attention.format import metadata
from tb_attention.format.errors import FormatError
from tb_attention.format.importance import decode_importance, encode_importance, make_importance
from tb_attention.importance.result import HeadImportance
from tests.helpers.data import softmax_attention, tokens_for
from tests.helpers.http import BASE, client_json, q, wsgi_client

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = (0, 5, 10)


def _values(step):
    """[2, 4] raw importance: head (1, 2) grows from the least to the most important of layer 1."""
    values = np.full((2, 4), 0.02, dtype=np.float32) + np.random.RandomState(step).rand(2, 4).astype(np.float32) * 1e-3
    values[1, 2] = 0.001 + 0.01 * step
    values[0, 0] = 3e-7  # a tiny raw value keeps its digits
    return values


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("importance_records")
    for step in STEPS:
        tb_attention.add_attention(
            root / "run", "probe/p", softmax_attention((2, 4, 5, 5), seed=step), tokens_for(5), step
        )
        ablation = {"mode": "zero", "k": 1, "base_loss": 0.5, "joint": {"most": 0.9, "least": 0.51}}
        ablation["heads"] = [
            {"group": "most", "layer": 1, "head": 2, "importance": 0.9, "loss": 0.9},
            {"group": "least", "layer": 0, "head": 0, "importance": 0.0, "loss": 0.51},
        ]
        result = HeadImportance(_values(step), [("self", 0), ("self", 1)], 0.5 + step, 16, 2, ablation)
        tb_attention.add_importance(root / "run", "importance", result, step)
    tb_attention.add_importance(root / "run", "importance", _values(12), 12)  # a step without attention
    # A record of a subset of layers and heads, and an encoder-decoder model's rows.
    tb_attention.add_attention(
        root / "subset", "probe/p", softmax_attention((2, 4, 5, 5), seed=1), tokens_for(5), 0, layers=[1], heads=[2, 3]
    )
    tb_attention.add_importance(root / "subset", "importance", _values(10), 0)
    rows = [("encoder", 0), ("decoder", 0), ("cross", 0)]
    tb_attention.add_importance(root / "seq2seq", "importance", np.arange(12.0).reshape(3, 4) + 1, 3, rows=rows)
    tb_attention.flush()
    return root


def test_records_round_trip_beside_the_attention(logdir):
    records = list(tb_attention.read_importance(str(logdir), run="run"))
    assert [(r.tag, r.step) for r in records] == [("importance", s) for s in STEPS + (12,)]
    first = records[0]
    np.testing.assert_allclose(first.values, _values(0), rtol=1e-6)
    assert first.values[0, 0] == pytest.approx(3e-7, rel=1e-6)
    assert first.rows is None and first.loss == 0.5 and first.examples == 16 and first.batches == 2
    assert first.ablation["joint"] == {"most": 0.9, "least": 0.51}
    np.testing.assert_allclose(np.linalg.norm(first.normalized, axis=1), 1, rtol=1e-6)
    assert records[-1].loss is None and records[-1].ablation is None
    # One event file in the run: the importance records went to the attention's writer.
    files = [n for n in os.listdir(logdir / "run") if n.startswith("events.out.tfevents")]
    assert len(files) == 1
    assert [r.tag for r in tb_attention.read_attention(str(logdir), run="run")] == ["probe/p"] * 3
    (seq2seq,) = tb_attention.read_importance(str(logdir), run="seq2seq")
    assert seq2seq.rows == [("encoder", 0), ("decoder", 0), ("cross", 0)]


def test_tags_keep_their_versions_and_record_kinds(logdir):
    from tests.helpers.http import multiplexer_provider

    mux, _ = multiplexer_provider(logdir)
    contents = {
        tag: json.loads(mux.SummaryMetadata("run", tag).plugin_data.content) for tag in ("probe/p", "importance")
    }
    # Attention tags still say format 3 (readable since then); importance tags are format 4.
    assert contents == {"probe/p": {"version": 3}, "importance": {"version": 4, "record": "importance"}}
    assert metadata.FORMAT_VERSION == 4


def test_a_reader_of_format_3_reads_the_attention_and_hides_the_importance(logdir, tmp_path):
    """tb-attention as it was before format 4 (its source from this repository's history)."""
    commit = "e2051a4"
    archive = subprocess.run(["git", "-C", ROOT, "archive", commit, "tb_attention"], capture_output=True)
    if archive.returncode != 0:
        pytest.skip("the source before format 4 is not in this checkout's history")
    subprocess.run(["tar", "-x", "-C", str(tmp_path)], input=archive.stdout, check=True)
    script = (
        "import json, sys, tb_attention\n"
        "from tb_attention.format import metadata\n"
        "assert metadata.FORMAT_VERSION == 3, metadata.FORMAT_VERSION\n"
        "print(json.dumps([(r.run, r.tag, r.step) for r in tb_attention.read_attention(sys.argv[1])]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(logdir)],
        cwd=str(tmp_path),
        env=dict(os.environ, PYTHONPATH=str(tmp_path)),
        capture_output=True,
        text=True,
        check=True,
    )
    seen = json.loads(out.stdout)
    assert [tuple(s) for s in seen] == [("run", "probe/p", s) for s in STEPS] + [("subset", "probe/p", 0)]


def test_importance_route_answers_each_step_normalised_for_the_rows_of_a_kind(logdir):
    client = wsgi_client(logdir)
    tags = client_json(client, "/tags")["runs"]
    assert "importance" not in tags["run"] and "probe/p" in tags["run"] and "seq2seq" not in tags
    body = client_json(client, "/importance?" + q(run="run"))
    assert body["tag"] == "importance" and body["tags"] == ["importance"] and body["kind"] == "self"
    assert body["steps"] == list(STEPS) + [12] and body["layers"] == [2] * 4
    np.testing.assert_allclose(body["values"][1], _values(5), rtol=1e-5)
    expected = _values(5) / np.linalg.norm(_values(5), axis=1, keepdims=True)
    np.testing.assert_allclose(body["normalized"][1], expected, atol=1e-6)
    assert body["loss"][:3] == [0.5, 5.5, 10.5] and body["ablation"][0]["k"] == 1
    assert body["threshold"] == 0.5
    cross = client_json(client, "/importance?" + q(run="seq2seq", kind="cross"))
    assert cross["kind"] == "cross" and cross["values"] == [[[9.0, 10.0, 11.0, 12.0]]]
    assert client_json(client, "/importance?" + q(run="seq2seq"))["kind"] == "encoder"
    empty = client_json(client, "/importance?" + q(run="nothing"))
    assert empty["tag"] is None and empty["steps"] == []
    assert "no head-importance tag" in client_json(client, "/importance?" + q(run="run", tag="x"), 404)["error"]
    assert "missing query parameter 'run'" in client_json(client, "/importance", 400)["error"]


def test_patterns_carry_importance_as_a_metric_and_formed_names_the_head_that_became_important(logdir):
    client = wsgi_client(logdir)
    body = client_json(client, "/patterns?" + q(run="run", tag="probe/p"))
    assert body["steps"] == list(STEPS) + [12]  # the importance-only step too
    assert "importance" in body["rules"]["metrics"]
    assert {"label": "important", "metric": "importance", "threshold": 0.5} in body["rules"]["thresholds"]
    at = {s: scores for s, scores in zip(body["steps"], body["scores"])}
    expected = _values(10) / np.linalg.norm(_values(10), axis=1, keepdims=True)
    np.testing.assert_allclose(at[10]["importance"], expected, atol=1e-5)
    assert "previous_token" in at[10] and set(at[12]) == {"importance"}
    assert "important" in body["head_labels"][2][1][2] and "important" not in body["head_labels"][0][1][2]
    formed = client_json(client, "/formed?" + q(run="run", tag="probe/p"))["formed"]
    important = [e for e in formed if e["label"] == "important"]
    assert [(e["layer"], e["head"]) for e in important] == [(1, 2)]
    # Normalised (1, 2) passes 0.5 at step 5 (0.051 against three heads of about 0.02) and stays.
    assert important[0]["step"] == 5 and important[0]["previous_step"] == 0
    # A record of a subset gets the importance of its stored layers and heads.
    subset = client_json(client, "/patterns?" + q(run="subset", tag="probe/p"))
    full = _values(10) / np.linalg.norm(_values(10), axis=1, keepdims=True)
    np.testing.assert_allclose(subset["scores"][0]["importance"], full[1:2, 2:4], atol=1e-5)


def test_the_rust_loader_serves_every_importance_step(logdir, tensorboard):
    tb = tensorboard(logdir, load_fast="true")
    tb.wait_for(lambda: len(tb.get_json(BASE + "/importance?" + q(run="run"))["steps"]) == 4)
    assert "importance" not in tb.get_json(BASE + "/tags")["runs"]["run"]


@pytest.mark.parametrize(
    "importance, kwargs, error, message",
    [
        (np.ones(4), {}, ValueError, r"\[layers, heads\]"),
        (np.full((2, 2), np.nan), {}, ValueError, "finite and non-negative"),
        (-np.ones((2, 2)), {}, ValueError, "finite and non-negative"),
        (np.ones((2, 2)), {"rows": [("encoder", 0)]}, ValueError, "rows names 1 layers"),
        (np.ones((2, 2)), {"global_step": -1}, ValueError, "global_step must be non-negative"),
    ],
)
def test_bad_input_is_named(tmp_path, importance, kwargs, error, message):
    kwargs = dict({"global_step": 0}, **kwargs)
    with pytest.raises(error, match=message):
        tb_attention.add_importance(tmp_path, "importance", importance, **kwargs)
    with pytest.raises(TypeError, match="tag must be a non-empty str"):
        tb_attention.add_importance(tmp_path, "", np.ones((2, 2)), 0)


def _blob(**change):
    record = make_importance(np.ones((2, 3)), rows=[("encoder", 0), ("cross", 0)], loss=1.0, examples=4, batches=1)
    record.update(change)
    return encode_importance(record)


@pytest.mark.parametrize(
    "blob, message",
    [
        (b"{", "not valid JSON"),
        (_blob(record="attention"), "not an importance record"),
        (_blob(version=5), "format version 5; this tb-attention reads up to 4"),
        (_blob(method="taylor"), "unknown method"),
        (_blob(values=[[1, 2], [3]]), "bad values"),
        (_blob(values=[[1, -2], [3, 4]]), "bad values"),
        (_blob(rows=[["self", 0]]), "bad rows"),
        (_blob(examples=0), "bad examples"),
        (_blob(ablation={"mode": "mean", "base_loss": 1.0, "heads": []}), "bad ablation"),
    ],
)
def test_bad_records_are_refused(blob, message):
    with pytest.raises(FormatError, match=message):
        decode_importance(blob)
    assert decode_importance(_blob())["rows"] == [("encoder", 0), ("cross", 0)]
