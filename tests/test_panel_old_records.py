"""Records written by earlier versions in the panel (headless Chromium, a real `tensorboard`
process): the format-1 logdir of tb-attention 0.1 and the format-2 one (`tests/data`, with what
their writers' `read_attention` returned) draw in the head view as they did, with the hover's
sink share read from their stored rows and no structure (KV groups, windows) they do not hold;
their sparse, cross-attention and head-subset records too; the model view draws every layer."""

import pathlib
import shutil

import numpy as np
import pytest

from tests.helpers.tb_process import serving_runs

pytestmark = pytest.mark.browser
DATA = pathlib.Path(__file__).resolve().parent / "data"


def expected_v1():
    with np.load(DATA / "v1_logdir.expected.npz") as npz:
        return {tuple(key.split("|")[:2]) + (int(key.split("|")[2]), None): npz[key] for key in npz.files}


def expected_v2():
    out = {}
    with np.load(DATA / "v2_logdir.expected.npz") as npz:
        for key in npz.files:
            run, tag, step, kind, what = key.split("|")
            if what == "attention":
                out[run, tag, int(step), kind] = npz[key]
    return out


@pytest.fixture(scope="module", params=["v1", "v2"])
def old_logs(request, tmp_path_factory):
    """(expected {(run, tag, step, kind): attention}, TensorBoard) of one fixture logdir."""
    logdir = tmp_path_factory.mktemp(request.param) / "logs"
    shutil.copytree(DATA / f"{request.param}_logdir", logdir)
    expected = expected_v1() if request.param == "v1" else expected_v2()
    with serving_runs(logdir, {run for run, *_ in expected}) as proc:
        yield expected, proc


@pytest.fixture
def old_panel(panel_factory, old_logs):
    return panel_factory(old_logs[1])


def fragment(run, tag, step, kind, **more):
    parts = {"run": run, "tag": tag.replace("/", "%2F"), "step": step, **more}
    if kind:
        parts["kind"] = kind
    return "&".join(f"{k}={v}" for k, v in parts.items())


def test_old_records_draw_in_the_head_view_and_read_their_rows(old_panel, old_logs):
    expected, _ = old_logs
    for (run, tag, step, kind), a in expected.items():
        page = old_panel.open(fragment(run, tag, step, kind, layer=a.shape[0] - 1))
        layer = a[-1]
        threshold = float(page.get_attribute(".head-view", "data-line-threshold"))
        assert int(page.get_attribute(".head-view", "data-lines")) == int((layer >= np.float32(threshold)).sum())
        assert page.locator(".kv-group").count() == 0
        assert "window" not in " ".join(old_panel.options(".layer-select"))
        q = layer.shape[1] - 1
        page.hover(f".hv-left .tok[data-index='{q}']")
        page.wait_for_function("q => document.querySelector('.head-view').dataset.hover === 'left:' + q", arg=q)
        sink = page.get_attribute(".head-view", "data-hover-sink")
        if kind == "cross" or tag == "probe/cross":  # keys are the other sequence's tokens: no sink share
            assert sink == ""
        else:
            assert float(sink) == pytest.approx(layer[:, q, 0].astype(np.float64).mean(), rel=1e-6, abs=1e-9)
            assert page.get_attribute(".head-view", "data-hover-window") == ""  # no window recorded
        assert page.get_attribute(".head-view", "data-framed") == "0"


def test_old_records_draw_in_the_model_view(old_panel, old_logs):
    expected, _ = old_logs
    (run, tag, step, kind), a = next(iter(expected.items()))
    page = old_panel.open(fragment(run, tag, step, kind, view="model"))
    d = page.eval_on_selector(".model-view", "e => ({...e.dataset})")
    assert int(d["layersDrawn"]) == a.shape[0] and int(d["cells"]) == a.shape[0] * a.shape[1]
    assert d["kvGroups"] == "" and set(d["windows"].split(",")) == {""}
