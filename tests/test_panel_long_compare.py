"""The compare view on long inputs, in headless Chromium against a real `tensorboard` process: A, B
and B - A zoomed together, drawn on their scales, the first token hidden in both; B of other tokens
kept aligned with A and read in its own tokens."""

import numpy as np
import pytest

from bench.llm_attention import llm_tokens
from tests.helpers.browser import cell_colour, hover_cell, log_floor, scaled_colour
from tests.helpers.long_panel import pretty, record, shown, telling_cells, visible, wheel_zoom


def wait_compare_maps(page, attr, value):
    """Wait until every map of the compare view has data-`attr` == value."""
    page.wait_for_function(
        "([a, v]) => [...document.querySelectorAll('.compare-view .heatmap')].every((m) => m.dataset[a] === v)",
        arg=[attr, value],
    )


def open_compare(long_panel, long_logs, run_b, layer, head):
    """(A, B as shown: layer `layer`, head `head` of run sparse512 and of `run_b`, the page): the
    compare view of the two opened, its maps complete. A's dropped keys are NaN (not stored)."""
    a = shown(record(long_logs[0], "sparse512"), layer)[head]
    b = shown(record(long_logs[0], run_b), layer)[head]
    page = long_panel.open(f"run=sparse512&tag=p&view=compare&runB={run_b}&layer={layer}&heads={head}")
    wait_compare_maps(page, "levels", "complete")
    return a, b, page


def maps_state(page, roles=("cmp-a", "cmp-b", "cmp-diff")):
    return [page.eval_on_selector(f".compare-view .{r}", "m => ({...m.dataset})") for r in roles]


@pytest.mark.browser
def test_compare_view_zooms_the_three_maps_together_and_hides_the_sink(long_panel, long_logs):
    # A: a sparse record, B: a dense one of the same tokens in another run (same tag).
    a, b, page = open_compare(long_panel, long_logs, "dense512", 1, 2)
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
    a, b, page = open_compare(long_panel, long_logs, "other512", 0, 1)
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
