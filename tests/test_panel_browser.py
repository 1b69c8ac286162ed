"""The Attention panel in headless Chromium against a real `tensorboard` process, on attention
logged with the real writer (packaged MiniLM on the seed pair; hostile tokens; 512 tokens)."""

import json
import statistics
import struct
import urllib.parse
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from tests.conftest import SEED_A, SEED_B, SEED_TOKENS
from tests.panel_helpers import (
    HOSTILE, HOSTILE_TOKENS, HOVER_THRESHOLD, SEED_TAG, launch_chromium, line_count, record,
    write_logs, write_steps, write_unreadable_run,
)
from tests.tb_process import TensorBoardProcess

pytestmark = pytest.mark.browser
sync_api = pytest.importorskip("playwright.sync_api")

IDLE = "() => { const r = document.querySelector('.tba'); return r && r.dataset.renders && !r.dataset.busy; }"


@pytest.fixture(scope="module")
def logs(tmp_path_factory, minilm):
    logdir = tmp_path_factory.mktemp("panel_logs")
    tokens, sentence_b = write_logs(logdir, minilm, SEED_A, SEED_B)
    assert tokens == SEED_TOKENS
    return logdir, sentence_b


@pytest.fixture(scope="module")
def tb(logs):
    proc = TensorBoardProcess(logs[0]).start()
    try:
        proc.wait_for(lambda: {"finetune", "baseline", "hostile", "long"} <= set(
            proc.get_json("/data/plugin/tb_attention/tags")["runs"]))
        proc.wait_for(lambda: len(proc.get_json(
            "/data/plugin/tb_attention/steps?run=finetune&tag=" + urllib.parse.quote(SEED_TAG))["steps"]) == 3)
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()


class Panel:
    """One browser context (fresh storage) on the panel; records console errors and dialogs."""

    def __init__(self, browser, tb):
        self.tb = tb
        self.context = browser.new_context(viewport={"width": 1300, "height": 900}, accept_downloads=True)
        self.page = self.context.new_page()
        self.errors, self.dialogs = [], []
        self.page.on("console", lambda m: m.type == "error" and "favicon.ico" not in (m.location or {}).get("url", "")
                     and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))

    def open(self, fragment=""):
        self.page.goto(self.tb.url + "/data/plugin_entry.html?name=tb_attention#" + fragment)
        self.page.wait_for_function("window.__tbAttention")
        self.page.evaluate("window.__tbAttention.ready")
        self.idle()
        return self.page

    def idle(self):
        self.page.wait_for_function(IDLE)

    def renders(self):
        return int(self.page.get_attribute(".tba", "data-renders"))

    def after(self, action, renders=None):
        """Run action() and wait until the panel rendered again and is idle."""
        before = self.renders() if renders is None else renders
        action()
        self.page.wait_for_function(
            "n => { const r = document.querySelector('.tba'); return +r.dataset.renders > n && !r.dataset.busy; }", arg=before)

    def attr(self, selector, name):
        return self.page.get_attribute(selector, name)

    def texts(self, selector):
        return self.page.eval_on_selector_all(selector, "els => els.map(e => e.textContent)")

    def marks(self):
        return self.page.evaluate("performance.getEntriesByName('tb-attention:head-view-drawn').length")


@pytest.fixture
def panel(browser, tb):
    p = Panel(browser, tb)
    yield p
    p.context.close()
    assert p.errors == [], p.errors
    assert p.dialogs == [], p.dialogs


def rec(logs, run="finetune", step=0, tag=SEED_TAG):
    return record(logs[0], run, tag, step)


# -- inside TensorBoard ------------------------------------------------------------------------

