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
import torch

import tb_attention
from tests.helpers.bad_inputs import BAD_INPUTS, TOKENS5
from tests.helpers.data import UINT8_BOUND
from tests.helpers.eventfiles import attention_event_files
from tests.helpers.http import BASE, LOADERS, q, served_layer, served_steps

DOC = pathlib.Path(__file__).resolve().parent.parent / "docs" / "bad_inputs.md"
BEGIN, END = "<!-- BEGIN GENERATED TABLE -->", "<!-- END GENERATED TABLE -->"
TAG = "probe/p"
GOOD = np.full((2, 2, 5, 5), 0.2, dtype=np.float32)  # the same shape as test_inputs.A
CLOSED = object()  # stands for a SummaryWriter closed before the call
LOGDIR = object()  # stands for the test's own log dir
N_LONG = 4097


def _long_attention():
    return np.full((1, 1, N_LONG, N_LONG), 1.0 / N_LONG, dtype=np.float32)


# Writer-level cases: (case id, add_attention kwargs, exception type, exact message).
WRITER_CASES = [
    (
        "closed SummaryWriter",
        dict(writer=CLOSED),
        ValueError,
        "the SummaryWriter is closed: attention can no longer be logged through it",
    ),
    (
        "writer of type dict",
        dict(writer={}),
        TypeError,
        "writer must be a torch.utils.tensorboard or tensorboardX SummaryWriter or a log-dir path, got dict",
    ),
    (
        "writer None",
        dict(writer=None),
        TypeError,
        "writer must be a torch.utils.tensorboard or tensorboardX SummaryWriter or a log-dir path, got NoneType",
    ),
    (
        "writer as bytes path",
        dict(writer=b"/tmp/logs"),
        TypeError,
        "writer must be a torch.utils.tensorboard or tensorboardX SummaryWriter or a log-dir path, got bytes",
    ),
    ("empty tag", dict(tag=""), TypeError, "tag must be a non-empty str, got ''"),
    ("tag None", dict(tag=None), TypeError, "tag must be a non-empty str, got None"),
    (
        "unknown precision",
        dict(precision="int4"),
        ValueError,
        "unknown precision 'int4': use one of float16, float32, log16, uint8",
    ),
    (
        "precision None",
        dict(precision=None),
        ValueError,
        "unknown precision None: use one of float16, float32, log16, uint8",
    ),
    ("negative step", dict(global_step=-1), ValueError, "global_step must be non-negative, got -1"),
    ("float step", dict(global_step=1.5), TypeError, "global_step must be a non-negative int, got 1.5"),
    ("NaN step", dict(global_step=float("nan")), TypeError, "global_step must be a non-negative int, got nan"),
    (
        "huge step",
        dict(global_step=2**63),
        ValueError,
        "global_step 9223372036854775808 exceeds TensorBoard's int64 step range",
    ),
    ("string step", dict(global_step="3"), TypeError, "global_step must be a non-negative int, got '3'"),
    ("bool step", dict(global_step=True), TypeError, "global_step must be a non-negative int, got True"),
    (
        "negative tensor step",
        dict(global_step=torch.tensor(-2)),
        ValueError,
        "global_step must be non-negative, got -2",
    ),
    ("NaN wall time", dict(walltime=float("nan")), ValueError, "walltime must be finite and non-negative, got nan"),
    (
        "string wall time",
        dict(walltime="abc"),
        TypeError,
        "walltime must be seconds since the epoch (a float), got 'abc'",
    ),
    (
        "retrieval key not before its query",
        dict(retrieval=[(2, 3)]),
        ValueError,
        "retrieval pair (2, 3) is outside the attention (5 queries, 5 keys) or its key is not before its query",
    ),
    (
        "retrieval query repeated",
        dict(retrieval=[(4, 1), (4, 2)]),
        ValueError,
        "retrieval pairs repeat a query position: each query copies one needle token",
    ),
    (
        "retrieval not pairs",
        dict(retrieval=[3]),
        TypeError,
        "retrieval must be a list of (query, key) positions, got [3]",
    ),
]


VECTORS = np.ones((2, 2, 5, 4), dtype=np.float32)  # queries and keys of GOOD's 2 layers x 2 heads x 5 tokens
NAN_KEYS = VECTORS.copy()
NAN_KEYS[1, 0, 2, 3] = np.nan
QK_FORMS = 'qk must be True, a list of layers, or {"layers": [...], "heads": [...], "max_tokens": n}'

# Queries and keys (add_attention(..., queries=, keys=)): (case id, kwargs, exception, exact message).
QK_CASES = [
    (
        "qk= without the vectors",
        dict(qk=True),
        TypeError,
        "qk= needs the queries and keys: pass queries= and keys= (or use tb_attention.capture)",
    ),
    ("queries without keys", dict(queries=VECTORS), TypeError, "pass both queries= and keys= (or neither)"),
    (
        "queries of other heads",
        dict(queries=VECTORS[:, :1], keys=VECTORS),
        ValueError,
        "queries have 1 heads but the attention has 2",
    ),
    (
        "keys whose heads do not divide",
        dict(queries=VECTORS, keys=np.ones((2, 3, 5, 4), np.float32)),
        ValueError,
        "keys have 3 heads: the attention's 2 heads must be a multiple of them (GQA)",
    ),
    (
        "vectors of other positions",
        dict(queries=VECTORS[:, :, :4], keys=VECTORS),
        ValueError,
        "queries and keys cover 4 and 5 positions but the attention has 5 queries and 5 keys",
    ),
    ("NaN in keys", dict(queries=VECTORS, keys=NAN_KEYS), ValueError, "keys of layer 1 hold NaN or inf"),
    (
        "probe longer than qk's max_tokens",
        dict(queries=VECTORS, keys=VECTORS, qk={"max_tokens": 4}),
        ValueError,
        "probe/p at step 1: queries and keys are kept for probes of at most 4 tokens (a per-token view), this one "
        'has 5: pass qk={"max_tokens": 5} to keep them anyway, or a shorter probe',
    ),
    (
        "unknown qk key",
        dict(queries=VECTORS, keys=VECTORS, qk={"layer": [0]}),
        ValueError,
        "qk has unknown keys ['layer']: " + QK_FORMS,
    ),
    ("qk of another type", dict(queries=VECTORS, keys=VECTORS, qk="all"), TypeError, QK_FORMS + ", got 'all'"),
]


