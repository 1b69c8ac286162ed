"""The panel on long inputs, in headless Chromium against a real `tensorboard` process: the matrix
view's zoom, pan, labels, colour scale and hidden first token; the head view's query window,
token search and lines per query; the model view's streamed thumbnails and what a click opens;
sparse records' kept weight; word pieces merged into words (by the word ids /steps serves);
encoder-decoder kinds."""

import numpy as np
import pytest

import tb_attention
from bench.llm_attention import llm_attention, llm_tokens
from tests.conftest import SEED_TOKENS, seed_record
from tests.helpers.browser import (
    canvas_rgba,
    cell_colour,
    colour_table,
    drawn_within,
    hover_cell,
    log_floor,
    scaled_colour,
)
from tests.helpers.panel_logs import line_count
from tests.helpers.tb_process import TensorBoardProcess

N = 2048
NEEDLE = 1500
MATRIX = ".matrix-view .heatmap"


def long_tokens():
    tokens = llm_tokens(N)
    tokens[NEEDLE] = "\u0120needle"
    return tokens


def other_tokens():
    return ["\u0120checkpointing%d" % i for i in range(512)]


@pytest.fixture(scope="module")
def long_logs(tmp_path_factory):
    """(logdir, TensorBoard): long2048 (2 layers x 4 heads x 2048 tokens, dense: too large to
    fetch whole), sparse512 (top 16 keys per row), dense512 (the same tokens, other weights),
    other512 (other, longer tokens) and seq2seq (an encoder-decoder record)."""
    import torch

    logdir = tmp_path_factory.mktemp("long_panel")
    tb_attention.add_attention(str(logdir / "long2048"), "p", llm_attention(2, 4, N, seed=5), long_tokens(), 0)
    tb_attention.add_attention(
        str(logdir / "sparse512"), "p", llm_attention(2, 4, 512, seed=6), llm_tokens(512), 0, top_k=16
    )
    tb_attention.add_attention(str(logdir / "dense512"), "p", llm_attention(2, 4, 512, seed=7), llm_tokens(512), 0)
    tb_attention.add_attention(str(logdir / "other512"), "p", llm_attention(2, 4, 512, seed=8), other_tokens(), 0)
    rng = np.random.default_rng(1)

    def softmax(*shape):
        e = np.exp(3 * rng.standard_normal(shape).astype(np.float32))
        return torch.from_numpy(e / e.sum(-1, keepdims=True))

    enc, dec = (
        ["\u2581the", "\u2581pilot", "\u2581bought", "\u2581milk", "</s>"],
        ["<pad>", "\u2581der", "\u2581Pilot", "\u2581kaufte", "</s>"],
    )
    tb_attention.add_attention(
        str(logdir / "seq2seq"),
        "p",
        None,
        None,
        0,
        encoder_attention=(softmax(1, 2, 5, 5),),
        decoder_attention=(softmax(1, 2, 5, 5),),
        cross_attention=(softmax(1, 2, 5, 5),),
        encoder_tokens=enc,
        decoder_tokens=dec,
    )
    tb_attention.flush()
    proc = TensorBoardProcess(logdir).start()
    try:
        proc.wait_for(
            lambda: (
                {"long2048", "sparse512", "dense512", "other512", "seq2seq"}
                <= set(proc.get_json("/data/plugin/tb_attention/tags")["runs"])
            )
        )
        yield logdir, proc
    finally:
        proc.stop()


def record(logdir, run):
    (rec,) = tb_attention.read_attention(str(logdir), run=run)
    return rec


def shown(rec, layer):
    """`[heads, q, k]` of a layer as the panel shows it: a key a sparse row dropped (0 where the
    layer's mask does not explain it: docs/http_api.md, /tile) is not stored, NaN."""
    a = rec.layer(layer)
    if rec.encoding != "sparse":
        return a
    i, j = np.arange(a.shape[1])[:, None], np.arange(a.shape[2])[None, :]
    known = (j > i) if rec.causal else np.zeros((a.shape[1], a.shape[2]), bool)
    return np.where((a == 0) & ~known, np.float32(np.nan), a)


@pytest.fixture
def long_panel(panel_factory, long_logs):
    return panel_factory(long_logs[1])


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


def map_state(page):
    return page.eval_on_selector(MATRIX, "m => ({...m.dataset})")


def visible(d):
    return tuple(map(int, d["visible"].split(",")))


def label_ink(page, d):
    """Ink in the left label gutter beside the first visible rows (0 when no label is drawn)."""
    top = float(d["top"]) + (visible(d)[0] + 1) * float(d["cell"])
    return page.evaluate(
        INK, [MATRIX + " .hm-canvas", 2, max(top, float(d["gutterTop"])), float(d["gutterLeft"]) - 6, 40]
    )


def pretty(token):
    return token[1:] if token.startswith("\u0120") else token