def test_tab_appears_tokens_render_and_theme_follows_tensorboard(panel, tb):
    page = panel.page
    page.goto(tb.url + "/#tb_attention")
    page.get_by_text("Attention", exact=True).first.wait_for()
    frame = page.frame_locator("iframe")
    left = frame.locator(".hv-left .tok-text")
    left.nth(len(SEED_TOKENS) - 1).wait_for()
    assert left.all_text_contents() == SEED_TOKENS
    assert frame.locator(".hv-right .tok-text").all_text_contents() == SEED_TOKENS
    assert frame.locator("html").get_attribute("data-theme") == "light"
    page.evaluate("document.body.classList.add('dark-mode')")  # what TensorBoard's theme toggle does
    frame.locator("html[data-theme='dark']").wait_for()
    bg = frame.locator("body").evaluate("b => getComputedStyle(b).backgroundColor")
    assert bg == "rgb(48, 48, 48)"


# -- head view ---------------------------------------------------------------------------------

def test_layer_change_fetches_that_layer_and_redraws(panel, logs):
    page = panel.open("run=finetune&step=0")
    a = rec(logs).attention
    assert int(panel.attr(".head-view", "data-lines")) == line_count(a[0])
    marks = panel.marks()
    with page.expect_request(lambda r: "/layer?" in r.url and "layer=3" in r.url and "step=0" in r.url):
        panel.after(lambda: page.select_option(".layer-select", "3"))
    assert panel.attr(".head-view", "data-layer") == "3"
    assert int(panel.attr(".head-view", "data-lines")) == line_count(a[3])
    assert line_count(a[3]) != line_count(a[0])
    assert panel.marks() == marks + 1


def test_head_toggle_and_solo(panel, logs):
    page = panel.open("run=finetune&step=0&layer=1")
    a = rec(logs).attention[1]
    panel.after(lambda: page.click(".head-square[data-head='3']"))
    assert page.get_attribute(".head-square[data-head='3']", "aria-pressed") == "false"
    others = [h for h in range(12) if h != 3]
    assert panel.attr(".head-view", "data-heads") == ",".join(map(str, others))
    assert int(panel.attr(".head-view", "data-lines")) == line_count(a, others)
    n = panel.renders()
    page.dblclick(".head-square[data-head='5']")
    page.wait_for_function("() => document.querySelector('.head-view').dataset.heads === '5'")
    panel.idle()
    assert panel.renders() > n
    pressed = page.eval_on_selector_all(".head-square", "els => els.map(e => e.getAttribute('aria-pressed'))")
    assert pressed == ["true" if h == 5 else "false" for h in range(12)]
    assert int(panel.attr(".head-view", "data-lines")) == line_count(a, [5])
    panel.after(lambda: page.click(".all-heads"))
    assert int(panel.attr(".head-view", "data-lines")) == line_count(a)


def test_hover_shows_only_that_tokens_lines_with_weights(panel, logs):
    page = panel.open("run=finetune&step=0&layer=2")
    a = rec(logs).attention[2]
    q = SEED_TOKENS.index("store")
    page.hover(f".hv-left .tok[data-index='{q}']")
    assert panel.attr(".head-view", "data-hover") == f"left:{q}"
    assert int(panel.attr(".head-view", "data-hover-lines")) == line_count(a, q=(q, q + 1), threshold=HOVER_THRESHOLD)
    assert page.eval_on_selector(".hv-lines", "c => getComputedStyle(c).opacity") == "0"
    mean = a[:, q, :].mean(axis=0)
    shown = page.eval_on_selector_all(".hv-right .tok-weight", "els => els.map(e => e.textContent)")
    for k, text in enumerate(shown):
        if mean[k] >= 0.005 + 1e-6:
            assert text == f"{mean[k]:.2f}", (k, text, mean[k])
        elif mean[k] < 0.005 - 1e-6:
            assert text == ""
    assert page.inner_text(".hover-details").startswith("\u201cstore\u201d (%d) attends to (mean of 12 heads)" % q)
    # The overlay canvas really has the hovered lines and the base layer is hidden.
    k = SEED_TOKENS.index("[SEP]")
    page.hover(f".hv-right .tok[data-index='{k}']")
    assert panel.attr(".head-view", "data-hover") == f"right:{k}"
    assert int(panel.attr(".head-view", "data-hover-lines")) == line_count(a, k=(k, k + 1), threshold=HOVER_THRESHOLD)
    durations = page.evaluate("performance.getEntriesByName('tb-attention:hover').map(e => e.duration)")
    assert len(durations) == 2
    page.mouse.move(1250, 880)
    page.wait_for_function("() => !document.querySelector('.head-view').dataset.hover")
    assert page.eval_on_selector(".hv-lines", "c => getComputedStyle(c).opacity") == "1"


