"""The matrix, model, compare and patterns views, export and hostile tokens, in headless Chromium
against a real `tensorboard` process."""

import urllib.parse
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from tests.conftest import SEED_TOKENS, seed_record
from tests.helpers.browser import cell_colour, hover_cell, png_ink, scale_colour
from tests.helpers.panel_logs import HOSTILE, HOSTILE_TOKENS, SEED_TAG

pytestmark = pytest.mark.browser


def test_matrix_view_hover_reads_exact_weight(panel, seed_logs):
    page = panel.open("run=finetune&step=100&layer=1&heads=4&view=matrix")
    a = seed_record(seed_logs, step=100).attention[1, 4]
    r, c = SEED_TOKENS.index("went"), SEED_TOKENS.index("store")
    value, text = hover_cell(page, ".matrix-view .heatmap", r, c)
    assert value == pytest.approx(float(a[r, c]), abs=1e-6)
    assert text == f"query \u201cwent\u201d ({r}) \u2192 key \u201cstore\u201d ({c}): {a[r, c]:.4f}"
    assert page.inner_text(".matrix-view figcaption") == "Layer 1, head 4, step 100"
    # The canvas holds each cell's weight in the panel's colour scale: the darkest and lightest
    # cells of a row, and a cell in between.
    row = a[r]
    for col in (int(row.argmax()), int(row.argmin()), c):
        rgba = cell_colour(page, ".matrix-view .heatmap", r, col)
        assert "rgb(%d,%d,%d)" % tuple(rgba[:3]) == scale_colour(page, float(row[col])), col
    assert cell_colour(page, ".matrix-view .heatmap", r, int(row.argmax())) != cell_colour(
        page, ".matrix-view .heatmap", r, int(row.argmin())
    )


def test_model_view_grid_and_click_opens_head(panel):
    page = panel.open("run=finetune&view=model")
    d = page.eval_on_selector(".model-view", "e => ({...e.dataset})")
    assert int(d["cells"]) == 6 * 12
    box = page.eval_on_selector(".mv-canvas", "c => { const b = c.getBoundingClientRect(); return [b.x, b.y]; }")
    step = int(d["cell"]) + int(d["gap"])
    x = box[0] + int(d["labelW"]) + 7 * step + int(d["cell"]) / 2
    y = box[1] + int(d["top"]) + 3 * step + int(d["cell"]) / 2
    panel.after(lambda: page.mouse.click(x, y))
    assert panel.attr(".tba", "data-view") == "head"
    assert panel.attr(".head-view", "data-layer") == "3"
    assert panel.attr(".head-view", "data-heads") == "7"


def test_compare_two_steps_side_by_side_with_difference(panel, seed_tb, seed_logs):
    page = panel.open("run=finetune&step=0&layer=1&heads=2&view=compare")
    assert page.locator(".compare-grid .heatmap").count() == 3
    assert panel.attr(".compare-view", "data-step-b") == "200"
    a0, a2 = seed_record(seed_logs, step=0).attention[1, 2], seed_record(seed_logs, step=200).attention[1, 2]
    r, c = 3, 0
    diff, text = hover_cell(page, ".cmp-diff", r, c)
    assert diff == pytest.approx(float(a2[r, c] - a0[r, c]), abs=1e-6)
    assert abs(diff) > 0.001  # the nudged checkpoints really differ here
    # The difference is drawn on a diverging scale over +-max |B - A| of the head (numpy): this
    # cell and the cells of the largest rise and fall.
    change = a2 - a0
    hi = float(np.abs(change).max())
    for rc in (
        (r, c),
        np.unravel_index(change.argmax(), change.shape),
        np.unravel_index(change.argmin(), change.shape),
    ):
        rgba = cell_colour(page, ".cmp-diff", *rc)
        expected = scale_colour(page, float(change[rc]), lo=-hi, hi=hi, scale="diverging")
        assert "rgb(%d,%d,%d)" % tuple(rgba[:3]) == expected, rc
    va, _ = hover_cell(page, ".cmp-a", r, c)
    vb, _ = hover_cell(page, ".cmp-b", r, c)
    assert (va, vb) == (pytest.approx(float(a0[r, c]), abs=1e-6), pytest.approx(float(a2[r, c]), abs=1e-6))
    # Ranking of changed heads, as /change computes it; a row opens that head.
    page.locator(".change-table tbody tr").first.wait_for()
    change = seed_tb.get_json(
        "/data/plugin/tb_attention/change?run=finetune&tag=%s&step_a=0&step_b=200" % urllib.parse.quote(SEED_TAG)
    )
    first = page.locator(".change-table tbody tr").first.locator("td").all_text_contents()[:3]
    top = change["ranking"][0]
    assert first == [str(top["layer"]), str(top["head"]), f"{top['js']:.4f}"]
    # Same tag in another run.
    with page.expect_request(lambda r: "/layer?" in r.url and "run=baseline" in r.url):
        panel.after(lambda: page.select_option(".run-b", "baseline"))
    assert panel.attr(".compare-view", "data-run-b") == "baseline"
    panel.after(lambda: page.locator(".change-table tbody tr").first.click())
    assert panel.attr(".head-view", "data-heads") is not None