def telling_cells(values, state):
    """[(r, c)] of the strongest and the faintest non-zero weight among the cells a zoomed map
    draws whole (inside its visible region): the ends of its colour scale."""
    r0, r1, c0, c1 = visible(state)
    inner = values[r0 + 1 : r1 - 1, c0 + 1 : c1 - 1]
    strongest = np.unravel_index(np.nanargmax(inner), inner.shape)
    faintest = np.unravel_index(np.argmin(np.where(inner > 0, inner, np.inf)), inner.shape)
    assert 0 < inner[faintest] < inner[strongest]
    return [(r0 + 1 + int(i), c0 + 1 + int(j)) for i, j in (strongest, faintest)]


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


def point_at(page, figure, r, c):
    """Page (x, y) of heat-map cell (r, c) of `figure` (top-left corner) at its current zoom."""
    d = page.eval_on_selector(figure, "m => ({...m.dataset})")
    box = page.eval_on_selector(
        figure + " .hm-overlay", "c => { const b = c.getBoundingClientRect(); return [b.x, b.y]; }"
    )
    return box[0] + float(d["left"]) + c * float(d["cell"]), box[1] + float(d["top"]) + r * float(d["cell"])


def wheel_zoom(page, figure, r, c, times):
    """Wheel `times` notches over cell (r, c) of `figure`: the map zooms in about it."""
    page.mouse.move(*point_at(page, figure, r, c))
    for _ in range(times):
        page.mouse.wheel(0, -300)


def wait_compare_maps(page, attr, value):
    """Wait until every map of the compare view has data-`attr` == value."""
    page.wait_for_function(
        "([a, v]) => [...document.querySelectorAll('.compare-view .heatmap')].every((m) => m.dataset[a] === v)",
        arg=[attr, value],
    )


def maps_state(page, roles=("cmp-a", "cmp-b", "cmp-diff")):
    return [page.eval_on_selector(f".compare-view .{r}", "m => ({...m.dataset})") for r in roles]


@pytest.mark.browser
def test_compare_view_zooms_the_three_maps_together_and_hides_the_sink(long_panel, long_logs):
    # A: a sparse record, B: a dense one of the same tokens in another run (same tag).
    a = shown(record(long_logs[0], "sparse512"), 1)[2]  # keys its rows dropped: NaN, not stored
    b = shown(record(long_logs[0], "dense512"), 1)[2]
    page = long_panel.open("run=sparse512&tag=p&view=compare&runB=dense512&layer=1&heads=2")
    wait_compare_maps(page, "levels", "complete")
    ma, mb, md = maps_state(page)
    # 512 keys: A and B on one log scale (one floor for both); B - A on a signed square root about 0.
    assert ma["scale"] == mb["scale"] == "log"
    assert md["scale"] == "signed-sqrt" and float(md["lo"]) == -float(md["hi"])
    assert float(md["hi"]) == pytest.approx(float(np.nanmax(np.abs(b - a))), rel=1e-5)
    assert [m["visible"] for m in (ma, mb, md)] == ["0,512,0,512"] * 3
    # Zooming the difference zooms A and B to the same region; only the difference has a minimap.
    wheel_zoom(page, ".cmp-diff", 300, 100, 5)
    page.wait_for_function("() => +document.querySelector('.cmp-a').dataset.cell >= 8")
    ma, mb, md = maps_state(page)
    assert ma["visible"] == mb["visible"] == md["visible"] != "0,512,0,512"
    r0, r1, c0, c1 = visible(md)
    assert r0 <= 300 < r1 and c0 <= 100 < c1 and ma["rowLabels"] == f"{r0}-{r1 - 1}"
    assert page.is_visible(".cmp-diff .hm-minimap") and page.is_hidden(".cmp-a .hm-minimap")
    assert "queries" in page.inner_text(".compare-view .zoom-text")
    # Hovering a cell of A marks it in all three; each reads out its own value.
    r, c = (r0 + r1) // 2, (c0 + c1) // 2
    r, c = next((r, c) for c in range(c, c1) if not np.isnan(a[r, c]))  # a key A's row stored
    value, text = hover_cell(page, ".cmp-a", r, c)
    assert value == pytest.approx(float(a[r, c]), abs=1e-6)
    assert [m["hover"] for m in maps_state(page)] == [f"{r},{c}"] * 3
    assert float(page.get_attribute(".cmp-b", "data-value")) == pytest.approx(float(b[r, c]), abs=1e-6)
    assert float(page.get_attribute(".cmp-diff", "data-value")) == pytest.approx(float(b[r, c] - a[r, c]), abs=1e-6)
    assert page.inner_text(".cmp-diff .hm-readout").endswith(f"(A {a[r, c]:.4f}, B {b[r, c]:.4f})")
    # A and B are drawn on one log scale whose floor is that of both records' weights (numpy).
    floor = log_floor(a, b)
    for figure, values in ((".cmp-a", a), (".cmp-b", b)):
        for rc in telling_cells(values, md) + [(r, c)]:
            rgba = cell_colour(page, figure, *rc)
            expected = scaled_colour(page, float(values[rc]), "log", floor)
            assert "rgb(%d,%d,%d)" % tuple(rgba[:3]) == expected, (figure, rc)
    # The difference is drawn on the diverging table: a root of |B - A| out from the middle, by its sign.
    hi = float(md["hi"])
    rgba = cell_colour(page, ".cmp-diff", r, c)
    assert "rgb(%d,%d,%d)" % tuple(rgba[:3]) == scaled_colour(
        page, float(b[r, c] - a[r, c]), "signed-sqrt", 0, -hi, hi, "divergingScale"
    )
    # Hide the first token: both records are renormalised over the other keys, the zoom stays.
    long_panel.after(lambda: page.click(".compare-view .hide-sink"))
    assert maps_state(page)[2]["visible"] == md["visible"]
    assert "renormalised" in page.inner_text(".compare-note")
    ra, rb = a[r, c] / (1 - a[r, 0]), b[r, c] / (1 - b[r, 0])
    value, text = hover_cell(page, ".cmp-diff", r, c)
    assert value == pytest.approx(float(rb - ra), rel=1e-4, abs=1e-6)
    assert float(page.get_attribute(".cmp-a", "data-value")) == pytest.approx(float(ra), rel=1e-5, abs=1e-7)
    # The colour scale applies to A and B; "0" on any map resets all three.
    long_panel.after(lambda: page.select_option(".compare-view .scale-select", "linear"))
    assert [m["scale"] for m in maps_state(page)] == ["linear"] * 3
    page.focus(".cmp-b .hm-overlay")
    page.keyboard.press("0")
    wait_compare_maps(page, "visible", "0,512,0,512")
    assert page.is_hidden(".cmp-diff .hm-minimap")


