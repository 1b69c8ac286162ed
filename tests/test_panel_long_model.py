"""The model view at 2048 tokens, in headless Chromium against a real `tensorboard` process: the
streamed thumbnails, each cell drawn in its max-pooled weight's colour, and what a click opens."""

import numpy as np
import pytest

from tests.helpers.browser import canvas_rgba, colour_table, drawn_within
from tests.helpers.long_panel import record

THUMB = 64  # the stored thumbnails' side (docs/format.md): 2048 tokens pool 32 x 32 cells each


def assert_model_view_draws_the_max_pooled_record(page, d, rec):
    """Every thumbnail cell of every layer and head, as drawn on the model view's canvas, is the
    colour of that cell's largest stored weight (max-pooled here in numpy) on the square-root scale
    the view uses for long inputs; each value known to 1/510 (uint8) and float16 rounding."""
    pixels, ratio = canvas_rgba(page, ".mv-canvas")
    table = colour_table(page)
    layers, heads, n, _ = rec.shape
    cell, gap, label_w, top = (int(d[k]) for k in ("cell", "gap", "labelW", "top"))
    assert cell * ratio >= THUMB  # a thumbnail's cells are whole pixels or more: each centre is its own
    centres = (np.arange(THUMB) + 0.5) * cell / THUMB
    for layer in range(layers):
        pooled = rec.layer(layer).reshape(heads, THUMB, n // THUMB, THUMB, n // THUMB).max(axis=(2, 4))
        for head in range(heads):
            ys = np.floor((top + layer * (cell + gap) + centres) * ratio).astype(int)
            xs = np.floor((label_w + head * (cell + gap) + centres) * ratio).astype(int)
            drawn = pixels[ys[:, None], xs[None, :], :3]
            v = pooled[head].astype(np.float64)
            slack = 1 / 510 + v / 1024
            lowest = np.floor(np.sqrt(np.clip(v - slack, 0, 1)) * 255)
            highest = np.ceil(np.sqrt(np.clip(v + slack, 0, 1)) * 255)
            ok = drawn_within(drawn, table, lowest, highest)
            bad = np.argwhere(~ok)
            assert ok.all(), (layer, head, len(bad), bad[:3].tolist(), v[tuple(bad[0])], drawn[tuple(bad[0])])


@pytest.mark.browser
def test_model_view_streams_thumbnails_and_opens_either_view(long_panel, long_logs):
    page = long_panel.open("run=long2048&tag=p&view=model")
    d = page.eval_on_selector(".model-view", "e => ({...e.dataset})")
    assert d["layersDrawn"] == "2" and int(d["cells"]) == 8
    assert 0 < int(d["bytes"]) <= 2 * 4 * 64 * 64 * 2  # float16 thumbnails, whatever the length
    fetched = page.evaluate("performance.getEntriesByType('resource').filter(e => e.name.includes('/layer?')).length")
    assert fetched == 0  # no layer is fetched for the overview
    assert_model_view_draws_the_max_pooled_record(page, d, record(long_logs[0], "long2048"))
    box = page.eval_on_selector(".mv-canvas", "c => { const b = c.getBoundingClientRect(); return [b.x, b.y]; }")
    step = int(d["cell"]) + int(d["gap"])

    def at(layer, head):
        return box[0] + int(d["labelW"]) + head * step + int(d["cell"]) / 2, box[1] + int(
            d["top"]
        ) + layer * step + int(d["cell"]) / 2

    page.mouse.move(*at(1, 3))
    assert "shift-click: the matrix view" in page.inner_text(".model-view .hm-readout")
    page.keyboard.down("Shift")
    long_panel.after(lambda: page.mouse.click(*at(1, 3)))
    page.keyboard.up("Shift")
    assert long_panel.attr(".tba", "data-view") == "matrix"
    assert (long_panel.attr(".matrix-view", "data-layer"), long_panel.attr(".matrix-view", "data-heads")) == ("1", "3")
    long_panel.after(lambda: page.click(".tab[data-view='model']"))
    long_panel.after(lambda: page.select_option(".open-select", "matrix"))
    long_panel.after(lambda: page.mouse.click(*at(0, 2)))
    assert long_panel.attr(".tba", "data-view") == "matrix"
    assert long_panel.attr(".matrix-view", "data-heads") == "2"
