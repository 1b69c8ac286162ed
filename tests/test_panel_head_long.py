"""The head view on a long record, in headless Chromium against a real `tensorboard` process: 4096
tokens of synthetic attention logged with `add_attention` (head 0: the first token, the query's
half-way position and itself; head 1: the previous token and itself), so every row attends far
back. The columns hold only the rows on screen however far the list scrolls, find-a-token and
#position reach any token (the last one too), lines to keys scrolled away end at the frame's edge
where a mark counts them, and the strip of every key ticks where they go."""

import xml.etree.ElementTree as ET

import numpy as np
import pytest

import tb_attention
from tests.helpers.tb_process import serving_runs

pytestmark = pytest.mark.browser
N = 4096
NEEDLE = 3000


def attention(n):
    """[1 layer, 2 heads, n, n] float32, rows summing to 1 (weights on coinciding keys add up)."""
    a = np.zeros((1, 2, n, n), np.float32)
    q = np.arange(n)
    for head, keys, weights in ((0, (0 * q, q // 2, q), (0.5, 0.3, 0.2)), (1, (np.maximum(q - 1, 0), q), (0.6, 0.4))):
        for k, w in zip(keys, weights):
            np.add.at(a[0, head], (q, k), w)
    return a


def tokens(n):
    out = ["w%d" % i for i in range(n)]
    for i in range(0, n, 100):
        out[i] = "the"
    out[NEEDLE], out[-1] = "needle", "finale"
    return out


def faint(a, seed=0):
    """`a` with 12 faint weights (0.004) on earlier keys of every row: a sparse record of it keeps
    each row's strongest keys and drops some of those."""
    rng = np.random.default_rng(seed)
    out = a * np.float32(0.95)
    q = np.arange(a.shape[2])
    for head in range(a.shape[1]):
        for _ in range(12):
            np.add.at(out[0, head], (q, (rng.random(q.size) * (q + 1)).astype(int)), np.float32(0.004))
    return out


@pytest.fixture(scope="module")
def long_tb(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("head_long")
    tb_attention.add_attention(str(logdir / "long"), "p", attention(N), tokens(N), 0)
    tb_attention.add_attention(str(logdir / "sparse"), "p", faint(attention(N)), tokens(N), 0, top_k=8)
    tb_attention.flush()
    with serving_runs(logdir, ["long", "sparse"]) as proc:
        yield logdir, proc


@pytest.fixture
def head_panel(panel_factory, long_tb):
    return panel_factory(long_tb[1])


BUILT = """() => ({
    left: [...document.querySelectorAll('.hv-left .tok')].map((t) => +t.dataset.index),
    right: document.querySelectorAll('.hv-right .tok').length,
    nodes: document.getElementsByTagName('*').length,
})"""


def frame(page):
    """(top, bottom) canvas px of the frame on screen, and the row height."""
    top, bottom = map(float, page.get_attribute(".hv-stage", "data-frame").split(","))
    return (
        top,
        bottom,
        float(page.eval_on_selector(".hv-stage", "s => parseFloat(s.style.getPropertyValue('--row-h'))")),
    )


def find(panel, page, text, found):
    panel.after(lambda: (page.fill(".hv-find", text), page.press(".hv-find", "Enter")))
    page.wait_for_function("i => document.querySelector('.head-view').dataset.found === String(i)", arg=found)
    node = page.locator(f".hv-left .tok[data-index='{found}']")
    assert "found" in node.get_attribute("class")
    tok, box = node.bounding_box(), page.locator(".hv-scroll").bounding_box()
    assert box["y"] <= tok["y"] and tok["y"] + tok["height"] <= box["y"] + box["height"]
    w0, w1 = map(int, page.get_attribute(".head-view", "data-window").split(","))
    assert w0 <= found < w1


def test_the_columns_hold_only_the_rows_on_screen_while_the_whole_list_scrolls(head_panel):
    page = head_panel.open("run=long&tag=p")
    assert head_panel.attr(".head-view", "data-framed") == "1"
    box = page.eval_on_selector(".hv-scroll", "s => [s.scrollHeight, s.clientHeight]")
    assert box[0] >= N * 12  # every row has its place (12 px), built or not
    seen = []
    for y in np.linspace(0, box[0] - box[1], 25):
        page.eval_on_selector(".hv-scroll", "(s, y) => { s.scrollTop = y; }", float(y))
        page.wait_for_function(
            "y => Math.abs(parseFloat(document.querySelector('.hv-stage').dataset.frame) - y) < 200", arg=float(y)
        )
        built = page.evaluate(BUILT)
        top, bottom, row = frame(page)
        # The rows on screen are built, and a margin; nothing else.
        assert min(built["left"]) <= top / row and max(built["left"]) >= min(N - 1, bottom / row - 1)
        assert len(built["left"]) == built["right"] < (bottom - top) / row + 100
        seen.append(built["nodes"])
    # The page's nodes: as many in the middle of the list as anywhere else in it, and few.
    assert max(seen) < 1500 and max(seen[5:20]) - min(seen[5:20]) < 40


def test_find_and_positions_reach_any_token(head_panel):
    page = head_panel.open("run=long&tag=p")
    find(head_panel, page, "finale", N - 1)
    assert page.get_attribute(".head-view", "data-window") == f"{N - 128},{N}"
    find(head_panel, page, "#0", 0)
    find(head_panel, page, f"#{N - 1}", N - 1)
    find(head_panel, page, "needle", NEEDLE)
    # Many hits: each in turn, the window following; before the first, the last.
    hits = [i for i, t in enumerate(tokens(N)) if t == "the"]
    find(head_panel, page, "the", hits[0])
    assert page.inner_text(".find-count") == f"1 / {len(hits)}"
    head_panel.after(lambda: page.press(".hv-find", "Enter"))
    page.wait_for_function("i => document.querySelector('.head-view').dataset.found === String(i)", arg=hits[1])
    head_panel.after(lambda: page.click(".find-prev"))
    head_panel.after(lambda: page.click(".find-prev"))
    page.wait_for_function("i => document.querySelector('.head-view').dataset.found === String(i)", arg=hits[-1])
    assert page.inner_text(".find-count") == f"{len(hits)} / {len(hits)}"
    assert "found" in page.get_attribute(f".hv-left .tok[data-index='{hits[-1]}']", "class")


def test_lines_to_keys_far_back_end_at_the_edge_and_the_strip_shows_them(head_panel, long_tb, tmp_path):
    page = head_panel.open("run=long&tag=p")
    find(head_panel, page, "finale", N - 1)
    threshold = float(page.get_attribute(".head-view", "data-line-threshold"))
    (rec,) = tb_attention.read_attention(str(long_tb[0]), run="long")
    a = rec.layer(0)  # as stored
    w0, w1 = map(int, page.get_attribute(".head-view", "data-window").split(","))
    top, bottom, row = frame(page)
    on_screen = [q for q in range(w0, w1) if top <= (q + 0.5) * row <= bottom]
    assert len(on_screen) > 30
    # Lines from the window's rows on screen whose key is above the frame end in its top zone.
    above = sum(int(((a[:, q] >= threshold) & ((np.arange(N) + 0.5) * row < top)).sum()) for q in on_screen)
    assert above >= 2 * len(on_screen)  # key 0 and the half-way key of every row, at least
    assert int(page.get_attribute(".hv-edge-above", "data-lines")) == above
    first = int(np.ceil(top / row - 0.5))  # the first key whose centre is in the frame
    assert page.inner_text(".hv-edge-above") == f"\u25b2 {above} lines (dashed) to keys 0\u2013{first - 1}"
    assert page.is_hidden(".hv-edge-below")  # causal: nothing below
    # The strip maps every key to the frame's height: a tick where the half-way keys are.
    strip = page.eval_on_selector(".hv-keymap-strip", "c => c.getBoundingClientRect().height")
    background = head_panel.pixel(".hv-keymap-strip", 7, 2)
    for q in (on_screen[0], on_screen[-1]):
        y = (q // 2 + 0.5) * row / (N * row) * strip
        assert head_panel.pixel(".hv-keymap-strip", 7, y) != background, q
    # The SVG export holds what is on screen: the frame's rows, its lines, far keys at its edge.
    with page.expect_download() as dl:
        page.click(".export-svg")
    dl.value.save_as(tmp_path / "frame.svg")
    root = ET.parse(tmp_path / "frame.svg").getroot()
    ns = "{http://www.w3.org/2000/svg}"
    texts = [t.text for t in root.iter(ns + "text")]
    assert "finale" in texts and len(texts) < 2 * (bottom - top) / row + 4
    ends = [float(line.get("y2")) for line in root.iter(ns + "line")]
    queries = {int(line.get("data-q")) for line in root.iter(ns + "line")}
    assert queries == {q for q in on_screen if (a[:, q] >= threshold).any()}
    assert len(ends) == sum(int((a[:, q] >= threshold).sum()) for q in on_screen)
    assert 0 <= min(ends) and max(ends) <= bottom - top and sum(y < 24 for y in ends) >= above
    # The last row's hover: what its stored row gives the first token (the mean of the two heads:
    # 0.5 and 0, as stored), and its strongest keys with their positions, the half-way one too.
    page.hover(f".hv-left .tok[data-index='{N - 1}']")
    sink = a[:, N - 1, 0].astype(np.float64).mean()
    assert float(page.get_attribute(".head-view", "data-hover-sink")) == pytest.approx(sink, rel=1e-6)
    text = page.inner_text(".hover-details")
    assert f"key 0 (the sink) took {sink:.3f}" in text and abs(sink - 0.25) < 3e-3
    half = (N - 1) // 2
    assert f"w{half} ({half}) {a[:, N - 1, half].astype(np.float64).mean():.3f}" in text


def test_a_sparse_record_draws_its_kept_entries_read_as_they_are_sent(head_panel, long_tb, tmp_path):
    asked = []
    head_panel.page.on("request", lambda r: "/layer?" in r.url and asked.append(r.url))
    page = head_panel.open("run=sparse&tag=p")
    find(head_panel, page, "finale", N - 1)
    (rec,) = tb_attention.read_attention(str(long_tb[0]), run="sparse")
    assert rec.encoding == "sparse"
    a = rec.layer(0)  # the kept entries, densified here only
    assert ((a > 0).sum(axis=2) <= 8).all() and ((a > 0).sum(axis=2) == 8).mean() > 0.9  # keys were dropped
    # The rows are read as kept entries, never dense: every read of rows asks form=sparse.
    rows = [u for u in asked if "q_start=" in u and "form=kept" not in u]
    assert rows and all("form=sparse" in u for u in rows), rows[:3]
    threshold = float(page.get_attribute(".head-view", "data-line-threshold"))
    w0, w1 = map(int, page.get_attribute(".head-view", "data-window").split(","))
    top, bottom, row = frame(page)
    on_screen = [q for q in range(w0, w1) if top <= (q + 0.5) * row <= bottom]
    assert len(on_screen) > 30
    # The lines drawn for the frame are the stored kept entries at or above the threshold.
    with page.expect_download() as dl:
        page.click(".export-svg")
    dl.value.save_as(tmp_path / "frame.svg")
    ns = "{http://www.w3.org/2000/svg}"
    drawn = [line for line in ET.parse(tmp_path / "frame.svg").getroot().iter(ns + "line")]
    assert {int(line.get("data-q")) for line in drawn} == {q for q in on_screen if (a[:, q] >= threshold).any()}
    assert len(drawn) == sum(int((a[:, q] >= threshold).sum()) for q in on_screen)
    # The last row's hover: the stored kept weight on the first token, and the half-way key's.
    page.hover(f".hv-left .tok[data-index='{N - 1}']")
    sink = a[:, N - 1, 0].astype(np.float64).mean()
    assert float(page.get_attribute(".head-view", "data-hover-sink")) == pytest.approx(sink, rel=1e-6)
    text = page.inner_text(".hover-details")
    half = (N - 1) // 2
    assert f"key 0 (the sink) took {sink:.3f}" in text
    assert f"w{half} ({half}) {a[:, N - 1, half].astype(np.float64).mean():.3f}" in text