@pytest.mark.browser
def test_compare_view_of_other_tokens_keeps_the_maps_aligned_and_reads_b_in_its_own(long_panel, long_logs):
    a = shown(record(long_logs[0], "sparse512"), 0)[1]  # keys its rows dropped: NaN, not stored
    b = shown(record(long_logs[0], "other512"), 0)[1]
    page = long_panel.open("run=sparse512&tag=p&view=compare&runB=other512&layer=0&heads=1")
    wait_compare_maps(page, "levels", "complete")
    assert "different tokens" in page.inner_text(".compare-view")
    # B's labels are longer, yet one gutter serves all three: the same cell size and origin.
    geometry = [(m["gutterLeft"], m["gutterTop"], m["cell"], m["left"], m["top"]) for m in maps_state(page)]
    assert geometry[0] == geometry[1] == geometry[2]
    wheel_zoom(page, ".cmp-diff", 250, 200, 5)
    page.wait_for_function("() => +document.querySelector('.cmp-b').dataset.cell >= 8")
    wait_compare_maps(page, "levels", "complete")
    ma, mb, md = maps_state(page)
    assert ma["visible"] == mb["visible"] == md["visible"]
    r0, r1, c0, c1 = visible(md)
    r, c = (r0 + r1) // 2, (c0 + c1) // 2
    # Aligned as drawn: where A draws cell (r, c), B draws B's (r, c) and the difference B - A's,
    # each in its stored weight's colour (numpy), at cells along both axes of the visible region.
    floor, spread = log_floor(a, b), float(np.nanmax(np.abs(b - a)))
    for rc in [
        (r0 + 1, c0 + 1),
        (r, c),
        (r1 - 2, c1 - 2),
        (r0 + 1, c1 - 2),
        (r1 - 2, c0 + 1),
        (r, c0 + 2),
        (r0 + 2, c),
    ]:
        expected = [
            scaled_colour(page, float(a[rc]), "log", floor),
            scaled_colour(page, float(b[rc]), "log", floor),
            scaled_colour(page, float(b[rc] - a[rc]), "signed-sqrt", 0, -spread, spread, "divergingScale"),
        ]
        drawn = [cell_colour(page, figure, *rc, geometry=".cmp-a") for figure in (".cmp-a", ".cmp-b", ".cmp-diff")]
        assert ["rgb(%d,%d,%d)" % tuple(px[:3]) for px in drawn] == expected, rc
    _, text = hover_cell(page, ".cmp-b", r, c)
    assert text.startswith(f"query \u201ccheckpointing{r}\u201d ({r}) \u2192 key \u201ccheckpointing{c}\u201d ({c}): ")
    a_tokens = llm_tokens(512)
    assert page.inner_text(".cmp-a .hm-readout").startswith(f"query \u201c{pretty(a_tokens[r])}\u201d ({r})")
    # A new B on A's tokens: the gutter narrows, and all three refit together.
    long_panel.after(lambda: page.select_option(".compare-view .run-b", "dense512"))
    wait_compare_maps(page, "levels", "complete")
    states = maps_state(page)
    assert len({(m["visible"], m["cell"], m["left"], m["top"]) for m in states}) == 1
    assert float(states[0]["gutterLeft"]) < float(geometry[0][0])
    # Zoomed again, then reset from the bar: the whole grid in all three.
    wheel_zoom(page, ".cmp-diff", 256, 256, 1)
    page.wait_for_function("() => document.querySelector('.cmp-a').dataset.visible !== '0,512,0,512'")
    page.click(".compare-view .zoom-reset")
    wait_compare_maps(page, "visible", "0,512,0,512")


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
