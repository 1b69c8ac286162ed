"""The matrix and compare views of records read as tiles (/tile), in headless Chromium against a
real `tensorboard` process: records written here with `add_attention` over a byte budget (the
long-record thresholds lowered to test scale, as tests/test_capture_long.py does), so they keep
only a window of rows in detail, the strongest keys of each, and pooled levels. What the views
draw at two zoom levels is probed pixel by pixel against what the record stores (read in Python
with `StoredPart.region`); cells the record does not store are drawn in their own colour; the
summary above the matrix view draws the stored span and sink scores, which equal a direct numpy
computation from the full attention."""

import warnings

import numpy as np
import pytest

import tb_attention
from bench.llm_attention import llm_attention, llm_tokens
from tb_attention.writing import budget, stream
from tests.helpers.browser import cell_centres, hover_cell, scaled_colours
from tests.helpers.tb_process import TensorBoardProcess

N = 768
LAYERS, HEADS = 2, 4
BUDGET = 200_000  # bytes on disk: the last rows in detail, an overview
MATRIX = ".matrix-view .heatmap"


PROBE_N = 96  # the captured probe's tokens


def _captured_probe(logdir):
    """A tiny Llama's probe logged through the capture (its pattern scores computed from the
    weights of its blocks as the model ran): the full attention of an eager forward of it."""
    import torch

    from tb_attention.capture import capture
    from tests.helpers.tiny_models import Tokens, eager_attention, tiny_inputs, tiny_model

    model, inputs = tiny_model("llama"), tiny_inputs("llama", length=PROBE_N)
    with torch.no_grad(), capture(model, Tokens()) as cap:
        model(**inputs)
    cap.log(str(logdir / "probe"), "p", 0)
    return eager_attention(model, inputs)["self"]


def _attention(seed):
    return np.stack([a for a in llm_attention(LAYERS, HEADS, N, seed=seed)])


@pytest.fixture(scope="module")
def tiled_logs(tmp_path_factory):
    """(logdir, TensorBoard, {run: full attention}): runs "a" and "b" (other weights, the same
    tokens), each 2 layers x 4 heads x 768 tokens kept in detail for their last rows only, and
    "probe" (a tiny Llama's probe through the capture, short: held whole)."""
    logdir = tmp_path_factory.mktemp("tiled_panel")
    full = {"a": _attention(5), "b": _attention(6)}
    with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mp.setattr(stream, "BAND_THRESHOLD_BYTES", 4096)
        mp.setattr(stream, "BAND_ROWS", 32)
        mp.setattr(budget, "BAND_ROWS", 32)
        mp.setattr(stream, "OVERVIEW_MIN_QUERIES", 128)
        mp.setattr(budget, "OVERVIEW_SHARE", 0.9)
        for run, attention in full.items():
            tb_attention.add_attention(str(logdir / run), "p", attention, llm_tokens(N), 0, max_bytes=BUDGET)
        full["probe"] = _captured_probe(logdir)
        tb_attention.flush()
    proc = TensorBoardProcess(logdir).start()
    try:
        proc.wait_for(lambda: {"a", "b", "probe"} <= set(proc.get_json("/data/plugin/tb_attention/tags")["runs"]))
        yield logdir, proc, full
    finally:
        proc.stop()


def stored_part(logdir, run):
    (record,) = tb_attention.read_attention(str(logdir), run=run)
    return record._stored


def stored_mean(stored, layer, rows, cols, factor):
    """The mean of every head's cells as /tile answers it (a cell one head does not store counts 0
    there; NaN where no head stores it)."""
    values = stored.region(layer, None, rows, cols, factor)
    mean = np.nan_to_num(values).mean(axis=0, dtype=np.float64).astype(np.float32)
    return np.where(np.isnan(values).all(axis=0), np.float32(np.nan), mean)


def map_state(page, figure=MATRIX):
    return page.eval_on_selector(figure, "m => ({...m.dataset})")


