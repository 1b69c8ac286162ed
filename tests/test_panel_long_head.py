"""The head view at 2048 tokens, in headless Chromium against a real `tensorboard` process: its
query window, token search, the window following the scroll, and lines per query."""

import numpy as np
import pytest

from tests.helpers.long_panel import NEEDLE, record
from tests.helpers.panel_logs import line_count

LINE_STARTS = """(indices) => {
    // Alpha of the head view's base canvas where lines from each left token start: x = 2 (the
    // lines' first pixel column), 1 px above the row's centre. Lines of causal rows go up (to
    // earlier keys) or straight across, so every line from a row covers that pixel, however
    // steep; below the last row that has lines, no line passes there.
    // The lines are on the canvas over the frame on screen (.hv-lines): read it where it holds y.
    const tiles = [...document.querySelectorAll('.hv-lines')];
    return indices.map((i) => {
        const t = document.querySelector(`.hv-left .tok[data-index='${i}']`).getBoundingClientRect();
        const yc = t.top + t.height / 2 - 1;
        const c = tiles.find((c) => { const b = c.getBoundingClientRect(); return b.top <= yc && yc < b.bottom; });
        if (!c) return 0;  // no tile there: nothing was drawn
        const box = c.getBoundingClientRect();
        const scale = c.width / box.width;
        return c.getContext('2d').getImageData(Math.floor(2 * scale), Math.floor((yc - box.top) * scale), 1, 1).data[3];
    });
}"""


@pytest.mark.browser
def test_search_finds_a_token_and_the_window_follows_at_2048_tokens(long_panel, long_logs):
    page = long_panel.open("run=long2048&tag=p&view=head")
    a = record(long_logs[0], "long2048").layer(0)
    threshold = long_panel.number(".head-view", "data-line-threshold")
    assert long_panel.attr(".head-view", "data-window") == "0,128"
    assert int(long_panel.attr(".head-view", "data-lines")) == line_count(a, threshold, q=(0, 128))
    # Past 512 rows the columns hold the rows on screen and a margin, not all 2048.
    assert long_panel.attr(".head-view", "data-framed") == "1"
    assert 30 < page.locator(".hv-left .tok").count() < 200
    # Find a token: the window moves to it, it scrolls into view, highlighted.
    page.fill(".hv-find", "needle")
    long_panel.after(lambda: page.press(".hv-find", "Enter"))
    page.wait_for_function("() => document.querySelector('.head-view').dataset.found === '%d'" % NEEDLE)
    w0, w1 = map(int, long_panel.attr(".head-view", "data-window").split(","))
    assert (w0, w1) == (NEEDLE - 64, NEEDLE + 64)
    assert page.inner_text(".find-count") == "1 / 1"
    assert "found" in page.get_attribute(f".hv-left .tok[data-index='{NEEDLE}']", "class")
    tok = page.locator(f".hv-left .tok[data-index='{NEEDLE}']").bounding_box()
    box = page.locator(".hv-scroll").bounding_box()
    assert box["y"] <= tok["y"] and tok["y"] + tok["height"] <= box["y"] + box["height"]
    assert int(long_panel.attr(".head-view", "data-lines")) == line_count(a, threshold, q=(w0, w1))
    # Lines start exactly at the rows on screen that have one (pixels of the lines' canvas, which
    # holds the frame on screen).
    page.wait_for_function("() => document.querySelector('.head-view').dataset.bands === 'complete'")
    rows = list(range(NEEDLE - 10, NEEDLE + 10))
    starts = [bool((a[:, i] >= np.float32(threshold)).any()) for i in rows]
    assert any(starts)
    assert [alpha > 0 for alpha in page.evaluate(LINE_STARTS, rows)] == starts
    # Rows outside the window draw nothing: scroll to the top, the window follows the scroll.
    page.eval_on_selector(".hv-scroll", "s => { s.scrollTop = 12 * 600; }")
    page.wait_for_function("() => +document.querySelector('.head-view').dataset.window.split(',')[0] < 620")
    long_panel.idle()
    w0, w1 = map(int, long_panel.attr(".head-view", "data-window").split(","))
    assert w0 <= 620 < w1
    assert int(long_panel.attr(".head-view", "data-lines")) == line_count(a, threshold, q=(w0, w1))
    # Previous window, fewer rows, one line per query and head.
    long_panel.after(lambda: page.click(".window-prev"))
    assert long_panel.attr(".head-view", "data-window") == f"{w0 - 128},{w0}"
    long_panel.after(lambda: page.select_option(".topk-select", "1"))
    w0, w1 = w0 - 128, w0
    best = a[:, w0:w1].max(axis=2) >= np.float32(threshold)
    assert int(long_panel.attr(".head-view", "data-lines")) == int(best.sum())
    long_panel.after(lambda: page.select_option(".window-rows", "32"))
    w0, w1 = map(int, long_panel.attr(".head-view", "data-window").split(","))
    assert w1 - w0 == 32
    # The window is shorter than the screen: lines start at its rows that have one, at no row
    # outside it (one line per query and head: the strongest).
    rows = list(range(w0 - 6, w1 + 6))
    starts = [w0 <= i < w1 and bool((a[:, i].max(axis=1) >= np.float32(threshold)).any()) for i in rows]
    assert any(starts) and not all(starts)
    assert [alpha > 0 for alpha in page.evaluate(LINE_STARTS, rows)] == starts
    # Hovering a token outside the window says how to get there; clicking it moves the window.
    out = w0 - 5  # on screen: the window is in the middle of the scroll box
    page.hover(f".hv-left .tok[data-index='{out}']")
    assert "outside the query window" in page.inner_text(".hover-details")
    long_panel.after(lambda: page.click(f".hv-left .tok[data-index='{out}']"))
    w0, w1 = map(int, long_panel.attr(".head-view", "data-window").split(","))
    assert w0 <= out < w1
