"""Retrieval heads forming during real training: a small attention-only model trained here on
repeated random segments (tests/helpers/long_copy.py, about 90 s of one CPU core) copies from
more than 1024 positions back; on a needle probe of its vocabulary its copying heads reach a
high retrieval score and the others do not, and "heads that formed" gives the step at which
retrieval formed."""

import numpy as np
import pytest

from tb_attention import formed_heads, read_attention
from tb_attention.analysis.labels import DEFAULT_THRESHOLDS

pytestmark = pytest.mark.slow
STEPS, EVERY = 800, 100


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    import torch

    from tests.helpers import long_copy

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # test workers share two cores
    try:
        logdir = tmp_path_factory.mktemp("long_copy")
        probe = long_copy.train(str(logdir), steps=STEPS, log_every=EVERY)
    finally:
        torch.set_num_threads(threads)
    return probe, list(read_attention(str(logdir), tag=long_copy.TAG))


def test_copying_heads_become_retrieval_heads_over_1024_positions(trained):
    probe, records = trained
    assert min(q - k for q, k in probe.retrieval) >= 1024 and records[-1].shape[2] == len(probe.token_ids)
    assert [r.step for r in records] == list(range(0, STEPS + 1, EVERY))
    first, last = records[0].patterns, records[-1].patterns
    assert np.nanmax(first["retrieval"]) <= 0.1  # no retrieval head at initialisation
    copying = last["induction"] > DEFAULT_THRESHOLDS["induction"][1]  # the heads that copy
    assert copying.any() and not copying[0].any()  # induction heads, in layer 1
    retrieval = last["retrieval"]
    assert retrieval[copying].min() >= 0.5 and retrieval[copying].mean() >= 0.8, retrieval
    assert retrieval[~copying].max() < DEFAULT_THRESHOLDS["retrieval"][1], retrieval  # the others do not


def test_heads_that_formed_say_when_retrieval_formed(trained):
    _, records = trained
    steps = [r.step for r in records]
    found = [e for e in formed_heads(steps, [r.patterns for r in records])["formed"] if e["label"] == "retrieval"]
    last = records[-1].patterns["retrieval"]
    threshold = DEFAULT_THRESHOLDS["retrieval"][1]
    assert sorted((e["layer"], e["head"]) for e in found) == sorted(zip(*np.nonzero(last > threshold)))
    for e in found:
        series = np.array([r.patterns["retrieval"][e["layer"], e["head"]] for r in records])
        below = np.flatnonzero(series <= threshold)
        assert e["step"] == steps[below[-1] + 1] and e["previous_step"] == steps[below[-1]]
        assert 0 < e["step"] <= STEPS and e["score_final"] == pytest.approx(series[-1], abs=1e-6)