def test_sentence_filter(panel, logs):
    _, sb = logs
    page = panel.open("run=finetune&step=0&layer=4")
    a = rec(logs).attention[4]
    panel.after(lambda: page.click(".filter-bar [data-filter='ab']"))
    assert panel.texts(".hv-left .tok-text") == SEED_TOKENS[:sb]
    assert panel.texts(".hv-right .tok-text") == SEED_TOKENS[sb:]
    assert int(panel.attr(".head-view", "data-lines")) == line_count(a, q=(0, sb), k=(sb, None))
    panel.after(lambda: page.click(".filter-bar [data-filter='bb']"))
    assert panel.texts(".hv-left .tok-text") == SEED_TOKENS[sb:]
    assert int(panel.attr(".head-view", "data-lines")) == line_count(a, q=(sb, None), k=(sb, None))
    assert page.get_attribute(".filter-bar [data-filter='bb']", "aria-pressed") == "true"


LINE_ENDS = """([side, indices]) => {
    // Alpha of the hover overlay where a line would end at each token of `side` (the canvas edge
    // next to that column, at the vertical centre of the token's row as laid out in the DOM).
    const c = document.querySelector('.hv-overlay');
    const box = c.getBoundingClientRect();
    const scale = c.width / box.width;
    const x = side === 'right' ? c.width - Math.ceil(3 * scale) : Math.ceil(3 * scale);
    const g = c.getContext('2d');
    return indices.map((i) => {
        const t = document.querySelector(`.hv-${side} .tok[data-index='${i}']`).getBoundingClientRect();
        const y = Math.round((t.top + t.height / 2 - box.top) * scale);
        return g.getImageData(x, y, 1, 1).data[3];
    });
}"""


def test_sentences_apart_and_lines_land_on_their_tokens(panel, logs):
    _, sb = logs
    a = rec(logs).attention[2]
    n = len(SEED_TOKENS)
    q, k = sb + 2, 5

    def ends_at(qs, ks, head):
        """Per (query, key): True where a clear line is drawn (weight >= 0.05), False where none is
        (below the hover threshold), None for faint lines a pixel probe cannot judge reliably."""
        w = [float(a[head, i, j]) for i in qs for j in ks]
        return [True if x >= 0.05 else False if x < HOVER_THRESHOLD else None for x in w]

    def mixed(flags):
        return True in flags and False in flags

    # One head whose lines from q (in B) clearly reach keys of A and of B but miss others, and whose
    # lines into k (in A) come from some queries only: a misplaced line then shows.
    head = next(h for h in range(a.shape[0])
                if True in ends_at([q], range(sb), h) and True in ends_at([q], range(sb, n), h)
                and mixed(ends_at([q], range(n), h)) and mixed(ends_at(range(n), [k], h)))
    page = panel.open(f"run=finetune&step=0&layer=2&heads={head}")
    for side in ("left", "right"):
        assert page.locator(f".hv-{side} .hv-gap").count() == 1
        last_a, first_b = (page.locator(f".hv-{side} .tok[data-index='{i}']").bounding_box() for i in (sb - 1, sb))
        assert first_b["y"] - (last_a["y"] + last_a["height"]) >= 10  # a visible gap between A and B

    def check(seen, want):
        assert [w for w in want if w is not None] == [alpha > 0 for alpha, w in zip(seen, want) if w is not None]

    # Hovering a query of sentence B: lines end at exactly the keys it attends to, in A and in B.
    page.hover(f".hv-left .tok[data-index='{q}']")
    check(page.evaluate(LINE_ENDS, ["right", list(range(n))]), ends_at([q], range(n), head))
    # And into a key of sentence A, from queries on both sides of the gap.
    page.hover(f".hv-right .tok[data-index='{k}']")
    check(page.evaluate(LINE_ENDS, ["left", list(range(n))]), ends_at(range(n), [k], head))
    # The sentence filter shows one sentence per column: no divider.
    panel.after(lambda: page.click(".filter-bar [data-filter='ab']"))
    assert page.locator(".hv-gap").count() == 0