def all_cases():
    """(table section, case id, add_attention kwargs, exception type, regex or exact message)."""
    out = []
    for case, kwargs, exc, pattern in BAD_INPUTS:
        out.append(("attention and tokens", case, dict(kwargs), exc, pattern))
    for case, kwargs, exc, message in WRITER_CASES:
        out.append(("writer, tag, step, precision", case, dict(kwargs), exc, message))
    for case, kwargs, exc, message in QK_CASES:
        out.append(("queries and keys", case, dict(kwargs), exc, message))
    return out


def call_kwargs(kwargs, logdir, step):
    """Full add_attention kwargs of a case: defaults filled in, placeholders made real."""
    from torch.utils.tensorboard import SummaryWriter

    full = dict(writer=logdir, tag=TAG, attention=GOOD, tokens=TOKENS5, global_step=step)
    full.update(kwargs)
    if full["writer"] is CLOSED:
        closed = SummaryWriter(str(logdir))
        closed.close()
        full["writer"] = closed
    elif full["writer"] is LOGDIR:
        full["writer"] = logdir
    if callable(full["attention"]) and not hasattr(full["attention"], "shape"):
        full["attention"] = full["attention"]()
    return full


def raised(kwargs, logdir, step):
    """The exception add_attention raises for a case (fails the test if it raises none)."""
    full = call_kwargs(kwargs, logdir, step)
    writer, tag, attention, tokens = (full.pop(k) for k in ("writer", "tag", "attention", "tokens"))
    try:
        tb_attention.add_attention(writer, tag, attention, tokens, **full)
    except (TypeError, ValueError) as e:
        return e
    raise AssertionError("add_attention accepted a bad input: %r" % (kwargs,))


def _event_bytes(logdir):
    return {path: pathlib.Path(path).read_bytes() for path in attention_event_files(logdir)}


CASES = all_cases()
IDS = ["%s" % c[1] for c in CASES]


def _is_slow(case):
    return case[1].startswith("> 4096")


@pytest.mark.parametrize(
    "section, case, kwargs, exc, message",
    [pytest.param(*c, marks=pytest.mark.slow) if _is_slow(c) else c for c in CASES],
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
        if _is_slow(case):
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


# -- what must work: long sequences when asked, unicode and markup tokens ----------------------------

ODD_TOKENS = [
    "[CLS]",
    "🍓",
    "naïve",
    "日本語",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "&amp; &lt;",
    "\u200b",
    "",
    "\"quoted\" 'single'",
    "a\\b",
    "👩‍👩‍👧",
    "[SEP]",
]
ODD_TAG = "probe/<b>🍓</b>&amp;"


@pytest.mark.slow
def test_more_than_4096_tokens_by_default(tmp_path):
    """No length limit by default: the byte budget bounds what a long record stores."""
    tb_attention.add_attention(tmp_path / "run", TAG, _long_attention(), ["t"] * N_LONG, 0)
    tb_attention.flush()
    (record,) = tb_attention.read_attention(str(tmp_path))
    assert record.attention.shape == (1, 1, N_LONG, N_LONG)
    assert np.abs(record.attention - 1.0 / N_LONG).max() <= UINT8_BOUND


@pytest.fixture(scope="module")
def odd_tokens_logdir(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("odd")
    n = len(ODD_TOKENS)
    a = np.full((2, 3, n, n), 1.0 / n, dtype=np.float32)
    tb_attention.add_attention(
        logdir / "run", ODD_TAG, a, ODD_TOKENS, 0, sentence_b_start=7, key_tokens=list(reversed(ODD_TOKENS))
    )
    tb_attention.flush()
    return logdir


def test_unicode_emoji_and_markup_tokens_round_trip(odd_tokens_logdir):
    (record,) = tb_attention.read_attention(str(odd_tokens_logdir))
    assert record.tag == ODD_TAG
    assert record.tokens == ODD_TOKENS and record.key_tokens == list(reversed(ODD_TOKENS))
    assert record.sentence_b_start == 7


@pytest.mark.slow
@pytest.mark.parametrize("load_fast", LOADERS)
def test_unicode_emoji_and_markup_tokens_are_served_verbatim(tensorboard, odd_tokens_logdir, load_fast):
    tb = tensorboard(odd_tokens_logdir, load_fast=load_fast)
    tags = tb.wait_for(lambda: tb.get_json(BASE + "/tags")["runs"])
    assert list(tags["run"]) == [ODD_TAG]
    (step,) = tb.get_json(BASE + "/steps?" + q(run="run", tag=ODD_TAG))["steps"]
    step = step["parts"]["cross"]
    assert step["tokens"] == ODD_TOKENS and step["key_tokens"] == list(reversed(ODD_TOKENS))
    status, headers, _ = tb.get(BASE + "/steps?" + q(run="run", tag=ODD_TAG))
    assert status == 200 and headers["Content-Type"].startswith("application/json")


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
