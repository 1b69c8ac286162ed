"""Heads forming during real training: the 2-layer attention-only transformer of demo/induction.py
trained on repeated random sequences on the CPU (seeded, a few seconds), its probe's attention
logged with add_attention; the induction and previous-token heads appear in the scores, in
formed_heads and in the plugin's /formed route."""

import numpy as np
import pytest

from tb_attention import formed_heads, read_attention
from tb_attention.analysis.labels import DEFAULT_THRESHOLDS
from tests.helpers.http import client_json, q, wsgi_client

pytestmark = pytest.mark.slow
STEPS, EVERY = 600, 50


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    import torch

    import tb_attention
    from demo import induction

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # test workers share two cores
    try:
        logdir = tmp_path_factory.mktemp("induction")
        run = induction.train(str(logdir), steps=STEPS, lr=3e-3, seed=0, log_every=EVERY)
        tb_attention.flush()
    finally:
        torch.set_num_threads(threads)
    records = list(read_attention(str(logdir), run=run, tag=induction.TAG))
    return logdir, run, records


def stays_above_from(steps, values, threshold):
    """The first step from which every later value is above `threshold` (None if the last is not)."""
    above = np.asarray(values) > threshold
    if not above[-1]:
        return None
    below = np.flatnonzero(~above)
    return steps[below[-1] + 1] if below.size else steps[0]


def test_induction_and_previous_token_heads_form(trained):
    _, _, records = trained
    steps = [r.step for r in records]
    assert steps == list(range(0, STEPS + 1, EVERY))
    induction = np.array([r.patterns["induction"][1] for r in records])  # layer 1: [steps, heads]
    previous = np.array([r.patterns["previous_token"][0] for r in records])  # layer 0
    ind_threshold = DEFAULT_THRESHOLDS["induction"][1]
    prev_threshold = DEFAULT_THRESHOLDS["previous_token"][1]
    best = induction.max(axis=1)
    assert best[0] < 0.2 < ind_threshold < best[-1]  # random at init, an induction head at the end
    assert best[-1] > 0.7 and np.all(np.diff(best[-4:]) > -0.1)  # and it stays one
    prev_best = previous.max(axis=1)
    assert prev_best[0] < 0.2 and prev_best[-1] > prev_threshold

    found = formed_heads(steps, [r.patterns for r in records])["formed"]
    by_label = {}
    for entry in found:
        by_label.setdefault(entry["label"], []).append(entry)
    ind_head = int(induction[-1].argmax())
    (ind_entry,) = [e for e in by_label["induction"] if (e["layer"], e["head"]) == (1, ind_head)]
    assert ind_entry["step"] == stays_above_from(steps, induction[:, ind_head], ind_threshold)
    assert 0 < ind_entry["step"] < STEPS and ind_entry["score_before"] <= ind_threshold < ind_entry["score_at"]
    prev_head = int(previous[-1].argmax())
    (prev_entry,) = [e for e in by_label["previous_token"] if (e["layer"], e["head"]) == (0, prev_head)]
    assert prev_entry["step"] == stays_above_from(steps, previous[:, prev_head], prev_threshold)
    # Olsson et al.: the induction head needs the previous-token head; here they form together.
    assert abs(prev_entry["step"] - ind_entry["step"]) <= 300
    assert all(e["layer"] == 0 for e in by_label["previous_token"])


def test_the_plugin_serves_the_same_formed_heads(trained):
    from demo import induction

    logdir, run, records = trained
    client = wsgi_client(logdir)
    served = client_json(client, "/formed?" + q(run=run, tag=induction.TAG))
    expected = formed_heads([r.step for r in records], [r.patterns for r in records])
    key = lambda e: (e["label"], e["layer"], e["head"], e["step"])  # noqa: E731
    assert sorted(map(key, served["formed"])) == sorted(map(key, expected["formed"]))
    assert {e["label"] for e in served["formed"]} >= {"induction", "previous_token"}
    late = client_json(client, "/formed?" + q(run=run, tag=induction.TAG, step_a=STEPS - EVERY, step_b=STEPS))
    assert late["formed"] == [] and (late["from_step"], late["to_step"]) == (STEPS - EVERY, STEPS)