def test_toolbar_keeps_reload_with_run_and_tag_when_narrow(panel):
    page = panel.open("run=finetune")
    for width in (1300, 1000, 760):
        page.set_viewport_size({"width": width, "height": 900})
        run, refresh = page.locator(".run-select").bounding_box(), page.locator(".refresh").bounding_box()
        assert abs((run["y"] + run["height"] / 2) - (refresh["y"] + refresh["height"] / 2)) < 4, width
        assert refresh["x"] > run["x"]


def test_step_change_by_keys_and_buttons_keeps_layer_heads_and_view(panel, logs):
    page = panel.open("run=finetune&step=0&layer=2&heads=1,4")
    page.click(".hover-details")  # focus the panel, not a form control
    with page.expect_request(lambda r: "/layer?" in r.url and "step=100" in r.url and "layer=2" in r.url):
        panel.after(lambda: page.keyboard.press("ArrowRight"))
    assert page.inner_text(".step-label").startswith("step 100")
    assert panel.attr(".head-view", "data-heads") == "1,4"
    assert page.input_value(".layer-select") == "2"
    a = rec(logs, step=100).attention[2]
    assert int(panel.attr(".head-view", "data-lines")) == line_count(a, [1, 4])
    panel.after(lambda: page.click(".step-next"))
    assert panel.attr(".head-view", "data-step") == "200"
    assert page.is_disabled(".step-next")
    panel.after(lambda: page.keyboard.press("ArrowLeft"))
    assert panel.attr(".head-view", "data-step") == "100"
    assert page.input_value(".step-slider") == "1"


def test_selection_survives_reload(panel):
    page = panel.open("run=finetune")
    panel.after(lambda: page.select_option(".layer-select", "4"))
    panel.after(lambda: page.click(".tab[data-view='matrix']"))
    panel.after(lambda: page.click(".head-square[data-head='0']"))
    page.reload()
    page.wait_for_function("window.__tbAttention")
    page.evaluate("window.__tbAttention.ready")
    panel.idle()
    assert page.input_value(".layer-select") == "4"
    assert panel.attr(".matrix-view", "data-heads") == ",".join(map(str, range(1, 12)))
    # TensorBoard recreates the frame without its fragment: localStorage carries the state.
    page.goto(panel.tb.url + "/data/plugin_entry.html?name=tb_attention")
    page.wait_for_function("window.__tbAttention")
    page.evaluate("window.__tbAttention.ready")
    panel.idle()
    assert panel.attr(".tba", "data-view") == "matrix"
    assert panel.attr(".matrix-view", "data-layer") == "4"


# -- other views -------------------------------------------------------------------------------

def hover_cell(page, figure, r, c):
    box = page.eval_on_selector(figure + " .hm-overlay", "c => { const b = c.getBoundingClientRect(); return [b.x, b.y]; }")
    # The heat map's own geometry is on the Heatmap object; read it through the canvas layout.
    cell, left, top = page.evaluate(
        "f => { const m = document.querySelector(f); return [+m.dataset.cell, +m.dataset.left, +m.dataset.top]; }", figure)
    page.mouse.move(box[0] + left + (c + 0.5) * cell, box[1] + top + (r + 0.5) * cell)
    page.wait_for_function("([f, v]) => document.querySelector(f).dataset.hover === v", arg=[figure, f"{r},{c}"])
    return float(page.get_attribute(figure, "data-value")), page.inner_text(figure + " .hm-readout")


