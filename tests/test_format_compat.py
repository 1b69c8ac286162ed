"""Logdirs written by tb-attention 0.1 (format 1, `tests/data/v1_logdir`, made by that version's own
writer, with what its own `read_attention` returned in `v1_logdir.expected.npz`) stay readable:
read back, served and compared exactly as before, alone and with format-2 steps added to a tag."""

import pathlib
import shutil

import numpy as np
import pytest

import tb_attention
from tb_attention.analysis.change import head_change
from tests.helpers.data import UINT8_BOUND, softmax_attention
from tests.helpers.http import BASE, LOADERS, client_json, client_layer, q, served_layer, served_steps, wsgi_client

DATA = pathlib.Path(__file__).resolve().parent / "data"
V1 = DATA / "v1_logdir"


@pytest.fixture(scope="module")
def expected():
    with np.load(DATA / "v1_logdir.expected.npz") as npz:
        return {tuple(key.split("|")[:2]) + (int(key.split("|")[2]),): npz[key] for key in npz.files}


def test_read_attention_returns_what_version_0_1_returned(expected):
    records = {(r.run, r.tag, r.step): r for r in tb_attention.read_attention(str(V1))}
    assert set(records) == set(expected)
    for key, values in expected.items():
        np.testing.assert_array_equal(records[key].attention, values)
        np.testing.assert_array_equal(records[key].layer(1), values[1])
    store = records["finetune", "probe/store", 10]
    assert store.kind == "self" and store.sentence_b_start == 8 and store.tokens[0] == "[CLS]"
    assert store.patterns is not None and store.patterns["previous_token"].shape == (3, 4)
    cross = records["finetune", "probe/cross", 10]
    assert (
        cross.kind == "cross"
        and cross.precision == "float16"
        and cross.key_tokens == ["the", "pilot", "bought", "milk"]
    )


def test_served_and_compared_as_before(expected):
    client = wsgi_client(V1)
    steps = client_json(client, "/steps?" + q(run="finetune", tag="probe/store"))["steps"]
    assert [s["step"] for s in steps] == [0, 10, 20] and all(s["kinds"] == ["self"] for s in steps)
    # The stored values, as the panel reads them (value x scale: the same weights to a float ulp).
    for step in (0, 10, 20):
        for layer in range(3):
            np.testing.assert_allclose(
                client_layer(client, run="finetune", tag="probe/store", step=step, layer=layer),
                expected["finetune", "probe/store", step][layer],
                rtol=1e-6,
                atol=0,
            )
    np.testing.assert_allclose(
        client_layer(client, run="finetune", tag="probe/cross", step=10, layer=1, kind="cross"),
        expected["finetune", "probe/cross", 10][1],
        rtol=1e-6,
        atol=0,
    )
    change = client_json(
        client, "/change?" + q(run="finetune", tag="probe/store", step_a=0, step_b=0, run_b="baseline")
    )
    np.testing.assert_allclose(
        change["js"],
        head_change(expected["finetune", "probe/store", 0], expected["baseline", "probe/store", 0]).round(6),
        atol=1e-6,
    )
    patterns = client_json(client, "/patterns?" + q(run="finetune", tag="probe/store"))
    assert patterns["steps"] == [0, 10, 20] and all(s is not None for s in patterns["scores"])
    thumbs = client.get(BASE + "/thumbnails?" + q(run="finetune", tag="probe/store", step=20))
    assert thumbs.status_code == 200 and thumbs.headers["X-Attention-Shape"] == "3,4,12,12"


def test_format_2_steps_added_to_a_format_1_tag(tmp_path, expected):
    logdir = tmp_path / "logs"
    shutil.copytree(V1, logdir)
    new = softmax_attention((3, 4, 12, 12), seed=5)
    tokens = tb_attention.read_attention(str(V1), run="finetune", tag="probe/store", step=0).__next__().tokens
    tb_attention.add_attention(logdir / "finetune", "probe/store", new, tokens, 30, sentence_b_start=8)
    tb_attention.flush()
    records = {r.step: r for r in tb_attention.read_attention(str(logdir), run="finetune", tag="probe/store")}
    assert sorted(records) == [0, 10, 20, 30]
    np.testing.assert_array_equal(records[10].attention, expected["finetune", "probe/store", 10])
    assert np.abs(records[30].attention - new).max() <= UINT8_BOUND
    client = wsgi_client(logdir)
    change = client_json(client, "/change?" + q(run="finetune", tag="probe/store", step_a=20, step_b=30))
    reference = head_change(expected["finetune", "probe/store", 20], records[30].attention).round(6)
    np.testing.assert_allclose(change["js"], reference, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("load_fast", LOADERS)
def test_tensorboard_serves_the_version_0_1_logdir(tensorboard, expected, tmp_path, load_fast):
    logdir = tmp_path / "v1"
    shutil.copytree(V1, logdir)  # TensorBoard writes nothing, but the test data stays pristine anyway
    tb = tensorboard(logdir, load_fast=load_fast)
    tb.wait_for(lambda: served_steps(tb, "finetune", "probe/store") == [0, 10, 20])
    for step in (0, 20):
        np.testing.assert_allclose(
            served_layer(tb, "finetune", "probe/store", step, 2),
            expected["finetune", "probe/store", step][2],
            rtol=1e-6,
            atol=0,
        )
    assert len(tb.get_json("/data/plugin/scalars/scalars?" + q(run="finetune", tag="loss"))) == 3
