"""Logdirs as they really are: torn last records, zero-length and garbage event files, runs with
only other plugins' data, corrupt and future-format records, a training process killed mid-write,
and a run that grows while TensorBoard serves it. Every complete record is served, nothing else."""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from tensorboard.compat.proto import event_pb2

import tb_attention
from tb_attention.format import header as headers
from tb_attention.format import layers_v1, summary
from tb_attention.writing import event_file
from tests.helpers.data import UINT8_BOUND, attention, tokens_for
from tests.helpers.eventfiles import attention_event_files, frames, last_record_bytes, write_run
from tests.helpers.http import (
    BASE,
    LOADERS,
    decode_layer_response,
    error_message,
    q,
    served_layer,
    served_steps,
    wsgi_client,
)

TAG = "p"


def _append(path, data):
    with open(path, "ab") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _record_of_step(scratch, step, seed):
    """The framed bytes the real writer writes for one step (logged in a scratch log dir)."""
    run = scratch / ("step%d" % step)
    write_run(run, [step], tag=TAG, seed_base=seed - step, scalars=False)
    return last_record_bytes(attention_event_files(run)[0])


def _raw_record(step, blobs, tag=TAG):
    """A well-framed event whose attention blobs are whatever we say (corrupt on purpose)."""
    event = summary.attention_event(tag, blobs, step, time.time())
    return event_file.frame_record(event.SerializeToString())