def wait_tiles(page, figure=MATRIX):
    page.wait_for_function("f => document.querySelector(f).dataset.levels === 'complete'", arg=figure)


def expected_view(stored, layer, d):
    """(pooled cells [[R, C]] at the map's factor f, their values) of every cell the map shows
    whole: a cell holding rows in the record's detail shows the detail pooled at f; past the finest
    stored level, a cell holding none shows that level's cell (nothing finer is stored there)."""
    f = 2 ** int(d["level"])
    finest = min(stored.part.levels())
    d0, d1 = stored.part.layout["detail_rows"]
    r0, r1, c0, c1 = map(int, d["visible"].split(","))
    fine = stored_mean(stored, layer, (0, N), (0, N), f)
    coarse = stored_mean(stored, layer, (0, N), (0, N), finest)
    cells, values = [], []
    for R in range(-(-r0 // f) + 1, r1 // f - 1):
        holds_detail = f >= finest or (R * f + f > d0 and R * f < d1)
        for C in range(-(-c0 // f) + 1, c1 // f - 1):
            cells.append((R, C))
            y, x = R * f + f // 2, C * f + f // 2  # the cell's centre, in weights
            values.append(fine[R, C] if holds_detail else coarse[y // finest, x // finest])
    return cells, np.array(values, np.float32)


@pytest.mark.browser
def test_tiles_at_two_zoom_levels_are_drawn_with_the_stored_weights(panel_factory, tiled_logs):
    logdir, tb, _ = tiled_logs
    stored = stored_part(logdir, "a")
    assert stored.part.layout["detail_rows"][0] > 0 and len(stored.part.levels()) >= 2
    panel = panel_factory(tb)
    page = panel.open("run=a&tag=p&view=matrix&layer=1")
    wait_tiles(page)
    d = map_state(page)
    assert d["tiles"] == "1" and panel.attr(".matrix-view", "data-tiles") == "1"
    assert int(d["level"]) >= 1  # the whole matrix: cells pooled from 2 x 2 weights or more
    for zoomed in (False, True):
        if zoomed:  # into the detail rows' edge: single weights there, the finest level above
            d0 = stored.part.layout["detail_rows"][0]
            box = page.eval_on_selector(MATRIX + " .hm-overlay", "c => c.getBoundingClientRect().toJSON()")
            at = (float(d["left"]) + 300 * float(d["cell"]), float(d["top"]) + d0 * float(d["cell"]))
            page.mouse.move(box["x"] + at[0], box["y"] + at[1])
            for _ in range(5):
                page.mouse.wheel(0, -300)
            page.wait_for_function("f => +document.querySelector(f).dataset.cell >= 4", arg=MATRIX)
            wait_tiles(page)
            d = map_state(page)
            assert d["level"] == "0"
            r0, r1 = map(int, d["visible"].split(",")[:2])
            assert r0 < d0 < r1  # both kinds of rows on screen
        cells, values = expected_view(stored, 1, d)
        assert np.isnan(values).any() and (values > 0).any()  # not stored cells, and weights
        want = scaled_colours(page, values, d["scale"], float(d["lo"]))
        got = cell_centres(page, MATRIX, cells, 2 ** int(d["level"]))
        wrong = np.flatnonzero((want != got).any(axis=1))
        assert not len(wrong), (zoomed, len(wrong), len(cells), [cells[i] for i in wrong[:5]])
    # The legend names the colours that are not weights.
    assert "not stored" in page.inner_text(".matrix-view .legend-keys")
    assert "loading" in page.inner_text(".matrix-view .legend-keys")


def zoom_to(page, figure, r, c, notches):
    """Wheel `notches` over weight (r, c) of `figure`, then wait until its tiles are in."""
    d = map_state(page, figure)
    box = page.eval_on_selector(figure + " .hm-overlay", "c => c.getBoundingClientRect().toJSON()")
    page.mouse.move(
        box["x"] + float(d["left"]) + (c + 0.5) * float(d["cell"]),
        box["y"] + float(d["top"]) + (r + 0.5) * float(d["cell"]),
    )
    for _ in range(notches):
        page.mouse.wheel(0, -300)
    page.wait_for_function(
        "([f, z]) => +document.querySelector(f).dataset.zoom > z", arg=[figure, float(d["zoom"]) * 8]
    )
    wait_tiles(page, figure)
    return map_state(page, figure)


@pytest.mark.browser
def test_hover_says_what_is_stored_and_hiding_the_sink_renormalises_single_weights(panel_factory, tiled_logs):
    logdir, tb, _ = tiled_logs
    stored = stored_part(logdir, "a")
    d0 = stored.part.layout["detail_rows"][0]
    panel = panel_factory(tb)
    page = panel.open("run=a&tag=p&view=matrix&layer=1&heads=2")
    wait_tiles(page)
    d = zoom_to(page, MATRIX, d0 + 20, 300, 5)
    r0, r1, c0, c1 = map(int, d["visible"].split(","))
    assert d["level"] == "0" and r0 < d0 < r1
    region = stored.region(1, [2], (0, N), (0, N), 1)[0]
    r = d0 + 10
    row = region[r, c0 + 1 : c1 - 1]
    kept_col = c0 + 1 + int(np.nanargmax(row))
    dropped_col = c0 + 1 + int(np.flatnonzero(np.isnan(row))[0])
    value, text = hover_cell(page, MATRIX, r, kept_col)
    kept = stored.kept_mass(1, [2])[0][r]
    assert value == pytest.approx(float(region[r, kept_col]), abs=1e-7)
    assert text.endswith(
        f": {value:.4f} \u00b7 stored row kept {kept:.3f} of its weight (sparse record: the 32 strongest keys)"
    )
    value, text = hover_cell(page, MATRIX, r, dropped_col)
    assert np.isnan(value)
    assert text.endswith(
        f"not stored (rows {d0}\u2013{N - 1} are kept in detail; each row keeps only its strongest keys)"
    )
    # A row above the detail: drawn from the finest stored level, which the read-out names.
    finest = min(stored.part.levels())
    value, text = hover_cell(page, MATRIX, d0 - 3, kept_col)
    want = stored.region(1, [2], (0, N), (0, N), finest)[0][(d0 - 3) // finest, kept_col // finest]
    assert value == pytest.approx(float(want), abs=1e-7)
    assert f"({finest} \u00d7 {finest} weights): largest weight" in text and "nothing finer is stored here" in text
    # Hide the first token: single weights of the row renormalised over the other keys, as stored.
    panel.after(lambda: page.click(".hide-sink"))
    wait_tiles(page)
    assert "Zoomed in to single weights, each row is renormalised" in page.inner_text(".matrix-note")
    value, text = hover_cell(page, MATRIX, r, kept_col)
    sink = float(np.nan_to_num(region[r, 0]))
    assert value == pytest.approx(float(region[r, kept_col]) / (1 - sink), rel=1e-5)
    assert f"(renormalised: {sink:.3f} of the row was on hidden keys)" in text
    want = scaled_colours(page, [value], d["scale"], float(d["lo"]))
    assert (cell_centres(page, MATRIX, [(r, kept_col)]) == want).all()


@pytest.mark.browser
def test_compare_view_of_tiled_records_draws_a_b_and_their_difference(panel_factory, tiled_logs):
    logdir, tb, _ = tiled_logs
    a, b = stored_part(logdir, "a"), stored_part(logdir, "b")
    d0 = a.part.layout["detail_rows"][0]
    panel = panel_factory(tb)
    page = panel.open("run=a&tag=p&view=compare&runB=b&layer=0&heads=1")
    for role in ("cmp-a", "cmp-b", "cmp-diff"):
        wait_tiles(page, ".compare-view ." + role)
    md = zoom_to(page, ".compare-view .cmp-diff", d0 + 40, 200, 5)
    for role in ("cmp-a", "cmp-b"):
        wait_tiles(page, ".compare-view ." + role)
        assert map_state(page, ".compare-view ." + role)["visible"] == md["visible"]
    r0, r1, c0, c1 = map(int, md["visible"].split(","))
    rows = range(max(r0 + 1, d0), r1 - 1)
    cells = [(r, c) for r in rows for c in range(c0 + 1, c1 - 1)]
    va = a.region(0, [1], (0, N), (0, N), 1)[0]
    vb = b.region(0, [1], (0, N), (0, N), 1)[0]
    ra, rb = np.array([va[rc] for rc in cells]), np.array([vb[rc] for rc in cells])
    assert np.isnan(rb - ra).any() and (np.abs(rb - ra) > 0).any()
    floor = float(md["hi"])
    for role, values, kind, lo, hi, table in (
        ("cmp-a", ra, "log", 0, 1, "sequentialScale"),
        ("cmp-b", rb, "log", 0, 1, "sequentialScale"),
        ("cmp-diff", rb - ra, "signed-sqrt", -floor, floor, "divergingScale"),
    ):
        figure = ".compare-view ." + role
        lo_attr = float(map_state(page, figure)["lo"])
        want = scaled_colours(page, values, kind, lo_attr if kind == "log" else 0, lo, hi, table)
        got = cell_centres(page, figure, cells)
        assert ((want == got).all(axis=1)).all(), role
    r, c = next(rc for rc in cells if not np.isnan(vb[rc] - va[rc]) and vb[rc] != va[rc])
    value, text = hover_cell(page, ".compare-view .cmp-diff", r, c)
    assert value == pytest.approx(float(vb[r, c] - va[r, c]), abs=1e-7)
    assert f"B \u2212 A = {'+' if value > 0 else ''}{value:.4f} (A {va[r, c]:.4f}, B {vb[r, c]:.4f})" in text


def span_scores(attention):
    """span_mean, span_p90 and sink of causal attention `[layers, heads, n, n]`, computed here
    from their definitions (docs/patterns.md): distance i - j; key 0 (the sink) left out and each
    row renormalised; rows with non-sink weight; p90 the smallest distance holding 0.9 of it; sink
    the mean weight on key 0 over rows 1.."""
    layers, heads, n, _ = attention.shape
    i = np.arange(n)[:, None]
    j = np.arange(n)[None, :]
    distance = (i - j).astype(np.float64)
    out = {m: np.zeros((layers, heads)) for m in ("span_mean", "span_p90", "sink")}
    for layer in range(layers):
        for head in range(heads):
            a = attention[layer, head].astype(np.float64)
            rest = a[:, 1:].sum(axis=1)
            valid = rest > 0
            out["span_mean"][layer, head] = ((a[:, 1:] * distance[:, 1:]).sum(axis=1)[valid] / rest[valid]).mean()
            p90 = []
            for row in np.flatnonzero(valid):
                weights = a[row, 1 : row + 1][::-1]  # keys row, row - 1, ..., 1: distance 0, 1, ...
                reached = np.cumsum(weights) >= (0.9 - 1e-6) * rest[row]
                p90.append(int(np.argmax(reached)))
            out["span_p90"][layer, head] = np.mean(p90)
            out["sink"][layer, head] = a[1:, 0].mean()
    return out


@pytest.mark.browser
def test_summary_draws_the_stored_span_and_sink_scores_and_opens_heads(panel_factory, tiled_logs):
    logdir, tb, full = tiled_logs
    panel = panel_factory(tb)
    table = None
    for run, opened in (("a", True), ("probe", False)):
        (record,) = tb_attention.read_attention(str(logdir), run=run)
        truth = span_scores(full[run])
        for metric, values in truth.items():  # stored from the full weights, to 5 decimals
            np.testing.assert_allclose(record.patterns[metric], values, rtol=1e-5, atol=5.1e-6, err_msg=metric)
        page = panel.open("run=%s&tag=p&view=matrix" % run)
        # Open by itself above a map read as tiles; a click away above a short one.
        assert page.eval_on_selector(".span-summary", "e => e.open") == opened
        if not opened:
            page.click(".span-summary > summary")
        page.wait_for_function("() => document.querySelector('.span-summary').dataset.scores === 'stored'")
        table = table or page.evaluate(
            "async () => Array.from((await import('./static/colors.js')).spanScale('light'))"
        )
        check_summary(page, record, truth, table, record.shape[2])
    # A click opens the head in the matrix view, a shift-click in the head view.
    panel.after(lambda: page.click(".ss-cell[data-layer='1'][data-head='2'] .ss-span"))
    assert (panel.attr(".matrix-view", "data-layer"), panel.attr(".matrix-view", "data-heads")) == ("1", "2")
    panel.after(lambda: page.click(".ss-cell[data-layer='0'][data-head='3'] .ss-span", modifiers=["Shift"]))
    assert panel.attr(".tba", "data-view") == "head"


def check_summary(page, record, truth, table, tokens):
    """Every cell of the summary: its scores the stored ones (and numpy's), its colour span_p90's
    on a log scale of tokens (1 .. n), its bar the sink share of the cell's width."""
    cells = page.eval_on_selector_all(".ss-cell", "gs => gs.map((g) => ({...g.dataset}))")
    assert len(cells) == record.shape[0] * record.shape[1]
    fills = page.eval_on_selector_all(".ss-cell .ss-span", "rs => rs.map((r) => getComputedStyle(r).fill)")
    widths = page.eval_on_selector_all(".ss-cell .ss-sink", "rs => rs.map((r) => r.getBBox().width)")
    full_width = page.eval_on_selector(".ss-cell .ss-span", "r => r.getBBox().width")
    for cell, fill, width in zip(cells, fills, widths):
        layer, head = int(cell["layer"]), int(cell["head"])
        for metric, key in (("span_mean", "spanMean"), ("span_p90", "spanP90"), ("sink", "sink")):
            assert float(cell[key]) == pytest.approx(float(record.patterns[metric][layer, head]), rel=1e-6)
            assert float(cell[key]) == pytest.approx(truth[metric][layer, head], rel=1e-5, abs=5.1e-6)
        index = round(np.log10(max(float(cell["spanP90"]), 1)) / np.log10(tokens) * 255)
        assert fill == "rgb(%d, %d, %d)" % tuple(table[3 * index : 3 * index + 3]), (layer, head)
        assert width == pytest.approx(float(cell["sink"]) * full_width, abs=0.01)


@pytest.mark.browser
def test_old_records_draw_whole_and_the_summary_says_they_have_no_span_scores(panel_factory, tensorboard):
    import pathlib

    data = pathlib.Path(__file__).parent / "data"
    for logdir, fragment in (
        (data / "v1_logdir", "run=finetune&tag=probe/store&step=10"),
        (data / "v2_logdir", "run=finetune&tag=probe/top_k"),
    ):
        tb = tensorboard(logdir)
        tb.wait_for(lambda t=tb: "finetune" in t.get_json("/data/plugin/tb_attention/tags")["runs"])
        panel = panel_factory(tb)
        page = panel.open(fragment + "&view=matrix")
        wait_tiles(page)
        assert map_state(page)["tiles"] == "0"  # short: held whole, as before
        assert not page.eval_on_selector(".span-summary", "e => e.open")  # closed on short records
        page.click(".span-summary > summary")
        page.wait_for_function("() => document.querySelector('.span-summary').dataset.scores === 'none'")
        assert "no stored span and sink scores" in page.inner_text(".span-summary .ss-none")
