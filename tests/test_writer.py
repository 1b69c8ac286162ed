"""add_attention with real writers: what is logged is read back, and bad input harms nothing."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from torch.utils.tensorboard import SummaryWriter

import tb_attention
from tb_attention.writing import event_file
from tests.helpers.data import softmax_attention

TOKENS = ["[CLS]", "i", "went", "[SEP]", "at", "the", "[SEP]"]


def attention(seed=0, layers=2, heads=3, n=7):
    return softmax_attention((layers, 1, heads, n, n), seed=seed)


def records(logdir, **kw):
    return list(tb_attention.read_attention(str(logdir), **kw))


def test_torch_summary_writer_round_trip(tmp_path):
    writer = SummaryWriter(str(tmp_path / "run"))
    logged = {}
    for step in (0, 5, 10):
        a = attention(seed=step)
        logged[step] = a[:, 0]
        writer.add_scalar("loss", 1.0 / (step + 1), step)
        tb_attention.add_attention(
            writer, "probe/x", tuple(torch.from_numpy(a[i]) for i in range(2)), TOKENS, step, sentence_b_start=4
        )
    writer.flush()  # SummaryWriter.flush reaches our queue
    got = records(tmp_path)
    assert [(r.run, r.tag, r.step) for r in got] == [("run", "probe/x", s) for s in (0, 5, 10)]
    for r in got:
        assert r.tokens == TOKENS and r.sentence_b_start == 4 and r.key_tokens is None
        assert r.precision == "log16"
        assert np.abs(r.attention - logged[r.step]).max() <= 1 / 510 + 1e-7
    writer.close()


def test_our_event_file_sorts_before_the_summary_writers(tmp_path):
    writer = SummaryWriter(str(tmp_path))
    writer.add_scalar("loss", 1.0, 0)
    tb_attention.add_attention(writer, "p", attention()[:, 0], TOKENS)
    writer.close()
    files = sorted(n for n in os.listdir(tmp_path) if os.path.isfile(tmp_path / n))
    assert len(files) == 2 and "tb_attention" in files[0] and "tb_attention" not in files[1]
    # The payload sits under plugins/tb_attention/, named so TensorBoard never takes it for a run.
    (payload,) = os.listdir(tmp_path / "plugins" / "tb_attention")
    assert payload.endswith(".tbattn") and "tfevents" not in payload


def test_tensorboardx_writer_and_path(tmp_path):
    import tensorboardX

    writer = tensorboardX.SummaryWriter(str(tmp_path / "tbx"))
    tb_attention.add_attention(writer, "p", attention(1)[:, 0], TOKENS, 3)
    writer.close()  # close flushes our queue too
    tb_attention.add_attention(str(tmp_path / "plain"), "p", attention(2)[:, 0], TOKENS, 4, precision="float32")
    tb_attention.flush()
    got = {(r.run, r.step): r for r in records(tmp_path)}
    assert set(got) == {("tbx", 3), ("plain", 4)}
    np.testing.assert_array_equal(got[("plain", 4)].attention, attention(2)[:, 0])


@pytest.mark.parametrize("precision, bound", [("uint8", 1 / 510), ("float16", 2**-12), ("float32", 0.0)])
def test_precisions(tmp_path, precision, bound):
    a = attention(3)[:, 0]
    tb_attention.add_attention(tmp_path, "p", a, TOKENS, precision=precision)
    tb_attention.flush()
    (r,) = records(tmp_path)
    assert r.precision == precision
    assert np.abs(r.attention - a).max() <= bound + 1e-7


def test_cross_attention_round_trip(tmp_path):
    a = softmax_attention((2, 4, 3, 5))
    tb_attention.add_attention(tmp_path, "cross", a, ["a", "b", "c"], key_tokens=list("vwxyz"), precision="float32")
    tb_attention.flush()
    (r,) = records(tmp_path)
    assert r.key_tokens == list("vwxyz") and r.attention.shape == (2, 4, 3, 5)
    np.testing.assert_array_equal(r.attention, a)


def test_bad_input_logs_nothing_and_harms_nothing(tmp_path):
    writer = SummaryWriter(str(tmp_path))
    tb_attention.add_attention(writer, "p", attention(0)[:, 0], TOKENS, 0)
    bad_calls = [
        dict(attention=attention(0)[:, 0] * 2, tokens=TOKENS, global_step=1),
        dict(attention=attention(0)[:, 0], tokens=TOKENS[:-1], global_step=1),
        dict(attention=attention(0)[:, 0], tokens=TOKENS, global_step=-1),
        dict(attention=attention(0)[:, 0], tokens=TOKENS, global_step=1, precision="int4"),
    ]
    for kwargs in bad_calls:
        with pytest.raises((ValueError, TypeError)):
            tb_attention.add_attention(writer, "p", **kwargs)
    tb_attention.add_attention(writer, "p", attention(2)[:, 0], TOKENS, 2)
    writer.close()
    assert [r.step for r in records(tmp_path)] == [0, 2]


def test_closed_and_unexpected_writers(tmp_path):
    writer = SummaryWriter(str(tmp_path))
    writer.close()
    with pytest.raises(ValueError, match="SummaryWriter is closed"):
        tb_attention.add_attention(writer, "p", attention()[:, 0], TOKENS)
    with pytest.raises(TypeError, match="writer must be a .*SummaryWriter or a log-dir path, got dict"):
        tb_attention.add_attention({}, "p", attention()[:, 0], TOKENS)
    with pytest.raises(TypeError, match="tag must be a non-empty str"):
        tb_attention.add_attention(tmp_path, "", attention()[:, 0], TOKENS)


def test_records_use_valid_crc32c_frames(tmp_path):
    """Our C-backed CRC equals TensorBoard's reference implementation."""
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c as reference

    for data in (b"", b"a", os.urandom(1000)):
        assert event_file.masked_crc32c(data) == reference(data)


