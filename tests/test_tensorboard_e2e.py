"""A real `tensorboard` process, in both loaders, serves every logged step exactly."""

import time

import numpy as np
import pytest
import torch
from torch.utils.tensorboard import SummaryWriter

import tb_attention
from tests.conftest import SEED_TOKENS
from tests.helpers.data import UINT8_BOUND
from tests.helpers.http import LOADERS, q, served_layer

STEPS = 30


@pytest.fixture(scope="module")
def seed_logdir(tmp_path_factory, seed_attention):
    """30 steps of the seed pair on the packaged MiniLM, perturbed per step, next to scalars."""
    attentions, tokens, sentence_b_start = seed_attention
    assert tokens == SEED_TOKENS
    logdir = tmp_path_factory.mktemp("e2e")
    writer = SummaryWriter(str(logdir / "finetune"))
    logged = {}
    started = time.time()
    for step in range(STEPS):
        # A different (still softmax) attention per step, so a mixed-up step would be caught.
        mixed = tuple(torch.softmax(torch.log(a + 1e-9) * (1 + step / 10), dim=-1) for a in attentions)
        logged[step] = torch.stack(mixed)[:, 0].numpy()
        writer.add_scalar("loss", 1.0 / (step + 1), step)
        tb_attention.add_attention(writer, "probe/store", mixed, tokens, step, sentence_b_start=sentence_b_start)
    writer.close()
    return logdir, logged, tokens, sentence_b_start, (started, time.time())


@pytest.mark.slow
@pytest.mark.parametrize("load_fast", LOADERS)
def test_every_step_is_served_exactly(tensorboard, seed_logdir, load_fast):
    logdir, logged, tokens, sentence_b_start, (started, ended) = seed_logdir
    tb = tensorboard(logdir, load_fast=load_fast)
    listing = tb.wait_for(
        lambda: tb.get_json("/data/plugins_listing")["tb_attention"]["enabled"] and tb.get_json("/data/plugins_listing")
    )
    assert listing["tb_attention"]["tab_name"] == "Attention"
    tags = tb.wait_for(lambda: tb.get_json("/data/plugin/tb_attention/tags")["runs"])
    assert set(tags) == {"finetune"} and set(tags["finetune"]) == {"probe/store"}
    entry = tags["finetune"]["probe/store"]
    assert entry["max_step"] == STEPS - 1 and entry["display_name"] == "probe/store"
    # The wall time of the last record: written while the fixture ran.
    assert started <= entry["max_wall_time"] <= ended
    steps = tb.get_json("/data/plugin/tb_attention/steps?" + q(run="finetune", tag="probe/store"))["steps"]
    # TensorBoard keeps 10 blob-sequence steps by default; the plugin's loader raises that for us.
    assert [s["step"] for s in steps] == list(range(STEPS))
    first = steps[0]["parts"]["self"]
    assert first["tokens"] == tokens and first["sentence_b_start"] == sentence_b_start
    assert first["shape"] == [6, 12, len(tokens), len(tokens)] and first["layer_ids"] == list(range(6))
    for step in (0, 13, STEPS - 1):
        for layer in (0, 5):
            served = served_layer(tb, "finetune", "probe/store", step, layer)
            assert np.abs(served - logged[step][layer]).max() <= UINT8_BOUND
    # The user's own scalars are untouched by our event file.
    scalars = tb.get_json("/data/plugin/scalars/scalars?" + q(run="finetune", tag="loss"))
    assert len(scalars) == STEPS


@pytest.mark.slow
@pytest.mark.parametrize("load_fast", LOADERS)
def test_live_run_new_steps_appear(tensorboard, tmp_path, load_fast):
    """A writer appending while TensorBoard serves: new steps show up on reload."""
    a = np.full((2, 3, 4, 4), 0.25, dtype=np.float32)
    tokens = ["[CLS]", "a", "b", "[SEP]"]
    run = tmp_path / "live"
    tb_attention.add_attention(run, "p", a, tokens, 0)
    tb_attention.flush()
    tb = tensorboard(tmp_path, load_fast=load_fast)
    url = "/data/plugin/tb_attention/steps?" + q(run="live", tag="p")
    tb.wait_for(lambda: [s["step"] for s in tb.get_json(url)["steps"]] == [0])
    for step in (1, 2):
        tb_attention.add_attention(run, "p", a, tokens, step)
    tb_attention.flush()
    tb.wait_for(lambda: [s["step"] for s in tb.get_json(url)["steps"]] == [0, 1, 2], timeout=60)


@pytest.mark.slow
def test_explicit_samples_flag_still_wins(tensorboard, seed_logdir):
    """The plugin only supplies a default: `--samples_per_plugin=tb_attention=N` is respected."""
    logdir = seed_logdir[0]
    tb = tensorboard(logdir, extra_args=["--samples_per_plugin", "tb_attention=5"])
    url = "/data/plugin/tb_attention/steps?" + q(run="finetune", tag="probe/store")
    steps = tb.wait_for(lambda: tb.get_json(url)["steps"])
    assert len(steps) == 5 and steps[-1]["step"] == STEPS - 1
