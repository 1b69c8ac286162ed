"""Write failures the OS really raises, each in a child process (`tests/helpers/faults.py`): a
file size limit hit in the middle of a payload chunk and in the middle of an event frame, and a
full file system, each then lifted. The records logged before and after are written whole and
read back exactly by `read_attention` and by both of TensorBoard's loaders; the failed ones are
named once in a warning and by `flush()`; nothing damaged is left in the files. Trainer and
Lightning runs through such a failure finish training with a warning. One `flush()` goes
through every log dir and names every failed record."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import tb_attention
from tests.helpers import faults
from tests.helpers.data import UINT8_BOUND, tokens_for
from tests.helpers.eventfiles import frames
from tests.helpers.http import LOADERS, served_layer, served_steps

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAILED = {"payload": [3, 4], "event": [3], "disk": [3, 4]}
ERROR = {"payload": "[Errno 27] File too large", "event": "[Errno 27] File too large"}
ERROR["disk"] = "[Errno 28] No space left on device"


def _child(*args, timeout=300):
    proc = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


@pytest.fixture(scope="module")
def tmpfs(tmp_path_factory):
    """A 512 KiB tmpfs to fill up (root only; skipped where mounting is not allowed)."""
    path = tmp_path_factory.mktemp("small_disk")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(path)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: %s" % mounted.stderr.decode(errors="replace").strip())
    yield path
    subprocess.run(["umount", str(path)], check=True)


@pytest.fixture(scope="module", params=["payload", "event", "disk"])
def faulted(request, tmp_path_factory):
    """(mode, logdir, the child's report, its stderr) of one run through one fault."""
    mode = request.param
    logdir = request.getfixturevalue("tmpfs") if mode == "disk" else tmp_path_factory.mktemp("fault_" + mode)
    report, stderr = _child("tests.helpers.faults", str(logdir / "r"), mode)
    return mode, logdir, report, stderr


def _kept(mode):
    return [s for s in faults.BEFORE + faults.DURING + faults.AFTER if s not in FAILED[mode]]


def test_the_failed_records_are_named_once(faulted):
    mode, _, report, stderr = faulted
    names = ["p at step %d" % s for s in FAILED[mode]]
    counted = "%d attention record%s (%s)" % (len(names), "" if len(names) == 1 else "s", ", ".join(names))
    assert report["error"]["records"] == names  # flush() raised AttentionWriteError for them
    assert report["error"]["message"] == "tb_attention could not write %s: OSError: %s" % (counted, ERROR[mode])
    # One warning when the failures start, one with the count when writing resumes; none per record.
    assert stderr.count("could not write") == 2, stderr
    assert "tb_attention: could not write p at step 3 to " in stderr
    resumed = "could not write %s: %s; writing resumed with p at step %d" % (counted, ERROR[mode], FAILED[mode][-1] + 1)
    assert resumed in stderr, stderr


def test_the_files_keep_only_whole_records(faulted):
    mode, logdir, report, _ = faulted
    before, during = report["before"], report["during"]
    (payload,) = before["payload"]
    if mode != "event":  # the failed records' chunks were cut off again
        assert during["payload"] == before["payload"]
    else:
        # The torn frame was cut off; the next record went to a new event file that sorts after it.
        (first,) = before["events"]
        assert during["events"][first] == before["events"][first]
        assert len(during["events"]) == 2 and sorted(during["events"])[0] == first
    for path in faults.event_files(logdir / "r"):
        data = open(path, "rb").read()
        assert sum(size for _, size in frames(data)) == len(data), path  # no torn frame anywhere


def _assert_exact(mode, step, got, layer=None):
    expected = faults.record(mode, step)[0]
    expected = expected if layer is None else expected[layer]
    assert np.abs(got - expected).max() <= UINT8_BOUND, step


def test_every_record_before_and_after_reads_back_exactly(faulted):
    mode, logdir, _, _ = faulted
    records = list(tb_attention.read_attention(str(logdir)))
    assert [r.step for r in records] == _kept(mode)
    for r in records:
        assert r.tokens == faults.record(mode, r.step)[1]
        _assert_exact(mode, r.step, r.attention)


@pytest.mark.slow
@pytest.mark.parametrize("load_fast", LOADERS)
def test_both_loaders_serve_every_record_before_and_after(faulted, tensorboard, load_fast):
    mode, logdir, _, _ = faulted
    tb = tensorboard(logdir, load_fast=load_fast)
    tb.wait_for(lambda: served_steps(tb, "r", faults.TAG) == _kept(mode), timeout=90)
    for step in _kept(mode):
        for layer in (0, 1):
            _assert_exact(mode, step, served_layer(tb, "r", faults.TAG, step, layer), layer)


@pytest.mark.slow
@pytest.mark.parametrize("framework", ["trainer", "lightning"])
def test_training_goes_through_a_failed_write(framework, tmp_path):
    from tests.helpers.fault_training import FAULT_STEP, STEPS

    report, stderr = _child("tests.helpers.fault_training", framework, str(tmp_path), timeout=600)
    assert report["steps"] == STEPS  # training finished
    failed = "could not write 1 attention record (probe/store at step %d)" % FAULT_STEP
    assert "%s: OSError: [Errno 27] File too large; training goes on" % failed in stderr  # the callback's warning
    assert "writing resumed with probe/store at step %d" % (FAULT_STEP + 1) in stderr
    records = list(tb_attention.read_attention(report["log_dir"]))
    assert [r.step for r in records] == [s for s in range(STEPS + 1) if s != FAULT_STEP]
    for r in records:
        a = r.attention  # every chunk of every layer decodes and passes its checksum
        assert a.shape[:2] == (6, 12) and np.abs(a.sum(-1) - 1).max() <= a.shape[-1] * UINT8_BOUND
    assert np.abs(records[2].attention - records[3].attention).max() > 0.01  # steps 2 and 4 differ: trained


def test_flush_goes_through_every_log_dir_and_names_every_failed_record(tmp_path):
    """Two log dirs, each with a record that fails on the writer thread (a CPU tensor changed in
    place before it was read): one flush() writes both dirs' other records and raises once for
    both failures; later records are written."""
    import threading

    import torch
    from tensorboard.compat.proto import event_pb2

    from tb_attention.writing import writer as writer_module

    a = faults.record("payload", 0)[0]
    release = threading.Event()
    hold = event_pb2.Event(wall_time=1.0, file_version="brain.Event:2")
    for run in ("a", "b"):
        writer_module.event_writer_for(str(tmp_path / run)).submit(lambda payload_file: release.wait(60) and hold)
        reused = torch.from_numpy(a.copy())
        tb_attention.add_attention(str(tmp_path / run), "p", reused, tokens_for(faults.N), 1)
        tb_attention.add_attention(str(tmp_path / run), "p", torch.from_numpy(a.copy()), tokens_for(faults.N), 2)
        reused.mul_(0.5)  # before the writer reads it: that record is dropped
    release.set()
    with pytest.raises(tb_attention.AttentionWriteError, match="changed in place") as raised:
        tb_attention.flush()
    assert raised.value.records == ["p at step 1", "p at step 1"]
    for run in ("a", "b"):
        tb_attention.add_attention(str(tmp_path / run), "p", a, tokens_for(faults.N), 3)
    tb_attention.flush()
    for run in ("a", "b"):
        assert [r.step for r in tb_attention.read_attention(str(tmp_path / run))] == [2, 3]