def test_matrix_view_hover_reads_exact_weight(panel, logs):
    page = panel.open("run=finetune&step=100&layer=1&heads=4&view=matrix")
    a = rec(logs, step=100).attention[1, 4]
    r, c = SEED_TOKENS.index("went"), SEED_TOKENS.index("store")
    value, text = hover_cell(page, ".matrix-view .heatmap", r, c)
    assert value == pytest.approx(float(a[r, c]), abs=1e-6)
    assert text == f"query \u201cwent\u201d ({r}) \u2192 key \u201cstore\u201d ({c}): {a[r, c]:.4f}"
    assert page.inner_text(".matrix-view figcaption") == "Layer 1, head 4, step 100"


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


def test_compare_two_steps_side_by_side_with_difference(panel, tb, logs):
    page = panel.open("run=finetune&step=0&layer=1&heads=2&view=compare")
    assert page.locator(".compare-grid .heatmap").count() == 3
    assert panel.attr(".compare-view", "data-step-b") == "200"
    a0, a2 = rec(logs, step=0).attention[1, 2], rec(logs, step=200).attention[1, 2]
    r, c = 3, 0
    diff, text = hover_cell(page, ".cmp-diff", r, c)
    assert diff == pytest.approx(float(a2[r, c] - a0[r, c]), abs=1e-6)
    assert abs(diff) > 0.001  # the nudged checkpoints really differ here
    va, _ = hover_cell(page, ".cmp-a", r, c)
    vb, _ = hover_cell(page, ".cmp-b", r, c)
    assert (va, vb) == (pytest.approx(float(a0[r, c]), abs=1e-6), pytest.approx(float(a2[r, c]), abs=1e-6))
    # Ranking of changed heads, as /change computes it; a row opens that head.
    page.locator(".change-table tbody tr").first.wait_for()
    change = tb.get_json("/data/plugin/tb_attention/change?run=finetune&tag=%s&step_a=0&step_b=200" % urllib.parse.quote(SEED_TAG))
    first = page.locator(".change-table tbody tr").first.locator("td").all_text_contents()[:3]
    top = change["ranking"][0]
    assert first == [str(top["layer"]), str(top["head"]), f"{top['js']:.4f}"]
    # Same tag in another run.
    with page.expect_request(lambda r: "/layer?" in r.url and "run=baseline" in r.url):
        panel.after(lambda: page.select_option(".run-b", "baseline"))
    assert panel.attr(".compare-view", "data-run-b") == "baseline"
    panel.after(lambda: page.locator(".change-table tbody tr").first.click())
    assert panel.attr(".head-view", "data-heads") is not None


def test_patterns_view_table_grid_chart_and_open(panel, logs):
    from tb_attention.patterns import label_heads

    r = rec(logs, step=200)
    if r.patterns is None:
        pytest.fail("the seed records were logged without pattern scores")
    page = panel.open("run=finetune&step=200&view=patterns")
    assert page.locator(".patterns-table tbody tr").count() == 72
    assert page.locator(".pg-cell").count() == 72
    panel.after(lambda: page.click("button.sort[data-sort='previous_token']"))
    prev = r.patterns["previous_token"]
    l, h = np.unravel_index(np.nanargmax(prev), prev.shape)
    first = page.locator(".patterns-table tbody tr").first
    assert (first.get_attribute("data-layer"), first.get_attribute("data-head")) == (str(l), str(h))
    labels = label_heads({k: v for k, v in r.patterns.items()})
    panel.after(lambda: page.select_option(".label-filter", "previous_token"))
    assert page.locator(".patterns-table tbody tr").count() == int((labels == "previous_token").sum()) >= 1
    # The chart follows the chosen head over the three logged steps.
    panel.after(lambda: first.click())
    assert page.get_attribute(".pattern-chart-box", "data-points") == "3"
    panel.after(lambda: page.click(f".pg-cell[data-layer='{l}'][data-head='{h}']"))
    assert panel.attr(".head-view", "data-layer") == str(l)
    assert panel.attr(".head-view", "data-heads") == str(h)