def test_queued_records_are_written_at_interpreter_exit(tmp_path):
    script = textwrap.dedent(
        """
        import sys, numpy as np, tb_attention
        a = np.full((2, 2, 3, 3), 1 / 3, dtype=np.float32)
        for step in range(20):
            tb_attention.add_attention(sys.argv[1], "p", a, ["a", "b", "c"], step)
        # no flush, no close: the atexit hook must drain the queue
        """
    )
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=True, timeout=120)
    assert [r.step for r in records(tmp_path)] == list(range(20))


def test_pattern_scalars_are_opt_in(tmp_path):
    from tensorboard.backend.event_processing import event_accumulator

    shift = np.zeros((1, 2, 5, 5), dtype=np.float32)
    shift[0, :, np.arange(1, 5), np.arange(4)] = 1  # a previous-token head...
    shift[0, :, 0, 0] = 1
    tb_attention.add_attention(tmp_path / "off", "p", shift, ["[CLS]", "a", "b", "c", "[SEP]"], 1)
    tb_attention.add_attention(tmp_path / "on", "p", shift, ["[CLS]", "a", "b", "c", "[SEP]"], 1, pattern_scalars=True)
    tb_attention.flush()
    tags = {}
    for run in ("off", "on"):
        acc = event_accumulator.EventAccumulator(str(tmp_path / run))
        acc.Reload()
        tags[run] = acc.Tags()["scalars"]
    assert tags["off"] == []
    acc_on = event_accumulator.EventAccumulator(str(tmp_path / "on"))
    acc_on.Reload()
    (event,) = acc_on.Scalars("p/patterns/previous_token_max")
    assert event.step == 1 and event.value == pytest.approx(1.0)
    (record,) = records(tmp_path, run="on")
    assert record.patterns["previous_token"].max() == pytest.approx(1.0, abs=1e-4)


def test_special_tokens_reach_the_stored_scores(tmp_path):
    a = np.zeros((1, 1, 3, 3), dtype=np.float32)
    a[..., 2] = 1  # everything to the last token
    tokens = ["x", "y", "<stop>"]
    tb_attention.add_attention(tmp_path / "default", "p", a, tokens)
    tb_attention.add_attention(tmp_path / "custom", "p", a, tokens, special_tokens=["<stop>"])
    tb_attention.flush()
    by_run = {r.run: r.patterns["delimiter"][0, 0] for r in records(tmp_path)}
    assert by_run["custom"] == pytest.approx(1.0)
    assert not by_run["default"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    "walltime, exc, message",
    [
        (float("nan"), ValueError, "finite"),
        (float("inf"), ValueError, "finite"),
        (-1.0, ValueError, "non-negative"),
        ("abc", TypeError, "seconds since the epoch"),
    ],
)
def test_bad_walltime_is_refused(tmp_path, walltime, exc, message):
    with pytest.raises(exc, match=message):
        tb_attention.add_attention(tmp_path, "p", attention()[:, 0], TOKENS, walltime=walltime)
    tb_attention.add_attention(tmp_path, "p", attention()[:, 0], TOKENS, 1, walltime=1234.5)
    tb_attention.flush()
    (r,) = records(tmp_path)
    assert r.wall_time == 1234.5 and r.step == 1


def test_a_forked_child_logs_with_a_writer_of_its_own(tmp_path):
    """After fork the parent's writer thread does not exist in the child: the child must not
    queue into it (lost records) nor write the parent's bytes again."""
    a = attention(0)[:, 0]
    tb_attention.add_attention(tmp_path, "p", a, TOKENS, 1)
    tb_attention.flush()
    pid = os.fork()
    if pid == 0:  # child
        status = 1
        try:
            tb_attention.add_attention(tmp_path, "p", a, TOKENS, 100)
            tb_attention.flush()
            status = 0
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    assert status == 0
    tb_attention.add_attention(tmp_path, "p", a, TOKENS, 2)
    tb_attention.flush()
    assert sorted(r.step for r in records(tmp_path)) == [1, 2, 100]


def test_unencodable_tag_is_refused(tmp_path):
    with pytest.raises(ValueError, match="tag is not valid Unicode text"):
        tb_attention.add_attention(tmp_path, "p\udc80", attention()[:, 0], TOKENS)
