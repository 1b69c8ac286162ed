"""Bad input through the public `add_attention`: the exact error of each case (the table in
docs/bad_inputs.md is generated from these cases), and no failing call ever changes a byte of the
event file or loses what was logged before or after it.

Regenerate the table after changing a case or a message:
    python -m tests.test_hardening_bad_input --write-doc
"""

import math
import pathlib
import sys

import numpy as np
import pytest

import tb_attention
from tests.helpers.bad_input_cases import CASES, CLOSED, GOOD, IDS, TAG, is_slow, raised
from tests.helpers.bad_inputs import TOKENS5
from tests.helpers.data import UINT8_BOUND
from tests.helpers.eventfiles import attention_event_files
from tests.helpers.http import BASE, LOADERS, q, served_layer, served_steps

DOC = pathlib.Path(__file__).resolve().parent.parent / "docs" / "bad_inputs.md"
BEGIN, END = "<!-- BEGIN GENERATED TABLE -->", "<!-- END GENERATED TABLE -->"


def _event_bytes(logdir):
    return {path: pathlib.Path(path).read_bytes() for path in attention_event_files(logdir)}


@pytest.mark.parametrize(
    "section, case, kwargs, exc, message",
    [pytest.param(*c, marks=pytest.mark.slow) if is_slow(c) else c for c in CASES],
    ids=IDS,
)
def test_bad_input_raises_and_leaves_the_log_intact(tmp_path, section, case, kwargs, exc, message):
    logdir = tmp_path / "run"
    before, after = GOOD, np.full((2, 2, 5, 5), 0.2, dtype=np.float32)
    after[..., 0], after[..., 1] = 0.4, 0.0  # rows still sum to 1, and differ from `before`
    tb_attention.add_attention(logdir, TAG, before, TOKENS5, 0, precision="float32")
    tb_attention.flush()
    on_disk = _event_bytes(logdir)
    assert len(on_disk) == 1

    error = raised(kwargs, logdir, 1)
    assert type(error) is exc
    if section == "attention and tokens":
        import re

        assert re.search(message, str(error)), str(error)
    else:
        assert str(error) == message
    tb_attention.flush()
    assert _event_bytes(logdir) == on_disk  # not one byte written for the failing call

    tb_attention.add_attention(logdir, TAG, after, TOKENS5, 2, precision="float32")
    tb_attention.flush()
    records = list(tb_attention.read_attention(str(tmp_path), run="run"))
    assert [(r.tag, r.step) for r in records] == [(TAG, 0), (TAG, 2)]
    np.testing.assert_array_equal(records[0].attention, before)
    np.testing.assert_array_equal(records[1].attention, after)


# -- the table in docs/bad_inputs.md --------------------------------------------------------------


def _describe(kwargs):
    """A short, stable description of a case's arguments for the table."""
    parts = []
    for name, value in kwargs.items():
        if name == "tokens" and value is TOKENS5:
            continue  # the default; the header of the table says so
        if value is CLOSED:
            text = "a closed SummaryWriter"
        elif callable(value) and not hasattr(value, "shape"):
            text = "array %s" % (tuple(value().shape),) if name == "attention" else repr(value)
        elif hasattr(value, "shape") and hasattr(value, "dtype"):
            text = "%s %s %s" % (type(value).__name__, tuple(value.shape), value.dtype)
        elif isinstance(value, tuple):
            text = "tuple of %d layers %s" % (len(value), [tuple(v.shape) for v in value])
        elif isinstance(value, list) and len(value) > 8:
            text = "list of %d %s" % (len(value), type(value[0]).__name__)
        elif isinstance(value, float) and math.isnan(value):
            text = "nan"
        else:
            text = repr(value)
        parts.append("%s=%s" % (name, text))
    return ", ".join(parts)


def _cell(text):
    return text.replace("|", "\\|").replace("\n", " ")


def render_table(logdir):
    rows = ["| # | case | arguments (others valid) | exception | exact message |", "| --- | --- | --- | --- | --- |"]
    for i, (_, case, kwargs, _, _) in enumerate(CASES, 1):
        error = raised(kwargs, logdir, 1)
        rows.append(
            "| %d | %s | `` %s `` | `%s` | `` %s `` |"
            % (i, _cell(case), _cell(_describe(kwargs)), type(error).__name__, _cell(str(error)))
        )
    return "\n".join(rows)


def _doc_table():
    text = DOC.read_text(encoding="utf-8")
    assert BEGIN in text and END in text, "docs/bad_inputs.md lost its generated-table markers"
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip()


@pytest.mark.slow
def test_doc_table_lists_every_case_with_its_exact_message(tmp_path):
    assert len(CASES) >= 20
    assert _doc_table() == render_table(tmp_path / "run"), (
        "docs/bad_inputs.md is out of date: run python -m tests.test_hardening_bad_input --write-doc"
    )


# -- every bad case in one log, served by a real TensorBoard ----------------------------------------


@pytest.fixture(scope="module")
def gauntlet(tmp_path_factory):
    """One run: a good step, then every bad case, each followed by a good step."""
    logdir = tmp_path_factory.mktemp("gauntlet")
    run = logdir / "run"
    logged = {}
    rng = np.random.default_rng(0)
    for i, case in enumerate(CASES):
        _, _, kwargs, exc, _ = case
        if is_slow(case):
            continue  # the long case runs (slowly) above; here it would only cost time
        logits = rng.normal(size=(2, 2, 5, 5)).astype(np.float32)
        good = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
        logged[2 * i] = good.astype(np.float32)
        tb_attention.add_attention(run, TAG, good, TOKENS5, 2 * i)
        assert type(raised(kwargs, run, 2 * i + 1)) is exc
    tb_attention.flush()
    return logdir, logged


def test_every_good_step_around_the_bad_ones_reads_back(gauntlet):
    logdir, logged = gauntlet
    records = list(tb_attention.read_attention(str(logdir)))
    assert [(r.run, r.step) for r in records] == [("run", s) for s in sorted(logged)]
    for r in records:
        assert np.abs(r.attention - logged[r.step]).max() <= UINT8_BOUND


@pytest.mark.slow
@pytest.mark.parametrize("load_fast", LOADERS)
def test_tensorboard_serves_every_good_step_around_the_bad_ones(tensorboard, gauntlet, load_fast):
    logdir, logged = gauntlet
    tb = tensorboard(logdir, load_fast=load_fast)
    tb.wait_for(lambda: served_steps(tb, "run", TAG) == sorted(logged))
    for step in sorted(logged)[:: max(1, len(logged) // 6)]:
        for layer in (0, 1):
            assert np.abs(served_layer(tb, "run", TAG, step, layer) - logged[step][layer]).max() <= UINT8_BOUND
    status, _, _ = tb.get(BASE + "/layer?" + q(run="run", tag=TAG, step=1, layer=0))
    assert status == 404  # no bad step was logged


def write_doc():
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        table = render_table(pathlib.Path(d) / "run")
        tb_attention.flush()
    text = DOC.read_text(encoding="utf-8")
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    DOC.write_text(head + BEGIN + "\n" + table + "\n" + END + tail, encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:] == ["--write-doc"]:
        write_doc()
    else:
        sys.exit("usage: python -m tests.test_hardening_bad_input --write-doc")