# -- export, safety, scale, states -------------------------------------------------------------

def test_export_png_and_svg(panel, tmp_path):
    page = panel.open("run=finetune&step=0&layer=2&heads=0,1")
    with page.expect_download() as dl:
        page.click(".export-png")
    png = tmp_path / "view.png"
    dl.value.save_as(png)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert width > 300 and height > 300 and len(data) > 5000
    assert dl.value.suggested_filename.endswith(".png")
    with page.expect_download() as dl:
        page.click(".export-svg")
    svg_path = tmp_path / "view.svg"
    dl.value.save_as(svg_path)
    root = ET.parse(svg_path).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == ns + "svg"
    assert len(root.findall(f".//{ns}line")) == int(panel.attr(".head-view", "data-lines"))
    assert [t.text for t in root.findall(f".//{ns}text")] == SEED_TOKENS * 2
    # Heat-map views export too.
    panel.after(lambda: page.click(".tab[data-view='matrix']"))
    with page.expect_download() as dl:
        page.click(".export-svg")
    dl.value.save_as(svg_path)
    assert ET.parse(svg_path).getroot().find(f".//{ns}image") is not None


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
    page.wait_for_timeout(200)
    assert page.evaluate("document.querySelectorAll('img').length") == 0
    # panel fixture: no dialog fired, no console error


def test_512_tokens_stay_interactive(panel, logs):
    page = panel.open("run=long")
    a = rec(logs, run="long", tag="long").attention[0]
    assert page.locator(".hv-left .tok").count() == 512
    assert int(panel.attr(".head-view", "data-lines")) == line_count(a)
    for q in (3, 100, 200, 300, 400, 10, 50, 250, 350, 450):
        page.evaluate("q => document.querySelector(`.hv-left .tok[data-index='${q}']`).scrollIntoView({block: 'center'})", q)
        page.hover(f".hv-left .tok[data-index='{q}']")
        assert panel.attr(".head-view", "data-hover") == f"left:{q}"
    durations = page.evaluate("performance.getEntriesByName('tb-attention:hover').map(e => e.duration)")
    assert len(durations) >= 10
    assert statistics.median(durations) <= 16, durations
    assert max(durations) <= 50, durations


def test_error_state_inside_the_panel(panel):
    page = panel.page
    # A layer the server cannot serve: its JSON error must show in the panel, not in a console.
    page.route("**/layer?*", lambda route: route.fulfill(
        status=422, content_type="application/json", body=json.dumps({"error": "stored attention record cannot be read: test"})))
    panel.open("run=finetune")
    assert "stored attention record cannot be read" in page.inner_text(".status.error")
    panel.errors = [e for e in panel.errors if "422" not in e]  # the browser logs the failed fetch itself


def test_empty_state_shows_how_to_log(browser, tmp_path, tensorboard):
    empty = tensorboard(tmp_path)
    p = Panel(browser, empty)
    try:
        page = p.open()
        code = page.inner_text(".empty pre")
        assert 'writer = SummaryWriter("runs/x")' in code
        assert "out = model(**batch, output_attentions=True)" in code
        assert 'tb_attention.add_attention(writer, "probe", out.attentions, tokens, global_step=step)' in code
        assert p.errors == [] and p.dialogs == []
    finally:
        p.context.close()


# -- runs, tags and steps that fail or change while the panel is open --------------------------

TB_ATTENTION = "/data/plugin/tb_attention"
POLL_MS = 30000  # frontend/app.js POLL_MS


