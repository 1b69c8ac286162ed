"""Logdirs written by the format-2 writer before the record layout or the precisions change
(`tests/data/v2_logdir`, made by `tests/data/make_v2_logdir.py` with the writer of that time, and
what its `read_attention` returned in `v2_logdir.expected.npz`) read back bit for bit: through
`read_attention`, the plugin's routes, and a real TensorBoard in both loaders."""

import pathlib
import shutil

import numpy as np
import pytest

import tb_attention
from tests.helpers.http import (
    BASE,
    LOADERS,
    client_layer,
    decode_layer_response,
    q,
    served_layer,
    served_steps,
    wsgi_client,
)

DATA = pathlib.Path(__file__).resolve().parent / "data"
V2 = DATA / "v2_logdir"

# (run, tag, step): (precision, encoding, sparse rule, layer_ids, head_ids) as written (None: all)
WRITTEN = {
    ("finetune", "probe/store", 0): ("uint8", "dense", None, None, None),
    ("finetune", "probe/store", 10): ("uint8", "dense", None, None, None),
    ("finetune", "probe/store_f16", 0): ("float16", "dense", None, None, None),
    ("finetune", "probe/store_f32", 0): ("float32", "dense", None, None, None),
    ("finetune", "probe/subset", 0): ("uint8", "dense", None, [1, 3], [0, 2, 5]),
    ("finetune", "probe/top_k", 0): ("uint8", "sparse", {"top_k": 3, "top_mass": None}, None, None),
    ("finetune", "probe/top_mass", 0): ("float16", "sparse", {"top_k": 8, "top_mass": 0.9}, None, None),
    ("finetune", "probe/long", 0): ("uint8", "dense", None, None, None),
    ("seq2seq", "probe/translate", 5): ("uint8", "dense", None, None, None),
}


@pytest.fixture(scope="module")
def expected():
    """{(run, tag, step, kind): {what: array}} as the format-2 writer's read_attention returned."""
    out = {}
    with np.load(DATA / "v2_logdir.expected.npz") as npz:
        for key in npz.files:
            run, tag, step, kind, what = key.split("|")
            out.setdefault((run, tag, int(step), kind), {})[what] = npz[key]
    return out


def assert_bits_equal(actual, wanted):
    actual = np.asarray(actual)
    assert actual.dtype == wanted.dtype and actual.shape == wanted.shape
    np.testing.assert_array_equal(actual.view(np.uint8), wanted.view(np.uint8))


def test_read_attention_returns_what_the_format_2_writer_returned(expected):
    seen = set()
    for rec in tb_attention.read_attention(str(V2)):
        precision, encoding, sparse, layer_ids, head_ids = WRITTEN[rec.run, rec.tag, rec.step]
        for kind in rec.kinds:
            part, want = rec.part(kind), expected[rec.run, rec.tag, rec.step, kind]
            seen.add((rec.run, rec.tag, rec.step, kind))
            assert (part.precision, part.encoding, part.sparse) == (precision, encoding, sparse)
            layers, heads = part.shape[:2]
            assert part.layer_ids == (layer_ids or list(range(layers)))
            assert part.head_ids == (head_ids or list(range(heads)))
            assert_bits_equal(part.attention, want["attention"])
            assert_bits_equal(part.layer(part.shape[0] - 1), want["attention"][-1])
            if encoding == "sparse":
                kept = np.stack([part.kept_mass(i) for i in range(part.shape[0])])
                assert_bits_equal(kept, want["kept"])
                assert np.all(want["kept"] <= 1 + 1e-6) and np.all(want["kept"] > 0.3)
            if "patterns" in want:
                names = [str(n) for n in want["pattern_names"]]
                assert sorted(part.patterns) == names
                assert_bits_equal(np.stack([part.patterns[m] for m in names]), want["patterns"])
    assert seen == set(expected)
    store = next(tb_attention.read_attention(str(V2), tag="probe/store", step=10))
    assert store.sentence_b_start == 8 and store.tokens[:3] == ["[CLS]", "i", "went"] and store.key_tokens is None
    cross = next(tb_attention.read_attention(str(V2), tag="probe/translate", kind="cross"))
    assert cross.kinds == ["encoder", "decoder", "cross"]
    assert cross.key_tokens == ["▁the", "▁pilot", "▁bought", "▁milk", "</s>"] and cross.tokens[1] == "▁le"


def test_served_as_written(expected):
    client = wsgi_client(V2)
    for (run, tag, step, kind), want in expected.items():
        for layer in range(want["attention"].shape[0]):
            served = client_layer(client, run=run, tag=tag, step=step, layer=layer, kind=kind)
            # As the panel reads it: stored value x scale (uint8: the same weights to a float ulp).
            np.testing.assert_allclose(served, want["attention"][layer], rtol=1e-6, atol=0)
        if "thumbnails" in want:
            response = client.get(BASE + "/thumbnails?" + q(run=run, tag=tag, step=step, kind=kind))
            assert_bits_equal(decode_layer_response(response.headers, response.get_data()), want["thumbnails"])


@pytest.mark.slow
@pytest.mark.parametrize("load_fast", LOADERS)
def test_tensorboard_serves_the_format_2_logdir(tensorboard, expected, tmp_path, load_fast):
    logdir = tmp_path / "v2"
    shutil.copytree(V2, logdir)
    tb = tensorboard(logdir, load_fast=load_fast)
    tb.wait_for(lambda: served_steps(tb, "finetune", "probe/store") == [0, 10])
    for run, tag, step in [
        ("finetune", "probe/store", 10),
        ("finetune", "probe/top_mass", 0),
        ("finetune", "probe/long", 0),
    ]:
        want = expected[run, tag, step, "self"]["attention"]
        np.testing.assert_allclose(served_layer(tb, run, tag, step, want.shape[0] - 1), want[-1], rtol=1e-6, atol=0)
    status, headers, body = tb.get(
        BASE + "/layer?" + q(run="seq2seq", tag="probe/translate", step=5, layer=1, kind="cross")
    )
    assert status == 200
    np.testing.assert_allclose(
        decode_layer_response(headers, body),
        expected["seq2seq", "probe/translate", 5, "cross"]["attention"][1],
        rtol=1e-6,
        atol=0,
    )