@pytest.fixture(scope="module")
def messy(tmp_path_factory):
    """A logdir with one run per kind of damage, and what each good run logged."""
    root = tmp_path_factory.mktemp("messy")
    logdir, scratch = root / "logs", root / "scratch"
    logged = {}

    # Training killed while writing step 99: a torn copy of a real record ends the file.
    logged["torn"] = write_run(logdir / "torn", range(6), tag=TAG)
    torn_record = _record_of_step(scratch, 99, seed=99)
    _append(attention_event_files(logdir / "torn")[0], torn_record[: len(torn_record) // 2])

    # Killed a few bytes into the next record's length field.
    logged["torn_length"] = write_run(logdir / "torn_length", range(3), tag=TAG, seed_base=10)
    _append(attention_event_files(logdir / "torn_length")[0], torn_record[:5])

    # Zero-length and garbage event files, alone and next to good data in one run.
    for run in ("empty", "garbage"):
        (logdir / run).mkdir(parents=True)
    (logdir / "empty" / "events.out.tfevents.1700000000.host.1.0").write_bytes(b"")
    garbage = np.random.default_rng(0).bytes(70_000)
    (logdir / "garbage" / "events.out.tfevents.1700000000.host.2.0").write_bytes(garbage)
    logged["with_junk"] = write_run(logdir / "with_junk", range(4), tag=TAG, seed_base=20)
    (logdir / "with_junk" / "events.out.tfevents.9999999999.junk.3.0").write_bytes(garbage[:5000])
    (logdir / "with_junk" / "events.out.tfevents.9999999999.empty.4.0").write_bytes(b"")

    # Only other plugins' data.
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(str(logdir / "scalars_only")) as w:
        for step in range(5):
            w.add_scalar("loss", 1.0 / (step + 1), step)

    # Well-framed format-1 records whose contents are damaged: a good step 0, then a header that
    # is not JSON (step 1), a layer that is not zlib (step 2), a newer format version (step 3).
    logged["corrupt"] = write_run(logdir / "corrupt", [0], tag=TAG, seed_base=30)
    a = attention(7)
    header = headers.make_v1_header(a.shape, tokens_for(5), None, None, "uint8")
    good_blobs = layers_v1.encode(a, header)
    future = dict(header, version=99)
    path = attention_event_files(logdir / "corrupt")[0]
    _append(path, _raw_record(1, [b"{not json", *good_blobs[1:]]))
    _append(path, _raw_record(2, [good_blobs[0], b"not zlib", good_blobs[2]]))
    _append(path, _raw_record(3, [headers.encode_header(future), *good_blobs[1:]]))

    # Wall times JSON cannot hold (another tool, or a bad clock, wrote them): served as null.
    (logdir / "odd_walltime").mkdir()
    odd = logdir / "odd_walltime" / event_file.event_file_name()
    _append(
        odd,
        event_file.frame_record(
            event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2").SerializeToString()
        ),
    )
    for step, wall_time in ((0, float("nan")), (1, float("inf"))):
        event = summary.attention_event(TAG, good_blobs, step, wall_time)
        _append(odd, event_file.frame_record(event.SerializeToString()))
    return logdir, logged


GOOD_RUNS = {
    "torn": range(6),
    "torn_length": range(3),
    "with_junk": range(4),
    "corrupt": [0, 1, 2, 3],
    "odd_walltime": [0, 1],
}


def check_messy(get, logged, nan_wall_time_readable=True):
    """The same checks through the WSGI client or a real TensorBoard: `get(path) -> (status, headers, body)`.

    TensorBoard's Rust loader refuses an event with a NaN wall time and reads nothing after it
    in that file, so with it the `odd_walltime` run is not there at all (and the writer must
    never write such a wall time); the Python loader keeps it, and the plugin serves it.
    """
    good = dict(GOOD_RUNS)
    if not nan_wall_time_readable:
        del good["odd_walltime"]
    status, _, body = get(BASE + "/tags")
    assert status == 200, body
    runs = json.loads(body)["runs"]
    assert sorted(runs) == sorted(good)
    for run, steps in good.items():
        assert runs[run][TAG]["max_step"] == max(steps)
        status, _, body = get(BASE + "/steps?" + q(run=run, tag=TAG))
        assert status == 200, body
        served = [s["step"] for s in json.loads(body)["steps"]]
        # Unreadable headers (step 1: not JSON; step 3: newer format) are left out of the list.
        assert served == ([0, 2] if run == "corrupt" else list(steps)), (run, served)
        for step in served:
            for layer in (0, 1):
                status, headers, body = get(BASE + "/layer?" + q(run=run, tag=TAG, step=step, layer=layer))
                if run == "corrupt" and step == 2:
                    assert status == 422 if layer == 0 else status == 200, (status, body)
                    continue
                assert status == 200, body
                got = decode_layer_response(headers, body)
                from_seed_7 = run == "odd_walltime" or (run == "corrupt" and step > 0)
                expected = attention(7)[layer] if from_seed_7 else logged[run][step][layer]
                assert np.abs(got - expected).max() <= UINT8_BOUND
    if nan_wall_time_readable:
        status, _, body = get(BASE + "/steps?" + q(run="odd_walltime", tag=TAG))
        assert [s["wall_time"] for s in json.loads(body)["steps"]] == [None, None]
        status, _, body = get(BASE + "/tags")
        assert json.loads(body)["runs"]["odd_walltime"][TAG]["max_wall_time"] is None
    status, _, body = get(BASE + "/layer?" + q(run="corrupt", tag=TAG, step=1, layer=0))
    assert status == 422 and "not valid JSON" in error_message(body)
    status, _, body = get(BASE + "/layer?" + q(run="corrupt", tag=TAG, step=3, layer=0))
    assert status == 422 and "format version 99" in error_message(body)
    status, _, body = get(BASE + "/patterns?" + q(run="corrupt", tag=TAG))
    assert status == 200 and json.loads(body)["steps"] == [0, 2]
    status, _, body = get(BASE + "/layer?" + q(run="torn", tag=TAG, step=99, layer=0))
    assert status == 404 and "no attention at step 99" in error_message(body)
    for run in ("empty", "garbage", "scalars_only"):
        status, _, body = get(BASE + "/steps?" + q(run=run, tag=TAG))
        assert status == 404 and error_message(body)
        status, _, body = get(BASE + "/steps?" + q(run=run, tag="loss"))
        assert status == 404 and error_message(body)


def test_messy_logdir_through_the_multiplexer(messy):
    logdir, logged = messy
    client = wsgi_client(logdir)

    def get(path):
        response = client.get(path)
        return response.status_code, response.headers, response.get_data()

    check_messy(get, logged)


@pytest.mark.slow
@pytest.mark.parametrize("load_fast", LOADERS)
def test_messy_logdir_in_tensorboard(tensorboard, messy, load_fast):
    logdir, logged = messy
    tb = tensorboard(logdir, load_fast=load_fast)
    readable = load_fast == "false"
    expected_runs = sorted(r for r in GOOD_RUNS if readable or r != "odd_walltime")
    tb.wait_for(
        lambda: (
            sorted(tb.get_json(BASE + "/tags")["runs"]) == expected_runs
            and served_steps(tb, "torn", TAG) == list(range(6))
            and served_steps(tb, "with_junk", TAG) == list(range(4))
        ),
        timeout=90,
    )
    check_messy(tb.get, logged, nan_wall_time_readable=readable)
    # Nothing else breaks: TensorBoard's own scalars of the same logdir are all there.
    scalars = tb.get_json("/data/plugin/scalars/scalars?" + q(run="scalars_only", tag="loss"))
    assert [s[1] for s in scalars] == list(range(5))
    assert tb.get_json("/data/plugins_listing")["tb_attention"]["enabled"] is True


# -- a training process killed mid-write -------------------------------------------------------------

KILLED_WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    import tb_attention
    from tests.helpers.data import softmax_attention
    # Large float32 records take the writer thread long enough that a kill lands mid-write often.
    for step in range(10_000):
        a = softmax_attention((4, 12, 160, 160), seed=step % 7)
        tb_attention.add_attention(sys.argv[1], "p", a, ["t%d" % i for i in range(160)], step,
                                   precision="float32")
        tb_attention.flush()
    """
)


def _complete_attention_records(path):
    with open(path, "rb") as f:
        return len(frames(f.read())) - 1  # the first record is the file_version event


@pytest.mark.slow
@pytest.mark.parametrize("load_fast", LOADERS)
def test_training_killed_mid_write(tensorboard, tmp_path, load_fast):
    from tests.helpers.data import softmax_attention

    run = tmp_path / "killed"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(run)], cwd=root, start_new_session=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            files = attention_event_files(run)
            if files and _complete_attention_records(files[0]) >= 3:
                break
            assert proc.poll() is None, "the writer process died on its own"
            time.sleep(0.05)
        else:
            raise AssertionError("the writer process wrote nothing in time")
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)  # only the writer we started
        proc.wait(30)
    (path,) = attention_event_files(run)
    complete = _complete_attention_records(path)
    assert complete >= 3
    tb = tensorboard(tmp_path, load_fast=load_fast)
    tb.wait_for(lambda: served_steps(tb, "killed", "p") == list(range(complete)), timeout=90)
    for step in (0, complete - 1):
        got = served_layer(tb, "killed", "p", step, 3)
        np.testing.assert_allclose(got, softmax_attention((4, 12, 160, 160), seed=step % 7)[3], atol=0)


# -- a live run: records appear as they complete, never half-written --------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("load_fast", LOADERS)
def test_live_run_never_serves_a_half_written_step(tensorboard, tmp_path, load_fast):
    # The real writer's bytes of steps 0..3, replayed into a watched file at a pace we control.
    scratch = tmp_path / "scratch"
    logged = write_run(scratch, range(4), tag=TAG, seed_base=40, scalars=False)
    with open(attention_event_files(scratch)[0], "rb") as f:
        data = f.read()
    records = [data[o : o + n] for o, n in frames(data)]
    assert len(records) == 5  # file_version + 4 steps
    logdir = tmp_path / "logs"
    (logdir / "live").mkdir(parents=True)
    # The payload is complete from the start: only the index stream is replayed.
    shutil.copytree(scratch / "plugins", logdir / "live" / "plugins")
    path = logdir / "live" / os.path.basename(attention_event_files(scratch)[0])
    _append(path, b"".join(records[:3]))  # steps 0 and 1
    # A control run fed whole records at the same moments: once TensorBoard serves its new step,
    # it has reloaded after the half record was written, so the half record had its chance.
    shutil.copytree(scratch / "plugins", logdir / "control" / "plugins")
    control = logdir / "control" / os.path.basename(path)
    _append(control, records[0])

    tb = tensorboard(logdir, load_fast=load_fast)
    tb.wait_for(lambda: served_steps(tb, "live", TAG) == [0, 1], timeout=90)
    # Cut inside the length field, inside the data, and one byte short of the end.
    written = 0
    for i, cut in enumerate((5, len(records[3]) // 2, len(records[3]) - 1)):
        _append(path, records[3][written:cut])
        written = cut
        _append(control, records[1 + i])
        tb.wait_for(lambda n=i + 1: served_steps(tb, "control", TAG) == list(range(n)), timeout=60)
        assert served_steps(tb, "live", TAG) == [0, 1]
        status, _, _ = tb.get(BASE + "/layer?" + q(run="live", tag=TAG, step=2, layer=0))
        assert status == 404
    _append(path, records[3][written:])
    tb.wait_for(lambda: served_steps(tb, "live", TAG) == [0, 1, 2], timeout=60)
    _append(path, records[4])
    tb.wait_for(lambda: served_steps(tb, "live", TAG) == [0, 1, 2, 3], timeout=60)
    for step in range(4):
        assert np.abs(served_layer(tb, "live", TAG, step, 1) - logged[step][1]).max() <= UINT8_BOUND


@pytest.mark.slow
@pytest.mark.parametrize("load_fast", LOADERS)
def test_live_run_next_to_a_summary_writer(tensorboard, tmp_path, load_fast):
    """The usual training loop: scalars and attention through one SummaryWriter, TensorBoard open.

    Our event file sorts before the SummaryWriter's; TensorBoard's Python loader follows only a
    run's last file unless --reload_multifile, which the plugin's loader turns on by default.
    """
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(tmp_path / "train"))
    try:

        def train(steps):
            for step in steps:
                writer.add_scalar("loss", 1.0 / (step + 1), step)
                tb_attention.add_attention(writer, TAG, attention(step), tokens_for(5), step)
            writer.flush()

        train(range(3))
        tb = tensorboard(tmp_path, load_fast=load_fast)
        scalars_url = "/data/plugin/scalars/scalars?" + q(run="train", tag="loss")
        tb.wait_for(
            lambda: served_steps(tb, "train", TAG) == [0, 1, 2] and len(tb.get_json(scalars_url)) == 3, timeout=90
        )
        train(range(3, 6))
        tb.wait_for(
            lambda: served_steps(tb, "train", TAG) == list(range(6)) and len(tb.get_json(scalars_url)) == 6, timeout=60
        )
        assert np.abs(served_layer(tb, "train", TAG, 5, 1) - attention(5)[1]).max() <= UINT8_BOUND
    finally:
        writer.close()


def test_a_new_step_is_served_at_once_although_the_step_list_was_reused(tmp_path):
    """find_step reuses a (run, tag)'s step list briefly; a step not in it is looked up afresh."""
    run = tmp_path / "run"
    tb_attention.add_attention(run, TAG, attention(0), tokens_for(5), 0)
    tb_attention.flush()
    client, mux = wsgi_client(tmp_path, return_multiplexer=True)

    def layer(step):
        return client.get(BASE + "/layer?" + q(run="run", tag=TAG, step=step, layer=1))

    assert layer(0).status_code == 200 and layer(1).status_code == 404
    tb_attention.add_attention(run, TAG, attention(1), tokens_for(5), 1)
    tb_attention.flush()
    mux.Reload()
    response = layer(1)  # well within the reuse window of the list fetched just above
    assert response.status_code == 200
    got = decode_layer_response(response.headers, response.get_data())
    assert np.abs(got - attention(1)[1]).max() <= UINT8_BOUND
    assert layer(2).status_code == 404


@pytest.mark.parametrize("given, expected", [(None, True), (False, False), (True, True)])
def test_reload_multifile_defaults_on_and_an_explicit_value_wins(given, expected):
    import argparse

    from tb_attention.serving.plugin import AttentionLoader

    flags = argparse.Namespace(reload_multifile=given, samples_per_plugin={})
    AttentionLoader().fix_flags(flags)
    assert flags.reload_multifile is expected