def served_tags(tb):
    return {run: sorted(tags) for run, tags in tb.get_json(TB_ATTENTION + "/tags")["runs"].items()}


def served_step_list(tb, run, tag):
    query = urllib.parse.urlencode({"run": run, "tag": tag})
    return [s["step"] for s in tb.get_json(TB_ATTENTION + "/steps?" + query)["steps"]]


def options(page, selector):
    return page.eval_on_selector_all(selector + " option", "els => els.map(e => e.value)")


def open_until(panel, fragment, ready):
    """Open the panel and wait for the `ready` page condition (not for a drawn view)."""
    page = panel.page
    page.goto(panel.tb.url + "/data/plugin_entry.html?name=tb_attention#" + fragment)
    page.wait_for_function("window.__tbAttention")
    page.evaluate("window.__tbAttention.ready")
    page.wait_for_function(ready, timeout=15000)
    return page


def test_first_run_without_readable_steps_keeps_run_and_tag_selectable(browser, tmp_path, tensorboard):
    # "a_bad" sorts first and its only record's header is not JSON: the panel opens on it.
    write_unreadable_run(tmp_path / "a_bad", "p")
    write_steps(tmp_path / "b_good", "p", [0, 5])
    tb = tensorboard(tmp_path)
    tb.wait_for(lambda: served_tags(tb) == {"a_bad": ["p"], "b_good": ["p"]} and served_step_list(tb, "b_good", "p") == [0, 5])
    assert served_step_list(tb, "a_bad", "p") == []
    panel = Panel(browser, tb)
    try:
        page = open_until(panel, "", "() => { const s = document.querySelector('.status.error'); return s && !s.hidden; }")
        assert page.inner_text(".status.error") == "a_bad / p has no readable steps."
        assert options(page, ".run-select") == ["a_bad", "b_good"]
        assert options(page, ".tag-select") == ["p"]
        assert page.input_value(".run-select") == "a_bad"
        assert page.is_visible(".run-select") and page.is_visible(".tag-select")
        assert page.locator(".head-view").count() == 0
        # The user switches to the readable run: it draws.
        panel.after(lambda: page.select_option(".run-select", "b_good"))
        assert panel.attr(".head-view", "data-step") == "5"
        assert page.inner_text(".step-label") == "step 5 \u00b7 2/2"
        assert page.is_hidden(".status")
        # And back: the message again, with the selects still there.
        panel.after(lambda: page.select_option(".run-select", "a_bad"))
        assert page.inner_text(".status.error") == "a_bad / p has no readable steps."
        assert options(page, ".run-select") == ["a_bad", "b_good"]
        assert page.locator(".head-view").count() == 0
        assert panel.errors == [] and panel.dialogs == []
    finally:
        panel.context.close()


def test_failing_steps_request_keeps_run_and_tag_selectable(panel):
    page = panel.page
    # "baseline" sorts first; its /steps fails on the server.
    page.route("**/steps?*run=baseline*", lambda route: route.fulfill(
        status=500, content_type="application/json", body=json.dumps({"error": "test failure"})))
    try:
        open_until(panel, "", "() => { const s = document.querySelector('.status.error'); return s && !s.hidden; }")
        assert page.inner_text(".status.error").startswith(f"Cannot load steps of baseline / {SEED_TAG}")
        assert options(page, ".run-select") == ["baseline", "finetune", "hostile", "long"]
        assert options(page, ".tag-select") == [SEED_TAG]
        panel.after(lambda: page.select_option(".run-select", "finetune"))
        assert panel.attr(".head-view", "data-step") == "200"
        assert page.input_value(".run-select") == "finetune"
    finally:
        panel.errors = [e for e in panel.errors if "500" not in e]  # the browser logs the failed fetch itself


