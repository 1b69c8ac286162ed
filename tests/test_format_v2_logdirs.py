"""Format-2 logdirs as they go wrong in practice: a payload chunk corrupted, a payload file cut
short or deleted (a 422 for the records it held, the rest served), a writer killed between
payload and index, two writers at once; each through TensorBoard's data provider or a real
TensorBoard."""

import glob
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import tb_attention
from tests.helpers.data import UINT8_BOUND, attention, tokens_for
from tests.helpers.http import BASE, LOADERS, client_json, q, served_layer, served_steps, wsgi_client

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TAG = "probe/x"


def payload_file(run_dir):
    (path,) = glob.glob(os.path.join(str(run_dir), "plugins", "tb_attention", "*.tbattn"))
    return path


def log_steps(run_dir, steps, layers=2, heads=3, n=40):
    logged = {}
    for step in steps:
        logged[step] = attention(step, layers, heads, n)
        tb_attention.add_attention(run_dir, TAG, logged[step], tokens_for(n), step)
    tb_attention.flush()
    return logged


def status_of(client, **params):
    response = client.get(BASE + "/layer?" + q(tag=TAG, **params))
    return response.status_code, (None if response.status_code == 200 else response.get_data(as_text=True))


def index(logdir, run, step):
    """The decoded index header of one step (to find its chunks)."""
    (record,) = tb_attention.read_attention(str(logdir), run=run, tag=TAG, step=step)
    return record._stored.part.layout


