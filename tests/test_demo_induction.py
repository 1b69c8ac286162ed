"""`python -m demo.induction` as users run it: two runs (two learning rates) of the attention-only
transformer, the induction probe logged every 25 steps beside the loss, heads forming in both."""

import os
import pathlib
import subprocess
import sys

import pytest

from tb_attention import formed_heads, read_attention

ROOT = pathlib.Path(__file__).resolve().parent.parent
ENV = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")


@pytest.mark.slow
def test_induction_demo_logs_two_runs_where_heads_form(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logdir = tmp_path / "logs"
    result = subprocess.run(
        [sys.executable, "-m", "demo.induction", "--no-serve", "--steps", "400", "--logdir", str(logdir)],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    runs = sorted(p.name for p in logdir.iterdir())
    assert len(runs) == 2 and all(r.startswith("induction-lr") for r in runs), runs
    for run in runs:
        records = list(read_attention(str(logdir), run=run, tag="probe/induction"))
        assert [r.step for r in records] == list(range(0, 401, 25))
        formed = formed_heads([r.step for r in records], [r.patterns for r in records])["formed"]
        assert any(e["label"] == "induction" and e["layer"] == 1 for e in formed), (run, formed)
        assert "%s: heads that formed: " % run in result.stdout and "induction at step" in result.stdout
        acc = EventAccumulator(str(logdir / run))
        acc.Reload()
        assert "train/loss" in acc.Tags()["scalars"]
