"""The Patterns view in headless Chromium against a real `tensorboard` process, on a set of
examples and on grouped-query attention (tests/helpers/example_logs.py): each chosen head's
confidence interval drawn as a band around its mean over the steps, where the server puts it;
labels saying how many examples back them; scores and formed heads grouped by KV head."""

import numpy as np
import pytest

from tests.helpers.example_logs import EXAMPLES, RUN, STEPS

pytestmark = pytest.mark.browser
TAG = "probe%2Fexamples"

# Each line's points and each band's outline as drawn, in page pixels.
GEOMETRY = """() => {
    const page = (el, xs) => { const m = el.getScreenCTM();
        return xs.map(([x, y]) => [m.a * x + m.c * y + m.e, m.b * x + m.d * y + m.f]); };
    const pairs = (text) => { const n = text.match(/-?\\d+(\\.\\d+)?/g).map(Number), out = [];
        for (let i = 0; i < n.length; i += 2) out.push([n[i], n[i + 1]]); return out; };
    const lines = {}, bands = {};
    for (const l of document.querySelectorAll('.pattern-chart polyline'))
        lines[l.dataset.head] = page(l, Array.from(l.points).map((p) => [p.x, p.y]));
    for (const b of document.querySelectorAll('.pattern-chart path.band'))
        bands[b.dataset.head] = page(b, pairs(b.getAttribute('d')));
    return {lines, bands};
}"""


@pytest.fixture(scope="module")
def examples_tb(tmp_path_factory):
    from tests.helpers.example_logs import write_example_logs
    from tests.helpers.http import served_steps
    from tests.helpers.tb_process import TensorBoardProcess

    logdir = tmp_path_factory.mktemp("examples_panel")
    write_example_logs(logdir)
    tb = TensorBoardProcess(logdir).start()
    try:
        tb.wait_for(lambda: len(served_steps(tb, RUN, "probe/examples")) == len(STEPS))
        yield tb, logdir
    finally:
        tb.stop()


def test_the_chart_draws_each_heads_interval_as_a_band(panel_factory, examples_tb):
    from tb_attention import read_attention

    tb, logdir = examples_tb
    panel = panel_factory(tb)
    page = panel.open(f"run={RUN}&tag={TAG}&step=2&view=patterns&metric=entropy&picks=0,2,7")
    records = list(read_attention(str(logdir), run=RUN, tag="probe/examples"))
    drawn = page.evaluate(GEOMETRY)
    heads = {0: (0, 0), 2: (0, 2), 7: (1, 3)}
    assert sorted(drawn["bands"]) == sorted(drawn["lines"]) == sorted(str(h) for h in heads)
    # One linear map of step to x and of score to y, fitted on the lines' points (the means) ...
    steps, means, xs, ys = [], [], [], []
    for flat, (layer, head) in heads.items():
        points = np.array(drawn["lines"][str(flat)])
        assert points.shape == (len(STEPS), 2)
        steps += [r.step for r in records]
        means += [float(r.patterns["entropy"][layer, head]) for r in records]
        xs += list(points[:, 0])
        ys += list(points[:, 1])
    fx, fy = np.polyfit(steps, xs, 1), np.polyfit(means, ys, 1)
    assert np.abs(np.polyval(fy, means) - ys).max() < 0.15 and fy[0] < 0  # higher scores higher up
    # ... puts each band's upper edge at mean + half width and its lower edge at mean - half width.
    widths = []
    for flat, (layer, head) in heads.items():
        outline = np.array(drawn["bands"][str(flat)])
        assert outline.shape == (2 * len(STEPS), 2)
        upper, lower = outline[: len(STEPS)], outline[len(STEPS) :][::-1]
        for r, top, bottom in zip(records, upper, lower):
            mean = float(r.patterns["entropy"][layer, head])
            half = float(r.example_scores["half"]["entropy"][layer, head])
            assert abs(top[0] - np.polyval(fx, r.step)) < 0.15 and abs(bottom[0] - top[0]) < 0.01
            assert abs(top[1] - np.polyval(fy, mean + half)) < 0.2, (flat, r.step)
            assert abs(bottom[1] - np.polyval(fy, mean - half)) < 0.2, (flat, r.step)
            widths.append(bottom[1] - top[1])
    assert min(widths) >= 0 and np.median(widths) > 2  # bands several pixels wide
    caption = page.locator(".pattern-chart-box figcaption").text_content()
    assert "95 % interval over the examples" in caption


