"""Head importance in the panel, in headless Chromium against a real `tensorboard` process: the
Patterns view offers it as a metric (grid, chart, table), draws a layers x heads grid per logged
step, lists the head that became important with its step and says what the ablation check found;
the model view marks every head's tile with its importance."""

import numpy as np
import pytest

from tests.helpers.browser import canvas_rgba

pytestmark = pytest.mark.browser

STEPS = (0, 10, 20)
RISING = (3, 5)  # the head that becomes important
TAG = "probe/store"


def _importance(step):
    values = np.full((6, 12), 0.01, dtype=np.float32)
    values += np.random.RandomState(step).rand(6, 12).astype(np.float32) * 1e-3
    values[RISING] = 0.002 + 0.006 * step
    return values


@pytest.fixture(scope="module")
def importance_tb(tmp_path_factory, seed_attention):
    import tb_attention
    from tests.helpers.http import BASE, q, served_steps
    from tests.helpers.tb_process import TensorBoardProcess

    attentions, tokens, sentence_b = seed_attention
    logdir = tmp_path_factory.mktemp("importance_panel")
    for step in STEPS:
        tb_attention.add_attention(logdir / "run", TAG, attentions, tokens, step, sentence_b_start=sentence_b)
        ablation = {"mode": "zero", "k": 1, "base_loss": 0.5, "joint": {"most": 0.75, "least": 0.5}, "heads": []}
        tb_attention.add_importance(logdir / "run", "importance", _importance(step), step, ablation=ablation)
    tb_attention.flush()
    tb = TensorBoardProcess(logdir).start()
    try:
        tb.wait_for(lambda: len(served_steps(tb, "run", TAG)) == 3)
        tb.wait_for(lambda: len(tb.get_json(BASE + "/importance?" + q(run="run"))["steps"]) == 3)
        yield tb
    finally:
        tb.stop()


def _normalized(step):
    values = _importance(step)
    return values / np.linalg.norm(values, axis=1, keepdims=True)


def test_patterns_view_shows_importance_over_steps_and_the_head_that_became_important(panel_factory, importance_tb):
    panel = panel_factory(importance_tb)
    page = panel.open(f"run=run&tag={TAG.replace('/', '%2F')}&step=20&view=patterns&metric=importance")
    assert "importance" in panel.options(".metric-select")
    assert panel.attr(".patterns-view", "data-metric") == "importance"
    title = page.get_attribute(f".pg-cell[data-layer='{RISING[0]}'][data-head='{RISING[1]}']", "title")
    assert f"importance {_normalized(20)[RISING]:.3f}" in title and "important" in title
    # One small grid per logged step; the shown step's is outlined, the ablation check in words.
    assert panel.attr(".importance-box", "data-steps") == "3"
    assert panel.attr(".importance-box", "data-step") == "20"
    assert panel.texts(".importance-step span") == ["0", "10", "20"]
    assert panel.texts(".importance-ablation") == [
        "Eval loss 0.5000; the 1 most important heads zeroed: +0.2500, the 1 least important heads zeroed: +0.0000"
    ]
    # The head that became important, with the step from which it stayed so.
    row = page.locator(".formed-list tbody tr[data-label='important']")
    assert row.count() == 1
    assert (row.get_attribute("data-layer"), row.get_attribute("data-head")) == tuple(map(str, RISING))
    assert row.get_attribute("data-step") == "10"
    # Its importance over the steps in the chart, and a small grid opens its step.
    panel.after(lambda: row.click())
    points = page.eval_on_selector(".pattern-chart polyline", "l => l.getAttribute('data-points')")
    assert points == "3"
    panel.after(lambda: page.click(".importance-step[data-step='0']"))
    assert panel.attr(".importance-box", "data-step") == "0"


def test_model_view_marks_each_tile_with_its_importance(panel_factory, importance_tb):
    panel = panel_factory(importance_tb)
    page = panel.open(f"run=run&tag={TAG.replace('/', '%2F')}&step=10&view=model")
    assert panel.attr(".model-view", "data-importance-step") == "10"
    assert "importance (step 10" in panel.texts(".importance-key")[0]
    rgba, ratio = canvas_rgba(page, ".mv-canvas")
    cell, gap = panel.number(".model-view", "data-cell"), panel.number(".model-view", "data-gap")
    label_w, top = panel.number(".model-view", "data-label-w"), panel.number(".model-view", "data-top")
    normalized = _normalized(10)

    def bar_fill(layer, head):
        """Share of the tile's bottom row drawn in the accent colour (the bar's length)."""
        x0, y = label_w + head * (cell + gap), top + layer * (cell + gap) + cell - 2
        row = rgba[int(y * ratio), int(x0 * ratio) : int((x0 + cell) * ratio), :3].astype(int)
        accent = np.abs(row - np.array([0xF5, 0x7C, 0x00])).sum(1) < 40
        return accent.mean()

    assert bar_fill(*RISING) == pytest.approx(normalized[RISING], abs=0.05)
    other = (RISING[0], 0)
    assert bar_fill(*other) == pytest.approx(normalized[other], abs=0.05)
    assert bar_fill(*RISING) > 3 * bar_fill(*other)
    box = page.locator(".mv-canvas").bounding_box()
    x = box["x"] + label_w + RISING[1] * (cell + gap) + cell / 2
    y = box["y"] + top + RISING[0] * (cell + gap) + cell / 2
    page.mouse.move(x, y)
    assert f"importance {normalized[RISING]:.2f}" in panel.texts(".model-view .hm-readout")[0]