def test_export_png_and_svg(panel, seed_logs, tmp_path):
    page = panel.open("run=finetune&step=0&layer=2&heads=0,1")
    with page.expect_download() as dl:
        page.click(".export-png")
    png = tmp_path / "view.png"
    dl.value.save_as(png)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    # Twice the on-screen size (2x for print), with lines and text on it: not a blank image.
    shown = page.eval_on_selector(".hv-lines", "c => c.getBoundingClientRect().height")
    drawn = png_ink(page, data)
    assert drawn["height"] == pytest.approx(2 * (shown + 8), abs=2)
    assert drawn["width"] > 2 * page.eval_on_selector(".hv-lines", "c => c.getBoundingClientRect().width")
    assert 0.02 < drawn["ink"] < 0.9, drawn
    assert dl.value.suggested_filename == "attention_finetune_probe-store_step0_layer2_head.png"
    with page.expect_download() as dl:
        page.click(".export-svg")
    svg_path = tmp_path / "view.svg"
    dl.value.save_as(svg_path)
    root = ET.parse(svg_path).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == ns + "svg"
    assert [t.text for t in root.findall(f".//{ns}text")] == SEED_TOKENS * 2
    # Every line of heads 0 and 1 at or above the view's threshold, each as opaque as its weight.
    a = seed_record(seed_logs).attention[2]
    threshold = panel.number(".head-view", "data-line-threshold")
    lines = {
        (int(g.get("data-head")), int(line.get("data-q")), int(line.get("data-k"))): float(line.get("stroke-opacity"))
        for g in root.findall(f"{ns}g[@data-head]")
        for line in g.findall(f"{ns}line")
    }
    expected = {(h, i, j) for h in (0, 1) for i, j in zip(*np.nonzero(a[h] >= np.float32(threshold)))}
    assert set(lines) == expected and len(lines) == int(panel.attr(".head-view", "data-lines"))
    for (h, i, j), opacity in lines.items():
        assert opacity == pytest.approx(float(a[h, i, j]), abs=5e-4)
    # Heat-map views export too.
    panel.after(lambda: page.click(".tab[data-view='matrix']"))
    with page.expect_download() as dl:
        page.click(".export-svg")
    dl.value.save_as(svg_path)
    image = ET.parse(svg_path).getroot().find(f".//{ns}image")
    assert image is not None and image.get("href").startswith("data:image/png;base64,")
    import base64

    cells = png_ink(page, base64.b64decode(image.get("href").split(",", 1)[1]))
    assert cells["width"] == cells["height"] == len(SEED_TOKENS) and cells["ink"] > 0.1  # one pixel per cell


def test_hostile_tokens_render_as_text_and_run_nothing(panel, tmp_path):
    page = panel.open("run=hostile")
    assert panel.texts(".hv-left .tok-text") == HOSTILE_TOKENS
    assert page.locator(".tba img, .tba script, .tba b").count() == 0
    page.hover(".hv-left .tok[data-index='1']")
    assert HOSTILE in page.inner_text(".hover-details")
    with page.expect_download() as dl:
        page.click(".export-svg")
    dl.value.save_as(tmp_path / "x.svg")
    texts = [t.text for t in ET.parse(tmp_path / "x.svg").getroot().iter("{http://www.w3.org/2000/svg}text")]
    assert HOSTILE in texts
    panel.after(lambda: page.click(".tab[data-view='matrix']"))
    _, text = hover_cell(page, ".matrix-view .heatmap", 1, 4)
    assert HOSTILE in text and "<script>alert(2)</script>" in text
    # Nothing became an element: the one image this view may hold is none (the check would see it:
    # a real <img> appended here is counted).
    assert (
        page.evaluate(
            "document.querySelectorAll('img, b').length"
            " + [...document.scripts].filter(s => s.text.includes('alert')).length"
        )
        == 0
    )
    assert (
        page.evaluate(
            "(() => { const i = document.createElement('img'); document.body.append(i); "
            "const n = document.querySelectorAll('img').length; i.remove(); return n; })()"
        )
        == 1
    )
    # panel fixture: no dialog fired, no console error