def test_a_corrupt_chunk_fails_that_block_only(tmp_path):
    logged = log_steps(tmp_path / "r", range(5))
    offset, length, _ = index(tmp_path, "r", 2)["blocks"][1][0]
    path = payload_file(tmp_path / "r")
    with open(path, "r+b") as f:
        f.seek(offset + length // 2)
        byte = f.read(1)
        f.seek(offset + length // 2)
        f.write(bytes([byte[0] ^ 0xFF]))
    client = wsgi_client(tmp_path)
    status, body = status_of(client, run="r", step=2, layer=1)
    assert status == 422 and "fails its checksum" in json.loads(body)["error"]
    for step, layer in ((2, 0), (1, 1), (3, 1)):
        status, _ = status_of(client, run="r", step=step, layer=layer)
        assert status == 200, (step, layer)
    # The index still lists every step with its stored pattern scores.
    assert [s["step"] for s in client_json(client, "/steps?" + q(run="r", tag=TAG))["steps"]] == list(range(5))
    assert all(s is not None for s in client_json(client, "/patterns?" + q(run="r", tag=TAG))["scores"])
    # read_attention names the damage for that layer and reads the others.
    (record,) = tb_attention.read_attention(str(tmp_path), run="r", tag=TAG, step=2)
    assert np.abs(record.layer(0) - logged[2][0]).max() <= UINT8_BOUND
    with pytest.raises(ValueError, match="checksum"):
        record.layer(1)


def test_a_truncated_payload_fails_the_records_past_the_cut(tmp_path):
    log_steps(tmp_path / "r", range(5))
    cut = index(tmp_path, "r", 3)["blocks"][0][0][0] + 10  # inside step 3's first chunk
    path = payload_file(tmp_path / "r")
    with open(path, "r+b") as f:
        f.truncate(cut)
    client = wsgi_client(tmp_path)
    for step in range(5):
        status, body = status_of(client, run="r", step=step, layer=0)
        if step < 3:
            assert status == 200, step
        else:
            assert status == 422 and "truncated" in json.loads(body)["error"], body


def test_a_deleted_payload_file_fails_its_records_and_keeps_the_index(tmp_path):
    log_steps(tmp_path / "r", range(3))
    log_steps(tmp_path / "other", [0])
    os.remove(payload_file(tmp_path / "r"))
    client = wsgi_client(tmp_path)
    status, body = status_of(client, run="r", step=1, layer=0)
    assert status == 422 and "is missing" in json.loads(body)["error"]
    assert status_of(client, run="other", step=0, layer=0)[0] == 200
    assert [s["step"] for s in client_json(client, "/steps?" + q(run="r", tag=TAG))["steps"]] == [0, 1, 2]


WRITER = textwrap.dedent("""
    import sys, time
    import numpy as np
    sys.path.insert(0, {root!r})
    import tb_attention
    from tests.helpers.data import attention, tokens_for
    run, n_flushed, big = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
    for step in range(n_flushed):
        tb_attention.add_attention(run, "probe/x", attention(step, 2, 3, 40), tokens_for(40), step)
    tb_attention.flush()
    print("flushed", flush=True)
    if big:  # a record long to encode, killed while its payload is being written
        rng = np.random.default_rng(0)
        a = rng.random((24, 16, 512, 512), dtype=np.float32)
        a /= a.sum(-1, keepdims=True)
        tb_attention.add_attention(run, "probe/x", a, tokens_for(512), 100, max_tokens=4096)
        print("submitted", flush=True)
        time.sleep(600)
""")


def test_a_writer_killed_while_writing_a_payload_loses_nothing_it_flushed(tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(root=ROOT))
    run = tmp_path / "logs" / "r"
    proc = subprocess.Popen([sys.executable, str(script), str(run), "3", "1"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "flushed"
        size = os.path.getsize(payload_file(run))
        assert proc.stdout.readline().strip() == "submitted"
        deadline = time.time() + 120
        while os.path.getsize(payload_file(run)) <= size + 4096:  # the big record's chunks arrive
            assert time.time() < deadline and proc.poll() is None
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert os.path.getsize(payload_file(run)) > size  # the payload had bytes of the lost record...
    records = list(tb_attention.read_attention(str(tmp_path / "logs")))
    assert [r.step for r in records] == [0, 1, 2]  # ...and no index points to them
    for r in records:
        assert np.abs(r.attention - attention(r.step, 2, 3, 40)).max() <= UINT8_BOUND


@pytest.mark.slow
@pytest.mark.parametrize("load_fast", LOADERS)
def test_two_writers_in_one_logdir_at_once(tensorboard, tmp_path, load_fast):
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(root=ROOT))
    logdir = tmp_path / "logs"
    writers = [
        subprocess.Popen([sys.executable, str(script), str(logdir / run), "6", "0"], stdout=subprocess.PIPE)
        for run in ("a", "b")
    ]
    for w in writers:
        w.wait(120)
        assert w.returncode == 0
    # A second process appending to run a (a resumed job): its own payload file.
    log_steps(logdir / "a", [10])
    assert len(glob.glob(str(logdir / "a" / "plugins" / "tb_attention" / "*.tbattn"))) == 2
    tb = tensorboard(logdir, load_fast=load_fast)
    tb.wait_for(
        lambda: served_steps(tb, "a", TAG) == [0, 1, 2, 3, 4, 5, 10] and served_steps(tb, "b", TAG) == list(range(6))
    )
    for run, step in (("a", 5), ("b", 3), ("a", 10)):
        assert np.abs(served_layer(tb, run, TAG, step, 1) - attention(step, 2, 3, 40)[1]).max() <= UINT8_BOUND


def test_payload_files_rotate_and_every_record_stays_readable(tmp_path, monkeypatch):
    from tb_attention.writing import background

    monkeypatch.setattr(background, "PAYLOAD_FILE_BYTES", 2000)  # a new file after every record
    logged = log_steps(tmp_path / "r", range(4))
    names = sorted(os.listdir(tmp_path / "r" / "plugins" / "tb_attention"))
    assert len(names) == 4 and all(n.endswith(".tbattn") for n in names)
    records = {r.step: r for r in tb_attention.read_attention(str(tmp_path))}
    assert len({r._stored.record.file for r in records.values()}) == 4
    for step, r in records.items():
        assert np.abs(r.attention - logged[step]).max() <= UINT8_BOUND


def test_read_attention_reads_only_the_layer_asked_for(tmp_path):
    logged = log_steps(tmp_path / "r", range(3), layers=4)
    keep = index(tmp_path, "r", 1)["blocks"][2][0]  # layer 2 of step 1
    path = payload_file(tmp_path / "r")
    with open(path, "r+b") as f:  # every other chunk becomes garbage
        data = bytearray(f.read())
        kept = bytes(data[keep[0] : keep[0] + keep[1]])
        data[8:] = b"\x00" * (len(data) - 8)
        data[keep[0] : keep[0] + keep[1]] = kept
        f.seek(0)
        f.write(data)
    records = list(tb_attention.read_attention(str(tmp_path)))  # listing reads no payload
    assert [r.step for r in records] == [0, 1, 2] and all(r.patterns is not None for r in records)
    assert np.abs(records[1].layer(2) - logged[1][2]).max() <= UINT8_BOUND
    with pytest.raises(ValueError, match="checksum"):
        records[1].layer(1)


@pytest.mark.slow
def test_logdir_spec_runs_find_their_payloads(tensorboard, tmp_path):
    first = log_steps(tmp_path / "exp1" / "a", [0, 1])
    log_steps(tmp_path / "exp2" / "a", [5])  # the same run name under another group
    spec = "one:%s,two:%s" % (tmp_path / "exp1", tmp_path / "exp2")
    tb = tensorboard(tmp_path, load_fast="false", extra_args=["--logdir_spec", spec, "--logdir", ""])
    tb.wait_for(lambda: served_steps(tb, "one/a", TAG) == [0, 1] and served_steps(tb, "two/a", TAG) == [5])
    assert np.abs(served_layer(tb, "one/a", TAG, 1, 1) - first[1][1]).max() <= UINT8_BOUND
    assert np.abs(served_layer(tb, "two/a", TAG, 5, 0) - attention(5, 2, 3, 40)[0]).max() <= UINT8_BOUND


def test_records_of_one_probe_share_one_token_list(tmp_path):
    # A server keeps one decoded header per step for hours of training: equal tokens are one list.
    log_steps(tmp_path / "r", range(3))
    tb_attention.add_attention(tmp_path / "r", TAG, attention(3, 2, 3, 40), ["t%d" % i for i in range(40)], 3)
    tb_attention.flush()
    records = list(tb_attention.read_attention(str(tmp_path)))
    assert [r.tokens for r in records] == [tokens_for(40)] * 3 + [["t%d" % i for i in range(40)]]
    assert records[0].tokens is records[1].tokens is records[2].tokens
    assert records[3].tokens is not records[0].tokens
