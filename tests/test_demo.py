"""The demos as users run them: `python -m demo` and `python -m demo.plain_loop`, in subprocesses."""

import os
import pathlib
import re
import signal
import subprocess
import sys
import urllib.parse

import numpy as np
import pytest

from tb_attention import read_attention
from tests.conftest import SEED_TOKENS
from tests.helpers.tb_process import TensorBoardProcess, free_port

ROOT = pathlib.Path(__file__).resolve().parent.parent
TAGS = {"probe/store", "probe/paraphrase", "probe/negation", "probe/swap"}
# One torch thread per demo: the tests may share two cores with other test workers, where more
# threads only spin against each other.
ENV = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")


def _scalar_tags(run_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir))
    acc.Reload()
    return set(acc.Tags()["scalars"])


def _check_logdir(logdir, steps):
    """Every probe at steps 0..steps in one run, beside the loss curves; attention moved."""
    records = [r for r in read_attention(str(logdir)) if r.tag in TAGS]  # the BERT probes (not demo.induction's)
    [run] = {r.run for r in records}
    assert {r.tag for r in records} == TAGS
    store = [r for r in records if r.tag == "probe/store"]
    assert [r.step for r in store] == list(range(steps + 1))
    assert store[0].tokens == SEED_TOKENS and store[0].sentence_b_start == SEED_TOKENS.index("at")
    assert {"train/loss"} <= _scalar_tags(logdir / run)
    change = np.abs(store[-1].attention - store[0].attention).max()
    assert change > 0.05, change  # fine-tuning visibly moved the seed pair's attention
    return run


@pytest.mark.slow
def test_trainer_demo_no_serve(tmp_path):
    logdir = tmp_path / "logs"
    result = subprocess.run(
        [sys.executable, "-m", "demo", "--no-serve", "--steps", "10", "--logdir", str(logdir)],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    run = _check_logdir(logdir, 10)
    assert "eval/accuracy" in _scalar_tags(logdir / run)
    assert "10/10" in result.stderr  # Trainer's progress bar
    assert "logged attention at steps [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]" in result.stdout
    assert not (logdir / run / "checkpoint-10").exists()  # no 90 MB checkpoints in a demo
    # Beside it, the induction demo's two learning rates: heads forming from scratch.
    from demo import induction

    forming = {r.run for r in read_attention(str(logdir), tag=induction.TAG)}
    assert len(forming) == 2 and run not in forming


@pytest.mark.slow
def test_plain_loop_demo_trains_then_serves_every_step(tmp_path):
    """12 logged steps: more than TensorBoard keeps of a plugin by default (10), so this also shows
    that serving needs no --samples_per_plugin flag."""
    logdir, port = tmp_path / "logs", free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "demo.plain_loop", "--steps", "11", "--logdir", str(logdir), "--port", str(port)],
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        lines = []
        for line in proc.stdout:  # blocks until the demo prints the URL (or exits)
            lines.append(line)
            if "http://127.0.0.1:%d/" % port in line:
                break
        assert proc.poll() is None, "".join(lines)
        run = _check_logdir(logdir, 11)
        tb = TensorBoardProcess(logdir)
        tb.port = port  # the demo's own server, not one this test starts
        steps = tb.get_json(
            "/data/plugin/tb_attention/steps?" + urllib.parse.urlencode({"run": run, "tag": "probe/store"})
        )
        assert [s["step"] for s in steps["steps"]] == list(range(12))
        assert re.search(r"Attention panel: http://127\.0\.0\.1:%d/#tb_attention" % port, "".join(lines))
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in the demo's terminal
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_demo_refuses_a_busy_port_before_training(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "demo", "--steps", "1", "--logdir", str(tmp_path), "--port", str(port)],
            cwd=ROOT,
            env=ENV,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode != 0
    assert "port %d on 127.0.0.1 is not free" % port in result.stderr
    assert not any(tmp_path.iterdir())  # nothing was trained or written


def test_demo_data_is_regenerated_identically(tmp_path):
    """demo/data/*.tsv is exactly what demo/make_data.py writes: the data set is reproducible."""
    code = "import pathlib, sys; import demo.make_data as m; m.DATA_DIR = pathlib.Path(sys.argv[1]); m.main([])"
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, check=True, capture_output=True, timeout=60)
    for name in ("train.tsv", "eval.tsv"):
        assert (tmp_path / name).read_bytes() == (ROOT / "demo" / "data" / name).read_bytes()
    rows = (ROOT / "demo" / "data" / "train.tsv").read_text().splitlines()[1:]
    labels = [row.rsplit("\t", 1)[1] for row in rows]
    assert 300 <= len(rows) <= 1000 and 0.4 < labels.count("1") / len(labels) < 0.6
