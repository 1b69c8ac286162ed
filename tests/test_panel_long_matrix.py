"""The matrix view on long inputs, in headless Chromium against a real `tensorboard` process: zoom,
pan, keys and labels at 2048 tokens; the colour scale; the hidden first token and sparse records'
kept weight; a zoom map's hover across a new grid; word pieces merged into words (by the word ids
/steps serves); encoder-decoder kinds."""

import numpy as np
import pytest

from tests.conftest import SEED_TOKENS, seed_record
from tests.helpers.browser import cell_colour, hover_cell, log_floor, scaled_colour
from tests.helpers.long_panel import (
    MATRIX,
    N,
    long_tokens,
    point_at,
    pretty,
    record,
    shown,
    telling_cells,
    visible,
    wheel_zoom,
)

INK = """([sel, x, y, w, h]) => {
    // Share of pixels of a canvas box (CSS px) unlike the page background.
    const c = document.querySelector(sel);
    const s = c.width / c.getBoundingClientRect().width;
    const box = [Math.round(x * s), Math.round(y * s), Math.max(1, Math.round(w * s)), Math.max(1, Math.round(h * s))];
    const d = c.getContext('2d').getImageData(...box).data;
    let ink = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i] + d[i + 1] + d[i + 2] < 600) ink++;
    return ink / (d.length / 4);
}"""


def map_state(page):
    return page.eval_on_selector(MATRIX, "m => ({...m.dataset})")


def label_ink(page, d):
    """Ink in the left label gutter beside the first visible rows (0 when no label is drawn)."""
    top = float(d["top"]) + (visible(d)[0] + 1) * float(d["cell"])
    return page.evaluate(
        INK, [MATRIX + " .hm-canvas", 2, max(top, float(d["gutterTop"])), float(d["gutterLeft"]) - 6, 40]
    )


def wait_levels(page):
    page.wait_for_function("s => document.querySelector(s).dataset.levels === 'complete'", arg=MATRIX)


@pytest.mark.browser
def test_matrix_zoom_pan_keys_and_labels_at_2048_tokens(long_panel, long_logs):
    page = long_panel.open("run=long2048&tag=p&view=matrix&heads=1")
    a = record(long_logs[0], "long2048").layer(0)[1]
    wait_levels(page)
    d = map_state(page)
    assert visible(d) == (0, N, 0, N) and d["rowLabels"] == "" and d["scale"] == "log"
    assert label_ink(page, d) == 0  # 2048 rows: no label fits
    assert page.is_hidden(".hm-minimap")
    # Wheel over a point of the map: it zooms about that point until labels fit.
    x, y = point_at(page, MATRIX, 1200, 300)
    wheel_zoom(page, MATRIX, 1200, 300, 6)
    page.wait_for_function("s => +document.querySelector(s).dataset.cell >= 8", arg=MATRIX)
    wait_levels(page)
    zoomed = map_state(page)
    r0, r1, c0, c1 = visible(zoomed)
    assert r1 - r0 < 100 and c1 - c0 < 120 and r0 <= 1200 < r1 and c0 <= 300 < c1
    assert zoomed["rowLabels"] == f"{r0}-{r1 - 1}" and zoomed["colLabels"] == f"{c0}-{c1 - 1}"
    assert label_ink(page, zoomed) > 0.01  # labels drawn beside the rows
    assert page.is_visible(".hm-minimap")
    # A visible cell reads out its weight and is drawn in the scale's colour.
    r, c = (r0 + r1) // 2, (c0 + c1) // 2
    value, text = hover_cell(page, MATRIX, r, c)
    assert value == pytest.approx(float(a[r, c]), abs=1e-6)
    assert text.startswith(
        f"query \u201c{pretty(long_tokens()[r])}\u201d ({r}) \u2192 key \u201c{pretty(long_tokens()[c])}\u201d ({c}): "
    )
    # Drawn on a log scale whose floor is that of the stored weights (numpy): the strongest and
    # the faintest visible weights, and the hovered cell, each in its colour.
    for rc in telling_cells(a, zoomed) + [(r, c)]:
        rgba = cell_colour(page, MATRIX, *rc)
        assert "rgb(%d,%d,%d)" % tuple(rgba[:3]) == scaled_colour(page, float(a[rc]), "log", log_floor(a)), rc
    # Drag pans: the region and the labels move with it.
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x - 200, y - 100, steps=5)
    page.mouse.up()
    page.wait_for_function(
        "([s, v]) => document.querySelector(s).dataset.visible !== v", arg=[MATRIX, zoomed["visible"]]
    )
    panned = map_state(page)
    p0, _, q0, _ = visible(panned)
    cell = float(zoomed["cell"])
    assert abs((q0 - c0) - 200 / cell) <= 2 and abs((p0 - r0) - 100 / cell) <= 2
    assert panned["rowLabels"] != zoomed["rowLabels"] and panned["colLabels"] != zoomed["colLabels"]
    # Keys: an arrow pans (without moving the step), 0 resets to the whole matrix.
    page.focus(MATRIX + " .hm-overlay")
    page.keyboard.press("ArrowRight")
    page.wait_for_function(
        "([s, v]) => document.querySelector(s).dataset.visible !== v", arg=[MATRIX, panned["visible"]]
    )
    assert visible(map_state(page))[2] > q0  # the view moves right, as on a map
    page.keyboard.press("0")
    page.wait_for_function("s => document.querySelector(s).dataset.visible === '0,2048,0,2048'", arg=MATRIX)
    assert map_state(page)["rowLabels"] == "" and page.is_hidden(".hm-minimap")
    assert page.inner_text(".step-label").startswith("step 0")
    frames = page.evaluate("performance.getEntriesByName('tb-attention:matrix-frame').length")
    assert frames >= 4


