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

import tb_attention
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


def _serve_demo(module, logdir, port, steps, stderr=subprocess.DEVNULL):
    """Start `python -m <module>` serving on `port`; (process, its output up to the panel's URL)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", module, "--steps", str(steps), "--logdir", str(logdir), "--port", str(port)],
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        start_new_session=True,
    )
    lines = []
    for line in proc.stdout:  # blocks until the demo prints its URLs (or exits)
        lines.append(line)
        if "(Ctrl-C to stop)" in line:
            break
    if proc.poll() is not None:
        raise AssertionError("the demo exited with %s:\n%s" % (proc.returncode, "".join(lines)))
    return proc, "".join(lines)


def _stop_demo(proc):
    """Ctrl-C in the demo's terminal: it exits 0 (its TensorBoard stops itself)."""
    try:
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _printed_panel_url(output, port, run):
    """The URL the demo prints for the panel: on `run` and the seed pair's tag."""
    match = re.search(r"Attention panel, (\S+) on the seed pair: (\S+)", output)
    assert match and match.group(1) == run, output
    url = urllib.parse.urlsplit(match.group(2))
    assert url.netloc == "127.0.0.1:%d" % port, output
    assert urllib.parse.parse_qs(url.fragment) == {"run": [run], "tag": ["probe/store"]}, output
    tab = "TensorBoard, with the loss curves and this panel as its Attention tab: http://127.0.0.1:%d/#tb_attention"
    assert tab % port in output
    return match.group(2)


@pytest.mark.slow
@pytest.mark.browser
def test_trainer_demo_serves_and_its_url_opens_the_fine_tuned_seed_pair(tmp_path, panel_factory):
    logdir, port = tmp_path / "logs", free_port()
    with open(tmp_path / "stderr", "w") as stderr:
        proc, output = _serve_demo("demo", logdir, port, 10, stderr=stderr)
    try:
        run = _check_logdir(logdir, 10)
        assert "eval/accuracy" in _scalar_tags(logdir / run)
        assert "10/10" in (tmp_path / "stderr").read_text()  # Trainer's progress bar
        assert "logged attention at steps [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]" in output
        assert not (logdir / run / "checkpoint-10").exists()  # no 90 MB checkpoints in a demo
        # Head importance at every logged step, with its ablation check, in the same run.
        importance = list(tb_attention.read_importance(str(logdir), run=run))
        assert [r.step for r in importance] == list(range(11))
        assert all(r.examples == 64 and r.ablation["k"] == 3 for r in importance)
        # Beside it, the induction demo's two learning rates: heads forming from scratch.
        from demo import induction

        forming = {r.run for r in read_attention(str(logdir), tag=induction.TAG)}
        assert len(forming) == 2 and run not in forming
        # The printed URL opens the fine-tuned run on the seed pair, at its last step; the
        # induction runs are in the run menu.
        url = _printed_panel_url(output, port, run)
        tb = TensorBoardProcess(logdir)
        tb.port = port  # the demo's own server, not one this test starts
        panel = panel_factory(tb)
        page = panel.page
        page.goto(url)
        page.wait_for_function("window.__tbAttention")
        page.evaluate("window.__tbAttention.ready")
        panel.idle()
        assert (page.input_value(".run-select"), page.input_value(".tag-select")) == (run, "probe/store")
        assert set(panel.options(".run-select")) == {run} | forming
        assert page.inner_text(".step-label").startswith("step 10")
        assert panel.texts(".hv-left .tok-text") == SEED_TOKENS
        # TensorBoard's Attention tab opens where the panel was left (the state the browser keeps).
        page.goto("http://127.0.0.1:%d/#tb_attention" % port)
        frame = page.frame_locator("iframe")
        frame.locator(".hv-left .tok-text").nth(len(SEED_TOKENS) - 1).wait_for()
        assert frame.locator(".run-select").input_value() == run
        assert frame.locator(".tag-select").input_value() == "probe/store"
    finally:
        _stop_demo(proc)


@pytest.mark.slow
def test_plain_loop_demo_trains_then_serves_every_step(tmp_path):
    """12 logged steps: more than TensorBoard keeps of a plugin by default (10), so this also shows
    that serving needs no --samples_per_plugin flag."""
    logdir, port = tmp_path / "logs", free_port()
    proc, output = _serve_demo("demo.plain_loop", logdir, port, 11)
    try:
        run = _check_logdir(logdir, 11)
        tb = TensorBoardProcess(logdir)
        tb.port = port  # the demo's own server, not one this test starts
        steps = tb.get_json(
            "/data/plugin/tb_attention/steps?" + urllib.parse.urlencode({"run": run, "tag": "probe/store"})
        )
        assert [s["step"] for s in steps["steps"]] == list(range(12))
        _printed_panel_url(output, port, run)
    finally:
        _stop_demo(proc)


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