def test_poll_shows_new_runs_and_tags(browser, tmp_path, tensorboard):
    write_steps(tmp_path / "r1", "p", [0, 1])
    tb = tensorboard(tmp_path)
    tb.wait_for(lambda: served_step_list(tb, "r1", "p") == [0, 1])
    panel = Panel(browser, tb)
    try:
        page = panel.page
        page.clock.install()  # time runs as usual; fast_forward reaches the 30 s poll at once
        panel.open("run=r1&tag=p&step=0")
        assert options(page, ".run-select") == ["r1"] and options(page, ".tag-select") == ["p"]
        renders = panel.renders()
        # While the page is open: a new run, and a new tag in the shown run (its shown tag keeps
        # its steps, so their count does not change).
        write_steps(tmp_path / "r2", "p", [0])
        write_steps(tmp_path / "r1", "q", [3])
        tb.wait_for(lambda: served_tags(tb) == {"r1": ["p", "q"], "r2": ["p"]})
        page.clock.fast_forward(POLL_MS + 1000)
        page.wait_for_function("() => document.querySelectorAll('.run-select option').length === 2", timeout=10000)
        assert options(page, ".run-select") == ["r1", "r2"]
        assert options(page, ".tag-select") == ["p", "q"]
        # The poll only refreshed the controls: same run, tag and step, no redraw.
        assert page.input_value(".run-select") == "r1" and page.input_value(".tag-select") == "p"
        assert page.inner_text(".step-label") == "step 0 \u00b7 1/2"
        assert panel.renders() == renders
        panel.after(lambda: page.select_option(".tag-select", "q"))
        assert panel.attr(".head-view", "data-step") == "3"
        panel.after(lambda: page.select_option(".run-select", "r2"))
        assert panel.attr(".head-view", "data-step") == "0"
        assert panel.errors == [] and panel.dialogs == []
    finally:
        panel.context.close()


def test_poll_shows_new_steps_when_sampling_keeps_their_count(browser, tmp_path, tensorboard):
    # TensorBoard keeps one step per tag (always the latest): the count stays 1, the step changes
    # and the shown step is dropped.
    write_steps(tmp_path / "r1", "p", [0])
    tb = tensorboard(tmp_path, extra_args=["--samples_per_plugin=tb_attention=1"])
    tb.wait_for(lambda: served_step_list(tb, "r1", "p") == [0])
    panel = Panel(browser, tb)
    try:
        page = panel.page
        page.clock.install()
        panel.open("run=r1&tag=p")
        assert page.inner_text(".step-label") == "step 0 \u00b7 1/1"
        write_steps(tmp_path / "r1", "p", [7])
        tb.wait_for(lambda: served_step_list(tb, "r1", "p") == [7])
        page.clock.fast_forward(POLL_MS + 1000)
        page.wait_for_function("() => document.querySelector('.head-view').dataset.step === '7'", timeout=10000)
        panel.idle()
        assert page.inner_text(".step-label") == "step 7 \u00b7 1/1"
        assert page.input_value(".step-slider") == "0"
        assert page.get_attribute(".step-slider", "max") == "0"
        assert page.is_hidden(".status")
        assert panel.errors == [] and panel.dialogs == []
    finally:
        panel.context.close()


def test_first_attention_appears_in_an_empty_panel(browser, tmp_path, tensorboard):
    """Empty state, then a training run logs its first steps: the poll draws them."""
    tb = tensorboard(tmp_path)
    panel = Panel(browser, tb)
    try:
        page = panel.page
        page.clock.install()
        panel.open()
        page.wait_for_selector(".empty")
        write_steps(tmp_path / "r1", "p", [0, 1])
        tb.wait_for(lambda: served_step_list(tb, "r1", "p") == [0, 1])
        page.clock.fast_forward(POLL_MS + 1000)
        page.wait_for_selector(".head-view[data-lines]", timeout=20000)
        assert page.query_selector(".empty") is None
        assert options(page, ".run-select") == ["r1"]
        assert panel.attr(".head-view", "data-step") == "1"
        assert panel.errors == [] and panel.dialogs == []
    finally:
        panel.context.close()