@pytest.mark.browser
def test_hiding_the_first_token_renormalises_rows_and_shows_kept_weight(long_panel, long_logs):
    rec = record(long_logs[0], "sparse512")
    a = shown(rec, 1)[2]
    kept = rec.kept_mass(1)[2]
    page = long_panel.open("run=sparse512&tag=p&view=matrix&layer=1&heads=2&scale=linear")
    r = 300
    c = int(np.nanargmax(a[r, 1:])) + 1
    value, text = hover_cell(page, MATRIX, r, c)
    assert value == pytest.approx(float(a[r, c]), abs=1e-6)
    assert f"stored row kept {kept[r]:.3f} of its weight (sparse record: the 16 strongest keys)" in text
    assert page.is_hidden(".matrix-note")
    long_panel.after(lambda: page.click(".hide-sink"))
    assert page.get_attribute(".hide-sink", "aria-pressed") == "true"
    assert "Hidden key 0 \u201c<|begin_of_text|>\u201d" in page.inner_text(".matrix-note")
    assert "renormalised" in page.inner_text(".matrix-note")
    for col in (c, r, 1):  # a key the row dropped stays not stored (NaN)
        value, text = hover_cell(page, MATRIX, r, col)
        want = float(a[r, col]) / (1 - float(a[r, 0]))
        assert value == pytest.approx(want, rel=1e-5, abs=1e-7, nan_ok=True), col
        assert f"renormalised: {a[r, 0]:.3f} of the row was on hidden keys" in text
    value, text = hover_cell(page, MATRIX, r, 0)
    assert value == 0 and "(hidden key)" in text
    assert tuple(cell_colour(page, MATRIX, r, 0)[:3]) == (214, 214, 214)  # hidden: grey, not a weight
    # Shift-click hides another key; "show" brings them all back.
    d = map_state(page)
    long_panel.after(
        lambda: page.click(
            MATRIX + " .hm-overlay",
            modifiers=["Shift"],
            position={
                "x": float(d["left"]) + (c + 0.5) * float(d["cell"]),
                "y": float(d["top"]) + (r + 0.5) * float(d["cell"]),
            },
        )
    )
    assert long_panel.attr(".matrix-view", "data-hidden") == f"0,{c}"
    value, _ = hover_cell(page, MATRIX, r, r)
    want = float(a[r, r]) / (1 - float(a[r, 0]) - float(a[r, c]))
    assert value == pytest.approx(want, rel=1e-5, abs=1e-7, nan_ok=True)
    # What is drawn: the shift-clicked key is grey now, its row's other cells in their renormalised colour.
    assert tuple(cell_colour(page, MATRIX, r, c)[:3]) == (214, 214, 214)
    renormalised = float(a[r, r]) / (1 - float(a[r, 0]) - float(a[r, c]))
    assert "rgb(%d,%d,%d)" % tuple(cell_colour(page, MATRIX, r, r)[:3]) == scaled_colour(
        page, renormalised, "linear", 1e-4
    )
    long_panel.after(lambda: page.click(".show-hidden"))
    value, _ = hover_cell(page, MATRIX, r, c)
    assert value == pytest.approx(float(a[r, c]), abs=1e-6, nan_ok=True)
    for col in (0, c):  # both keys drawn again, in their stored weight's colour
        assert "rgb(%d,%d,%d)" % tuple(cell_colour(page, MATRIX, r, col)[:3]) == scaled_colour(
            page, float(a[r, col]), "linear", 1e-4
        )
    # The head view reads the kept weight too.
    long_panel.after(lambda: page.click(".tab[data-view='head']"))
    page.hover(f".hv-left .tok[data-index='{r}']")
    assert f"the stored row kept {kept[r]:.3f} of its weight" in page.inner_text(".hover-details")


