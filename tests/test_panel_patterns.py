"""The Patterns view in headless Chromium against a real `tensorboard` process: the head-pattern
table, the layers x heads grid, the metric over steps, opening a head."""

import numpy as np
import pytest

from tests.conftest import seed_record

pytestmark = pytest.mark.browser


def test_patterns_view_table_grid_chart_and_open(panel, seed_logs):
    from tb_attention.analysis.labels import label_heads

    r = seed_record(seed_logs, step=200)
    if r.patterns is None:
        pytest.fail("the seed records were logged without pattern scores")
    page = panel.open("run=finetune&step=200&view=patterns")
    assert page.locator(".patterns-table tbody tr").count() == 72
    assert page.locator(".pg-cell").count() == 72
    panel.after(lambda: page.click("button.sort[data-sort='previous_token']"))
    prev = r.patterns["previous_token"]
    l, h = np.unravel_index(np.nanargmax(prev), prev.shape)
    first = page.locator(".patterns-table tbody tr").first
    assert (first.get_attribute("data-layer"), first.get_attribute("data-head")) == (str(l), str(h))
    labels = label_heads({k: v for k, v in r.patterns.items()})
    panel.after(lambda: page.select_option(".label-filter", "previous_token"))
    assert page.locator(".patterns-table tbody tr").count() == int((labels == "previous_token").sum()) >= 1
    # The chart follows the chosen head over the three logged steps.
    panel.after(lambda: first.click())
    assert page.get_attribute(".pattern-chart-box", "data-points") == "3"
    panel.after(lambda: page.click(f".pg-cell[data-layer='{l}'][data-head='{h}']"))
    assert panel.attr(".head-view", "data-layer") == str(l)
    assert panel.attr(".head-view", "data-heads") == str(h)
