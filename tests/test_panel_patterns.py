"""The Patterns view in headless Chromium against a real `tensorboard` process: the head-pattern
table, the layers x heads grid, the metric over steps, opening a head; the LLM metrics, the heads
that formed, several heads plotted at once and the same heads in a second run."""

import numpy as np
import pytest

from tests.conftest import seed_record

pytestmark = pytest.mark.browser

LINES = """() => [...document.querySelectorAll('.pattern-chart polyline')].map((line) => {
    // Each line as drawn (its points, transformed to the page) with the legend text drawn after it.
    let legend = line.nextElementSibling;
    while (legend && legend.tagName !== 'text') legend = legend.nextElementSibling;
    const m = line.getScreenCTM();
    const points = Array.from(line.points).map((p) => [m.a * p.x + m.c * p.y + m.e, m.b * p.x + m.d * p.y + m.f]);
    return { legend: legend.textContent, dashed: Boolean(line.getAttribute('stroke-dasharray')), points };
})"""
THRESHOLD = """() => { const l = document.querySelector('.pattern-chart line.threshold');
    const m = l.getScreenCTM(); return [m.b * l.x1.baseVal.value + m.d * l.y1.baseVal.value + m.f,
                                        m.b * l.x2.baseVal.value + m.d * l.y2.baseVal.value + m.f]; }"""


def assert_chart_draws(page, series, threshold):
    """The chart's lines draw `series` ({legend: [(step, score)]}, scores from the records, numpy):
    one line per legend, through one point per step, every point (and the threshold's line) on one
    linear map of step to x and of score to y (higher scores higher up), to the 0.1 px it is drawn at."""
    lines = {line["legend"]: line for line in page.evaluate(LINES)}
    assert sorted(lines) == sorted(series)
    steps, scores, xs, ys = [], [], [], []
    for name, points in series.items():
        drawn = np.array(lines[name]["points"])
        assert drawn.shape == (len(points), 2), name
        steps += [p[0] for p in points]
        scores += [p[1] for p in points]
        xs += list(drawn[:, 0])
        ys += list(drawn[:, 1])
    y1, y2 = page.evaluate(THRESHOLD)
    assert abs(y1 - y2) < 1e-6  # level
    scores.append(threshold)
    ys.append(y1)
    for known, seen in ((steps, xs), (scores, ys)):
        fit = np.polyfit(known, seen, 1)
        residual = np.abs(np.polyval(fit, known) - np.asarray(seen)).max()
        assert residual <= 0.15, (known, seen, residual)
    assert np.polyfit(steps, xs, 1)[0] > 0 and np.polyfit(scores, ys, 1)[0] < 0  # later right, higher up
    return lines


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
    # The chart follows the chosen head's score over the three logged steps.
    panel.after(lambda: first.click())
    records = [seed_record(seed_logs, step=s) for s in (0, 100, 200)]
    assert_chart_draws(
        page, {f"L{li} H{h}": [(x.step, float(x.patterns["previous_token"][li, h])) for x in records]}, 0.5
    )
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


def formed_rows(page):
    """(label, layer, head, step) of every row of the formed-heads list that says a head formed, top
    to bottom, as the page's attributes give them (strings)."""
    rows = page.locator(".formed-list tbody tr[data-change='formed']")
    return [
        (
            rows.nth(i).get_attribute("data-label"),
            rows.nth(i).get_attribute("data-layer"),
            rows.nth(i).get_attribute("data-head"),
            rows.nth(i).get_attribute("data-step"),
        )
        for i in range(rows.count())
    ]


def metric_series(recs, chosen, metric, suffix=""):
    """{legend: [(step, score)]} of `metric` for each (layer, head) of `chosen` over the records
    `recs` of one run of the forming logs, legends suffixed with `suffix`."""
    from tests.helpers.forming_logs import STEPS

    assert [x.step for x in recs] == list(STEPS)  # every line runs over all five steps
    return {
        f"L{layer} H{head}{suffix}": [(x.step, float(x.patterns[metric][layer, head])) for x in recs]
        for layer, head in chosen
    }


def test_patterns_view_lists_formed_heads_and_plots_them_in_two_runs(panel_factory, forming_tb):
    from tb_attention import formed_heads, read_attention
    from tb_attention.analysis.labels import DEFAULT_THRESHOLDS
    from tb_attention.analysis.scoring import METRICS
    from tests.helpers.forming_logs import TAG

    tb, logdir = forming_tb
    panel = panel_factory(tb)
    page = panel.open("run=lr-fast&tag=probe%2Finduction&step=40&view=patterns")
    # Every metric the server names, the LLM ones included, in the select and the table.
    assert panel.options(".metric-select") == list(METRICS)
    headers = panel.texts(".patterns-table thead button.sort")
    assert any(h.startswith("induction") for h in headers) and any(h.startswith("sink") for h in headers)

    records = list(read_attention(str(logdir), run="lr-fast", tag=TAG))
    expected = formed_heads([r.step for r in records], [r.patterns for r in records])["formed"]
    shown = formed_rows(page)
    assert shown == [(e["label"], str(e["layer"]), str(e["head"]), str(e["step"])) for e in expected]
    assert ("previous_token", "0", "1", "20") in shown and ("induction", "1", "0", "20") in shown

    # Plot every formed head at once: one line per head, each over all five steps, with the
    # threshold of the label the first formed head got.
    panel.after(lambda: page.click("button.plot-formed"))
    heads = sorted({(int(e["layer"]), int(e["head"])) for e in expected})
    metric = expected[0]["metric"]
    threshold = DEFAULT_THRESHOLDS[expected[0]["label"]][1]
    slow = list(read_attention(str(logdir), run="lr-slow", tag=TAG))

    assert page.locator(".pattern-chart line.threshold").count() == 1  # the label's threshold
    lines = assert_chart_draws(page, metric_series(records, heads, metric), threshold)
    assert not any(line["dashed"] for line in lines.values())

    # The same heads in the slower run, dashed, from that run's own scores, on the same axes.
    panel.after(lambda: page.select_option(".run-b-select", "lr-slow"))
    lines = assert_chart_draws(
        page,
        {**metric_series(records, heads, metric, " lr-fast"), **metric_series(slow, heads, metric, " lr-slow")},
        threshold,
    )
    assert all(line["dashed"] == name.endswith("lr-slow") for name, line in lines.items())

    # Ticking a head in the table adds it to the chart; unticking removes it.
    assert (1, 1) not in heads
    box = page.locator(".patterns-table tbody tr[data-layer='1'][data-head='1'] input.plot-head")
    panel.after(lambda: box.check())
    both = sorted(set(heads) | {(1, 1)})
    assert_chart_draws(
        page,
        {**metric_series(records, both, metric, " lr-fast"), **metric_series(slow, both, metric, " lr-slow")},
        threshold,
    )
    panel.after(
        lambda: page.locator(".patterns-table tbody tr[data-layer='1'][data-head='1'] input.plot-head").uncheck()
    )
    assert "L1 H1 lr-fast" not in {line["legend"] for line in page.evaluate(LINES)}