def test_labels_say_how_many_examples_back_them(panel_factory, examples_tb):
    from tb_attention import read_attention

    tb, logdir = examples_tb
    panel = panel_factory(tb)
    page = panel.open(f"run={RUN}&tag={TAG}&step=2&view=patterns&metric=self")
    record = list(read_attention(str(logdir), run=RUN, tag="probe/examples"))[-1]
    headers = panel.texts(".patterns-table thead button.sort")
    assert any(h.startswith(f"labels (mean of {EXAMPLES} examples)") for h in headers)
    assert panel.attr(".patterns-table + .bar-label", "data-examples") == str(EXAMPLES)
    assert f"scores and labels: mean of {EXAMPLES} examples" in panel.texts(".patterns-table + .bar-label")[0]
    row = page.locator(".patterns-table tbody tr[data-layer='0'][data-head='1']")
    assert row.locator("td.labels").get_attribute("title") == f"labels of the mean of {EXAMPLES} examples"
    assert "self" in row.locator("td.labels").text_content()  # the mean made it a self head
    column = 3 + panel.options(".metric-select").index("self")
    title = row.locator("td").nth(column).get_attribute("title")
    mean = float(record.patterns["self"][0, 1])
    half = float(record.example_scores["half"]["self"][0, 1])
    assert title.startswith(f"mean of {EXAMPLES} examples; 95 % interval ")
    low, high = (float(v) for v in title.split("interval ")[1].split(" to "))
    assert abs(low - (mean - half)) < 1.5e-3 and abs(high - (mean + half)) < 1.5e-3 and half > 0.01
    assert f"mean of {EXAMPLES} examples" in page.locator(".pattern-grid-box figcaption").text_content()
    # A probe's record is one example: no such words.
    page = panel.open(f"run={RUN}&tag=probe%2Fids&step=2&view=patterns")
    assert "examples" not in " ".join(panel.texts(".patterns-table thead button.sort"))
    assert panel.attr(".patterns-table + .bar-label", "data-examples") == ""


def test_scores_and_formed_heads_grouped_by_kv_head(panel_factory, examples_tb):
    from tb_attention import formed_heads, read_attention
    from tb_attention.analysis.groups import group_scores

    tb, logdir = examples_tb
    panel = panel_factory(tb)
    page = panel.open(f"run={RUN}&tag=probe%2Fids&step=2&view=patterns&metric=self")
    assert page.locator(".patterns-table tbody tr").count() == 8  # heads, until grouped
    panel.after(lambda: page.check("input.group-kv"))
    rows = page.locator(".groups-table tbody tr")
    assert rows.count() == 4  # 2 layers x 2 KV heads
    records = list(read_attention(str(logdir), run=RUN, tag="probe/ids"))
    expected = group_scores(records[-1].patterns, records[-1].kv_heads)["self"]
    column = 3 + panel.options(".metric-select").index("self")
    for i in range(4):
        row = rows.nth(i)
        layer, kv = int(row.get_attribute("data-layer")), int(row.get_attribute("data-kv"))
        assert row.get_attribute("data-heads") == ("0,1" if kv == 0 else "2,3")
        assert float(row.locator("td").nth(column).text_content()) == pytest.approx(expected[layer, kv], abs=6e-4)
    group = page.locator(".groups-table tbody tr[data-layer='0'][data-kv='0']")
    assert "self" in group.locator("td.labels").text_content()
    # The formed heads come by layer and KV head, under a heading each, with their KV head.
    found = formed_heads([r.step for r in records], [r.patterns for r in records])["formed"]
    shown = page.locator(".formed-list tbody tr[data-change='formed']")
    kvs = [
        (int(shown.nth(i).get_attribute("data-head")), shown.nth(i).get_attribute("data-kv"))
        for i in range(shown.count())
    ]
    assert shown.count() == len(found) and all(kv == str(head // 2) for head, kv in kvs)
    headings = panel.texts(".formed-list tr.group-row")
    assert "L0 KV0" in headings and len(headings) == len({(e["layer"], e["head"] // 2) for e in found})
    # A click on a group plots its query heads; the switch survives in the URL.
    panel.after(lambda: group.click())
    assert panel.attr(".pattern-chart-box", "data-heads") == "0,1"
    assert "group=kv" in page.url