@pytest.mark.browser
def test_a_zoom_map_drops_a_hover_its_new_grid_lacks(long_panel):
    page = long_panel.open("run=sparse512&tag=p&view=matrix")
    page.wait_for_selector(MATRIX)
    out = page.evaluate("""async () => {
      const { ZoomMap } = await import('./static/views/zoom_map.js');
      const s = await import('./static/scales.js');
      const c = await import('./static/colors.js');
      const grid = (n) => ({ values: new Float32Array(n * n).fill(0.5), rows: n, cols: n,
        rowLabels: Array(n).fill('a'), colLabels: Array(n).fill('a'), mask: null,
        table: c.sequentialScale('light'), scale: s.makeScale('linear'), maskRGB: [0, 0, 0] });
      const m = new ZoomMap({ title: 't' });
      document.body.append(m.element);
      m.setData(grid(10)); m.layout(300, 300); m.draw(); m.showCell(9, 9);
      const before = m.element.dataset.hover;
      m.setData(grid(5)); m.layout(300, 300); m.draw();
      const after = [m.hovered, m.element.dataset.hover ?? null];
      m.showCell(7, 7); // outside the grid: no hover, no error
      return { before, after, outside: [m.hovered, m.element.dataset.hover ?? null] };
    }""")
    assert out == {"before": "9,9", "after": [None, None], "outside": [None, None]}


@pytest.mark.browser
def test_word_view_merges_word_pieces(panel, seed_logs):
    a = seed_record(seed_logs, step=100).attention[1, 4]
    page = panel.open("run=finetune&step=100&layer=1&heads=4&view=matrix")
    panel.after(lambda: page.click(".words-toggle"))
    assert panel.attr(".matrix-view", "data-words") == "1"
    words = SEED_TOKENS[:15] + ["strawberries"] + SEED_TOKENS[17:]
    assert panel.attr(".matrix-view", "data-cols") == str(len(words)) == "18"
    straw = SEED_TOKENS.index("straw")
    pieces = a[:, straw] + a[:, straw + 1]
    q = max((i for i in range(len(SEED_TOKENS)) if i not in (straw, straw + 1)), key=lambda i: pieces[i])
    # Attention to a word: the sum over its pieces.
    value, text = hover_cell(page, MATRIX, q, 15)
    assert value == pytest.approx(float(a[q, straw] + a[q, straw + 1]), abs=1e-6)
    assert (
        text
        == f"query \u201c{SEED_TOKENS[q]}\u201d ({q}) \u2192 key \u201cstrawberries\u201d (15\u201316): {value:.4f}"
    )
    # From a word: the mean over its pieces.
    store = SEED_TOKENS.index("store")
    value, _ = hover_cell(page, MATRIX, 15, store)
    assert value == pytest.approx(float(a[straw, store] + a[straw + 1, store]) / 2, abs=1e-6)
    # The head view merges them too, and its lines follow the merged weights.
    panel.after(lambda: page.click(".tab[data-view='head']"))
    assert panel.texts(".hv-right .tok-text") == words
    assert panel.texts(".hv-left .tok-text") == words
    page.hover(f".hv-left .tok[data-index='{q}']")
    weight = page.inner_text(".hv-right .tok[data-index='15'] .tok-weight")
    assert weight == f"{a[q, straw] + a[q, straw + 1]:.2f}"


@pytest.mark.browser
def test_encoder_decoder_kinds_in_the_matrix_view(long_panel, long_logs):
    page = long_panel.open("run=seq2seq&tag=p&view=matrix")
    assert long_panel.options(".kind-select") == ["encoder", "decoder", "cross"]
    assert page.is_visible(".kind-select")
    long_panel.after(lambda: page.select_option(".kind-select", "cross"))
    _, text = hover_cell(page, MATRIX, 2, 1)
    # Queries are the decoder's tokens, keys the encoder's, as they read (no "\u2581" markers).
    assert text.startswith("query \u201cPilot\u201d (2) \u2192 key \u201cpilot\u201d (1): ")
    long_panel.after(lambda: page.click(".tab[data-view='head']"))
    assert long_panel.texts(".hv-right .tok-text") == ["the", "pilot", "bought", "milk", "</s>"]
