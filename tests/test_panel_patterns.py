"""The Patterns view in headless Chromium against a real `tensorboard` process: the head-pattern
table, the layers x heads grid, the metric over steps, opening a head; the LLM metrics, the heads
that formed, several heads plotted at once and the same heads in a second run."""

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
    li, h = np.unravel_index(np.nanargmax(prev), prev.shape)
    first = page.locator(".patterns-table tbody tr").first
    assert (first.get_attribute("data-layer"), first.get_attribute("data-head")) == (str(li), str(h))
    labels = label_heads({k: v for k, v in r.patterns.items()})
    panel.after(lambda: page.select_option(".label-filter", "previous_token"))
    assert page.locator(".patterns-table tbody tr").count() == int((labels == "previous_token").sum()) >= 1
    # The chart follows the chosen head over the three logged steps.
    panel.after(lambda: first.click())
    assert page.get_attribute(".pattern-chart-box", "data-points") == "3"
    panel.after(lambda: page.click(f".pg-cell[data-layer='{li}'][data-head='{h}']"))
    assert panel.attr(".head-view", "data-layer") == str(li)
    assert panel.attr(".head-view", "data-heads") == str(h)


# --------------------------------------------------------------------------- heads forming


@pytest.fixture(scope="module")
def forming_tb(tmp_path_factory):
    """A TensorBoard over tests/helpers/forming_logs.py: two runs where heads form."""
    from tests.helpers.forming_logs import RUNS, STEPS, TAG, write_forming_logs
    from tests.helpers.http import served_steps
    from tests.helpers.tb_process import TensorBoardProcess

    logdir = tmp_path_factory.mktemp("forming")
    write_forming_logs(logdir)
    tb = TensorBoardProcess(logdir).start()
    try:
        tb.wait_for(lambda: all(len(served_steps(tb, run, TAG)) == len(STEPS) for run in RUNS))
        yield tb, logdir
    finally:
        tb.stop()


def test_patterns_view_lists_formed_heads_and_plots_them_in_two_runs(panel_factory, forming_tb):
    from tb_attention import formed_heads, read_attention
    from tb_attention.analysis.scoring import METRICS
    from tests.helpers.forming_logs import STEPS, TAG

    tb, logdir = forming_tb
    panel = panel_factory(tb)
    page = panel.open("run=lr-fast&tag=probe%2Finduction&step=40&view=patterns")
    # Every metric the server names, the LLM ones included, in the select and the table.
    assert panel.options(".metric-select") == list(METRICS)
    headers = panel.texts(".patterns-table thead button.sort")
    assert any(h.startswith("induction") for h in headers) and any(h.startswith("sink") for h in headers)

    records = list(read_attention(str(logdir), run="lr-fast", tag=TAG))
    expected = formed_heads([r.step for r in records], [r.patterns for r in records])["formed"]
    rows = page.locator(".formed-list tbody tr[data-change='formed']")
    shown = [
        (
            rows.nth(i).get_attribute("data-label"),
            rows.nth(i).get_attribute("data-layer"),
            rows.nth(i).get_attribute("data-head"),
            rows.nth(i).get_attribute("data-step"),
        )
        for i in range(rows.count())
    ]
    assert shown == [(e["label"], str(e["layer"]), str(e["head"]), str(e["step"])) for e in expected]
    assert ("previous_token", "0", "1", "20") in shown and ("induction", "1", "0", "20") in shown

    # Plot every formed head at once: one line per head, each over all five steps.
    panel.after(lambda: page.click("button.plot-formed"))
    heads = {int(e["layer"]) * 2 + int(e["head"]) for e in expected}
    assert page.locator(".pattern-chart polyline.series").count() == len(heads)
    assert set(panel.attr(".pattern-chart-box", "data-heads").split(",")) == {str(h) for h in heads}
    assert panel.attr(".pattern-chart-box", "data-points") == str(len(STEPS))
    assert page.locator(".pattern-chart line.threshold").count() == 1  # the label's threshold

    # The same heads in the slower run, dashed, from that run's own scores.
    panel.after(lambda: page.select_option(".run-b-select", "lr-slow"))
    dashed = page.locator(".pattern-chart polyline.series[data-run='lr-slow']")
    assert dashed.count() == len(heads) and dashed.first.get_attribute("stroke-dasharray")
    assert int(panel.attr(".pattern-chart-box", "data-series")) == 2 * len(heads)

    # Ticking a head in the table adds it to the chart; unticking removes it.
    box = page.locator(".patterns-table tbody tr[data-layer='1'][data-head='1'] input.plot-head")
    panel.after(lambda: box.check())
    assert "3" in panel.attr(".pattern-chart-box", "data-heads").split(",")
    panel.after(
        lambda: page.locator(".patterns-table tbody tr[data-layer='1'][data-head='1'] input.plot-head").uncheck()
    )
    assert "3" not in panel.attr(".pattern-chart-box", "data-heads").split(",")
