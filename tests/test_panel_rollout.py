"""The Rollout view in headless Chromium against a real `tensorboard` process: the token-to-token
rollout map of the stored record, the relevance of each input token for a chosen position (by
rollout and by flow) at the step and over every logged step."""

import numpy as np
import pytest

import tb_attention
from tb_attention.analysis.flow import attention_flow
from tests.conftest import seed_record
from tests.helpers.browser import cell_colour, hover_cell, scale_colour, svg_boxes

pytestmark = pytest.mark.browser


def drawn_bars(page):
    """The relevance bars as drawn, top to bottom: (each bar's length over the longest one, the
    value printed beside it)."""
    boxes = svg_boxes(page, ".relevance-svg rect.bar")
    order = np.argsort(boxes[:, 1], kind="stable")
    assert (order == np.arange(len(order))).all()  # one bar per token, in token order down the figure
    texts = page.eval_on_selector_all(".relevance-svg text", "els => els.map((e) => e.textContent)")
    assert len(texts) == 2 * len(boxes)  # per row: the token, then the value
    return boxes[:, 2] / boxes[:, 2].max(), [float(t) for t in texts[1::2]]


def assert_bars(page, expected):
    """The bars draw `expected` (numpy): lengths in proportion (to 0.1 px of 150) and each value
    printed to three decimals."""
    lengths, printed = drawn_bars(page)
    np.testing.assert_allclose(lengths, expected / expected.max(), atol=1e-3)
    np.testing.assert_allclose(printed, expected, atol=5e-4 + 2e-6)


def test_rollout_view_draws_the_records_rollout_and_relevance(panel, seed_logs):
    r = seed_record(seed_logs, step=200)
    expected = tb_attention.attention_rollout(r.attention)  # of the stored (uint8) weights, as served
    page = panel.open("run=finetune&step=200&view=rollout&layer=5")
    assert panel.attr(".rollout-view", "data-layer") == "5" and panel.attr(".rollout-view", "data-causal") == "false"
    assert panel.attr(".rollout-view", "data-query") == "0"  # [CLS] by default for an encoder
    # The map is the rollout up to layer 5: hover reads the exact value, the colour is its own.
    value, text = hover_cell(page, ".rollout-map", 3, 0)
    assert value == pytest.approx(expected[5, 3, 0], abs=1e-6)
    assert "\u201cto\u201d (3)" in text and "\u201c[CLS]\u201d (0)" in text
    hi = float(panel.attr(".rollout-map", "data-hi"))
    assert hi == pytest.approx(expected[5].max(), abs=1e-6)
    pixel = cell_colour(page, ".rollout-map", 3, 0)
    assert "rgb(%d,%d,%d)" % tuple(pixel[:3]) == scale_colour(page, float(expected[5, 3, 0]), lo=0, hi=hi)
    # Bars: position 0's relevance at this step; the map below: over the three logged steps.
    assert page.locator(".relevance-svg rect.bar").count() == len(r.tokens)
    assert_bars(page, expected[5, 0])
    assert panel.attr(".relevance-steps", "data-steps") == "3"

    # Clicking a row of the map picks that position.
    box = page.eval_on_selector(
        ".rollout-map .hm-overlay", "c => { const b = c.getBoundingClientRect(); return [b.x, b.y]; }"
    )
    cell, left, top = (float(panel.attr(".rollout-map", n)) for n in ("data-cell", "data-left", "data-top"))
    panel.after(lambda: page.mouse.click(box[0] + left + 2.5 * cell, box[1] + top + 6.5 * cell))
    assert panel.attr(".rollout-view", "data-query") == "6"
    assert_bars(page, expected[5, 6])

    # Attention flow instead of rollout, for the same position and layer.
    panel.after(lambda: page.select_option(".rollout-method", "flow"))
    assert_bars(page, attention_flow(r.attention, layer=5, queries=[6])[0])
    # The layer select re-draws the rollout up to another layer.
    panel.after(lambda: page.select_option(".rollout-layer", "1"))
    value, _ = hover_cell(page, ".rollout-map", 2, 2)
    assert value == pytest.approx(expected[1, 2, 2], abs=1e-6)


def test_rollout_view_says_why_cross_attention_has_none(panel_factory, tensorboard, tmp_path):
    from tests.helpers.data import softmax_attention, tokens_for
    from tests.helpers.http import served_steps

    tb_attention.add_attention(
        str(tmp_path / "mt"),
        "cross",
        softmax_attention((2, 2, 4, 6), seed=2),
        tokens_for(4),
        0,
        key_tokens=tokens_for(6),
    )
    tb_attention.flush()
    tb = tensorboard(tmp_path)
    tb.wait_for(lambda: served_steps(tb, "mt", "cross") == [0])
    panel = panel_factory(tb)
    page = panel.open("run=mt&tag=cross&view=rollout")
    assert "self-attention" in page.inner_text(".rollout-view .message.error")


def test_reload_refetches_rollout_relevance_and_patterns(panel_factory, tensorboard, tmp_path):
    """Reload drops what the rollout and patterns views fetched: a step logged since shows up in
    the relevance over steps and the patterns chart, and the shown rollout is asked for again."""
    from tests.helpers.eventfiles import write_steps
    from tests.helpers.http import served_steps

    write_steps(tmp_path / "r1", "p", [0, 1])
    tb = tensorboard(tmp_path)
    tb.wait_for(lambda: served_steps(tb, "r1", "p") == [0, 1])
    panel = panel_factory(tb)
    asked = []
    panel.page.on("request", lambda r: asked.append(r.url.split("/tb_attention/")[-1].split("?")[0]))
    page = panel.open("run=r1&tag=p&step=1&view=patterns")
    assert panel.attr(".pattern-chart-box", "data-points") == "2"
    panel.after(lambda: page.click(".tab[data-view='rollout']"))
    assert panel.attr(".relevance-steps", "data-steps") == "2"
    # Back and forth between the views reads the caches: nothing is asked again.
    panel.after(lambda: page.click(".tab[data-view='patterns']"))
    panel.after(lambda: page.click(".tab[data-view='rollout']"))
    assert (asked.count("rollout"), asked.count("relevance"), asked.count("patterns")) == (1, 1, 1)

    write_steps(tmp_path / "r1", "p", [2])
    tb.wait_for(lambda: served_steps(tb, "r1", "p") == [0, 1, 2])
    panel.after(lambda: page.click("button.refresh"))
    assert panel.attr(".relevance-steps", "data-steps") == "3"
    assert page.inner_text(".step-label") == "step 1 \u00b7 2/3"  # the shown step stays
    assert (asked.count("rollout"), asked.count("relevance")) == (2, 2)
    panel.after(lambda: page.click(".tab[data-view='patterns']"))
    assert panel.attr(".pattern-chart-box", "data-points") == "3"
    assert (asked.count("patterns"), asked.count("formed")) == (2, 2)
