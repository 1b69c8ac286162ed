"""The model's structure in the panel, in headless Chromium against a real `tensorboard` process:
records of tiny random-init models logged through `tb_attention.capture` (a Llama with 4 query
heads on 2 KV heads, the same with heads 1 and 3 only, a Gemma 2 alternating sliding-window and
global layers, the Gemma 2 stored sparse) and one logged with `add_attention` (no structure).
Heads are grouped by KV head in the head selector and the model view as the record's `kv_heads`
says; windowed layers are marked; hovering a query row reads how much of its stored row the
first key and the window took, as numpy sums them."""

import numpy as np
import pytest

import tb_attention
from tests.helpers.data import softmax_attention
from tests.helpers.tb_process import serving_runs
from tests.helpers.tiny_models import log_captured, tiny_inputs, tiny_model

pytestmark = pytest.mark.browser
TAG = "probe/x"
RUNS = ("llama", "llama-subset", "gemma2", "gemma2-sparse", "plain")


@pytest.fixture(scope="module")
def structure_logs(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("structure")
    log_captured(tiny_model("llama"), tiny_inputs("llama"), logdir / "llama")
    log_captured(tiny_model("llama"), tiny_inputs("llama"), logdir / "llama-subset", heads=[1, 3])
    log_captured(tiny_model("gemma2"), tiny_inputs("gemma2"), logdir / "gemma2", precision="float32")
    log_captured(tiny_model("gemma2"), tiny_inputs("gemma2"), logdir / "gemma2-sparse", top_k=4)
    tokens = ["t%d" % i for i in range(12)]
    tb_attention.add_attention(str(logdir / "plain"), TAG, softmax_attention((2, 4, 12, 12)), tokens, 1)
    tb_attention.flush()
    with serving_runs(logdir, RUNS) as proc:
        yield logdir, proc


@pytest.fixture
def structure_panel(panel_factory, structure_logs):
    return panel_factory(structure_logs[1])


def record(logdir, run):
    (rec,) = tb_attention.read_attention(str(logdir), run=run)
    return rec


def kv_groups(kv_heads):
    """[(kv, [stored heads])] in the order of each group's first head."""
    out = {}
    for h, kv in enumerate(kv_heads):
        out.setdefault(kv, []).append(h)
    return list(out.items())


TOOLBAR_GROUPS = """() => [...document.querySelectorAll('.heads .kv-group')].map((g) => [
    +g.dataset.kv, [...g.querySelectorAll('.head-square')].map((s) => +s.dataset.head)])"""


def model_view(page):
    return page.eval_on_selector(".model-view", "e => ({...e.dataset})")


def check_groups(panel, rec, run):
    """The head selector and the model view of `run` group its heads as `rec.kv_heads` says."""
    model_heads = rec.head_ids
    groups = kv_groups(rec.kv_heads)
    page = panel.open(f"run={run}&tag=probe%2Fx")
    assert [tuple(g) for g in page.evaluate(TOOLBAR_GROUPS)] == [(kv, heads) for kv, heads in groups]
    labels = page.eval_on_selector_all(".heads .kv-group", "gs => gs.map((g) => g.getAttribute('aria-label'))")
    names = [", ".join(str(model_heads[h]) for h in heads) for _, heads in groups]
    assert labels == [f"KV head {kv}: heads {name}" for (kv, _), name in zip(groups, names)]
    # A group's label shows only its heads.
    kv, heads = groups[-1]
    panel.after(lambda: page.click(f".kv-group[data-kv='{kv}'] .kv-label"))
    assert panel.attr(".head-view", "data-heads") == ",".join(map(str, heads))
    # The model view: the same groups, heads of a group side by side, a wider gap between groups.
    panel.after(lambda: page.click(".tab[data-view='model']"))
    d = model_view(page)
    assert d["kvGroups"] == ";".join(f"{g}:{','.join(map(str, hs))}" for g, hs in groups)
    xs = [float(x) for x in d["xs"].split(",")]
    step = int(d["cell"]) + int(d["gap"])
    for _, hs in groups:
        assert [xs[h] - xs[hs[0]] for h in hs] == [i * step for i in range(len(hs))]
    starts = [xs[hs[0]] for _, hs in groups]
    assert all(b - a > len(hs) * step for (a, b), (_, hs) in zip(zip(starts, starts[1:]), groups))
    # Between two groups the canvas holds no cell: the page background.
    y = int(d["top"]) + int(d["cell"]) // 2
    first_end = xs[groups[0][1][-1]] + int(d["cell"])
    assert panel.pixel(".mv-canvas", first_end + 2, y)[:3] == [255, 255, 255]
    # Hovering a cell names its KV head.
    box = page.eval_on_selector(".mv-canvas", "c => { const b = c.getBoundingClientRect(); return [b.x, b.y]; }")
    page.mouse.move(box[0] + xs[heads[0]] + 4, box[1] + y)
    assert f"head {model_heads[heads[0]]} (reads KV head {kv})" in page.inner_text(".model-view .hm-readout")


def test_heads_are_grouped_by_kv_head_in_the_head_selector_and_the_model_view(structure_panel, structure_logs):
    logdir = structure_logs[0]
    llama, subset = record(logdir, "llama"), record(logdir, "llama-subset")
    assert (llama.head_ids, llama.kv_heads) == ([0, 1, 2, 3], [0, 0, 1, 1])
    assert (subset.head_ids, subset.kv_heads) == ([1, 3], [0, 1])
    check_groups(structure_panel, llama, "llama")
    check_groups(structure_panel, subset, "llama-subset")
    # A record without structure: no groups anywhere.
    page = structure_panel.open("run=plain&tag=probe%2Fx")
    assert page.locator(".kv-group").count() == 0 and page.locator(".head-square").count() == 4
    structure_panel.after(lambda: page.click(".tab[data-view='model']"))
    assert model_view(page)["kvGroups"] == ""


def test_windowed_layers_are_marked(structure_panel, structure_logs):
    rec = record(structure_logs[0], "gemma2")
    assert rec.windows == [7, None, 7, None]
    page = structure_panel.open("run=gemma2&tag=probe%2Fx")
    labels = page.eval_on_selector_all(".layer-select option", "os => os.map((o) => o.textContent)")
    assert labels == ["0 \u00b7 window 7", "1", "2 \u00b7 window 7", "3"]
    structure_panel.after(lambda: page.click(".tab[data-view='model']"))
    d = model_view(page)
    assert d["windows"] == "7,,7,"
    box = page.eval_on_selector(".mv-canvas", "c => { const b = c.getBoundingClientRect(); return [b.x, b.y]; }")
    step = int(d["cell"]) + int(d["gap"])
    xs = [float(x) for x in d["xs"].split(",")]
    for layer, says in ((0, "Layer 0 (sliding window of 7 tokens), head 1"), (1, "Layer 1, head 1")):
        page.mouse.move(box[0] + xs[1] + 4, box[1] + int(d["top"]) + layer * step + 4)
        assert page.inner_text(".model-view .hm-readout").startswith(says)
    # The layer labels' column is wider and holds the window under the layer's number.
    assert int(d["labelW"]) > 34
    plain = structure_panel.open("run=llama&tag=probe%2Fx")
    assert plain.eval_on_selector_all(".layer-select option", "os => os.map((o) => o.textContent)") == ["0", "1"]


def hover_row(panel, page, q):
    page.hover(f".hv-left .tok[data-index='{q}']")
    page.wait_for_function("q => document.querySelector('.head-view').dataset.hover === 'left:' + q", arg=q)
    d = page.eval_on_selector(".head-view", "e => ({...e.dataset})")
    return float(d["hoverSink"]), d["hoverWindow"], page.inner_text(".hover-details")


@pytest.mark.parametrize("run", ["gemma2", "gemma2-sparse"])
def test_a_rows_hover_reads_the_sink_and_window_shares_of_its_stored_row(structure_panel, structure_logs, run):
    rec = record(structure_logs[0], run)
    q = 20
    for layer, heads in ((0, [0, 1, 2, 3]), (1, [0, 1, 2, 3]), (1, [2])):
        a = rec.layer(layer)[heads, q].astype(np.float64)  # the stored rows (a sparse row: its kept keys)
        page = structure_panel.open(f"run={run}&tag=probe%2Fx&layer={layer}&heads={','.join(map(str, heads))}")
        sink, window, text = hover_row(structure_panel, page, q)
        expected_sink = a[:, 0].mean()
        expected_window = a[:, q - 6 : q + 1].sum(axis=1).mean()  # the 7 keys a window of 7 ends with
        assert sink == pytest.approx(expected_sink, rel=1e-6, abs=1e-9)
        assert float(window) == pytest.approx(expected_window, rel=1e-6)
        assert f"of the stored row, key 0 (the sink) took {expected_sink:.3f}" in text
        if layer == 0:  # a windowed layer: its own window, which holds (nearly) all of a dense row
            assert f"its window 7 {expected_window:.3f}" in text
        else:  # a global layer: how much of its row a windowed layer would see
            assert f"the last 7 keys (the model's window) {expected_window:.3f}" in text
            assert expected_window < 0.9
        assert text.endswith("(of the weight it kept)") == (run == "gemma2-sparse")
    if run == "gemma2-sparse":
        assert rec.encoding == "sparse"
