"""The panel in headless Debian Chromium, driven by playwright: one browser per test session,
a fresh context per test, and readers of what the page shows (attributes, canvas pixels)."""

import pytest
from playwright import sync_api

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
IDLE = "() => { const r = document.querySelector('.tba'); return r && r.dataset.renders && !r.dataset.busy; }"


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)


class Panel:
    """One browser context (fresh storage) on the panel; records console errors and dialogs."""

    def __init__(self, browser, tb):
        self.tb = tb
        self.context = browser.new_context(viewport={"width": 1300, "height": 900}, accept_downloads=True)
        self.page = self.context.new_page()
        self.errors, self.dialogs = [], []
        self.page.on(
            "console",
            lambda m: (
                m.type == "error"
                and "favicon.ico" not in (m.location or {}).get("url", "")
                and self.errors.append(m.text)
            ),
        )
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))

    def open(self, fragment=""):
        if "plugin_entry.html" in self.page.url:
            self.page.goto("about:blank")  # a new fragment alone would not reload the panel
        self.page.goto(self.tb.url + "/data/plugin_entry.html?name=tb_attention#" + fragment)
        self.page.wait_for_function("window.__tbAttention")
        self.page.evaluate("window.__tbAttention.ready")
        self.idle()
        return self.page

    def open_until(self, fragment, ready):
        """Open the panel and wait for the `ready` page condition (not for a drawn view)."""
        self.page.goto(self.tb.url + "/data/plugin_entry.html?name=tb_attention#" + fragment)
        self.page.wait_for_function("window.__tbAttention")
        self.page.evaluate("window.__tbAttention.ready")
        self.page.wait_for_function(ready, timeout=15000)
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
            "n => { const r = document.querySelector('.tba'); return +r.dataset.renders > n && !r.dataset.busy; }",
            arg=before,
        )

    def attr(self, selector, name):
        return self.page.get_attribute(selector, name)

    def number(self, selector, name):
        return float(self.page.get_attribute(selector, name))

    def texts(self, selector):
        return self.page.eval_on_selector_all(selector, "els => els.map(e => e.textContent)")

    def options(self, selector):
        return self.page.eval_on_selector_all(selector + " option", "els => els.map(e => e.value)")

    def marks(self, name="tb-attention:head-view-drawn"):
        return self.page.evaluate("n => performance.getEntriesByName(n).length", name)

    def pixel(self, selector, x, y):
        """RGBA of a canvas at CSS pixel (x, y) of its box (device pixels scaled in)."""
        return self.page.eval_on_selector(selector, PIXEL, [x, y])

    def close(self):
        self.context.close()


PIXEL = """(c, [x, y]) => {
    const box = c.getBoundingClientRect();
    const sx = c.width / box.width, sy = c.height / box.height;
    return Array.from(c.getContext('2d').getImageData(Math.floor(x * sx), Math.floor(y * sy), 1, 1).data);
}"""


PNG_INK = """async ([b64, bg]) => {
    // Size of a PNG and the share of its pixels that differ from the background colour.
    const img = new Image();
    img.src = 'data:image/png;base64,' + b64;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.naturalWidth; c.height = img.naturalHeight;
    const g = c.getContext('2d');
    g.drawImage(img, 0, 0);
    const px = g.getImageData(0, 0, c.width, c.height).data;
    let ink = 0;
    for (let i = 0; i < px.length; i += 4) {
        if (Math.abs(px[i] - bg[0]) + Math.abs(px[i + 1] - bg[1]) + Math.abs(px[i + 2] - bg[2]) > 30) ink++;
    }
    return {width: c.width, height: c.height, ink: ink / (px.length / 4)};
}"""


def png_ink(page, data, background=(255, 255, 255)):
    """{width, height, ink}: a PNG's size and the share of pixels unlike the background, decoded
    by the browser."""
    import base64

    return page.evaluate(PNG_INK, [base64.b64encode(data).decode("ascii"), list(background)])


def cell_colour(page, figure, r, c, geometry=None):
    """RGBA drawn at the centre of heat-map cell (r, c) of `figure`; with `geometry` (another
    figure), where that figure puts cell (r, c): maps drawn aligned agree there."""
    cell, left, top = page.evaluate(
        "f => { const m = document.querySelector(f); return [+m.dataset.cell, +m.dataset.left, +m.dataset.top]; }",
        geometry or figure,
    )
    return page.eval_on_selector(figure + " .hm-canvas", PIXEL, [left + (c + 0.5) * cell, top + (r + 0.5) * cell])


def scaled_colour(page, value, kind, floor, lo=0, hi=1, table="sequentialScale"):
    """The panel's colour of `value` on its `kind` scale (scales.js) with the given log `floor`, as
    "rgb(r,g,b)"; NaN (a weight the record does not store): its "not stored" colour."""
    return "rgb(%d,%d,%d)" % tuple(scaled_colours(page, [value], kind, floor, lo, hi, table)[0])


def log_floor(*arrays, hi=1.0):
    """The log scale's floor for these values, computed here by the rule frontend/scales.js states:
    the power of ten at or below the smallest positive value (at least 1e-6, at most hi / 10)."""
    import numpy as np

    positive = np.concatenate([np.asarray(a, np.float64).ravel() for a in arrays])
    positive = positive[positive > 0]
    smallest = positive.min() if positive.size else hi / 100
    return min(10.0 ** np.floor(np.log10(max(smallest, 1e-6))), hi / 10)


CANVAS = """c => ({
    ratio: c.width / c.getBoundingClientRect().width,
    width: c.width,
    height: c.height,
    data: Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data),
})"""


def canvas_rgba(page, selector):
    """(uint8 [height, width, 4] of a canvas's device pixels, device pixels per CSS pixel)."""
    import numpy as np

    got = page.eval_on_selector(selector, CANVAS)
    return np.array(got["data"], np.uint8).reshape(got["height"], got["width"], 4), got["ratio"]


def colour_table(page, theme="light", table="sequentialScale"):
    """uint8 [256, 3]: the panel's colour lookup table (colors.js), index 0 the lowest value."""
    import numpy as np

    got = page.evaluate(
        "async ([theme, table]) => Array.from((await import('./static/colors.js'))[table](theme))", [theme, table]
    )
    return np.array(got, np.uint8).reshape(256, 3)


BOXES = """els => els.map((e) => { const b = e.getBoundingClientRect(); return [b.x, b.y, b.width, b.height]; })"""


def svg_boxes(page, selector):
    """float [n, 4]: (x, y, width, height) of each element as laid out on the page, in document
    order (what is drawn, whatever the attributes say)."""
    import numpy as np

    return np.array(page.eval_on_selector_all(selector, BOXES), np.float64).reshape(-1, 4)


def drawn_within(rgb, table, lowest, highest):
    """bool per pixel: whether each drawn colour (uint8 [..., 3]) is the table's colour at an index
    within [lowest, highest] (its own bounds: the values' uncertainty on the scale)."""
    import numpy as np

    flat = rgb.reshape(-1, 1, 3)
    same = (flat == table[None, :, :]).all(-1)  # [pixels, 256]
    index = np.arange(256)[None, :]
    inside = (index >= np.ravel(lowest)[:, None]) & (index <= np.ravel(highest)[:, None])
    return (same & inside).any(-1).reshape(rgb.shape[:-1])


def scale_colour(page, value, theme="light", lo=0, hi=1, scale="sequential"):
    """The panel's own colour for `value` (its colors.js), as "rgb(r,g,b)"."""
    return page.evaluate(
        "async ([v, theme, lo, hi, scale]) => { const m = await import('./static/colors.js');"
        " const t = scale === 'sequential' ? m.sequentialScale(theme) : m.divergingScale(theme);"
        " return m.cssColor(t, v, lo, hi); }",
        [value, theme, lo, hi, scale],
    )


def hover_cell(page, figure, r, c):
    """Hover heat-map cell (r, c) of `figure`; returns (weight, read-out text)."""
    box = page.eval_on_selector(
        figure + " .hm-overlay", "c => { const b = c.getBoundingClientRect(); return [b.x, b.y]; }"
    )
    cell, left, top = page.evaluate(
        "f => { const m = document.querySelector(f); return [+m.dataset.cell, +m.dataset.left, +m.dataset.top]; }",
        figure,
    )
    page.mouse.move(box[0] + left + (c + 0.5) * cell, box[1] + top + (r + 0.5) * cell)
    page.wait_for_function("([f, v]) => document.querySelector(f).dataset.hover === v", arg=[figure, f"{r},{c}"])
    return float(page.get_attribute(figure, "data-value")), page.inner_text(figure + " .hm-readout")


@pytest.fixture(scope="session")
def browser():
    with sync_api.sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()


@pytest.fixture
def panel_factory(browser):
    """panel_factory(tb) -> a Panel on that TensorBoard; each must end with no console error."""
    made = []

    def make(tb):
        p = Panel(browser, tb)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()
        assert p.errors == [], p.errors
        assert p.dialogs == [], p.dialogs


SCALED_COLOURS = """async ([values, kind, lo, hi, floor, table, theme]) => {
    const s = await import('./static/scales.js');
    const c = await import('./static/colors.js');
    const t = c[table](theme);
    const scale = s.makeScale(kind, lo, hi, floor);
    const nan = c.cellColours(theme).notStored;
    return values.map((v) => (v === null ? nan : Array.from(t.slice(3 * scale.index(v), 3 * scale.index(v) + 3))));
}"""


def scaled_colours(page, values, kind, floor, lo=0, hi=1, table="sequentialScale", theme="light"):
    """uint8 [n, 3]: the panel's colour of each of `values` (NaN: its "not stored" colour) on its
    `kind` scale with the given log `floor` (scales.js, colors.js)."""
    import numpy as np

    flat = [None if np.isnan(v) else float(v) for v in np.ravel(values)]
    got = page.evaluate(SCALED_COLOURS, [flat, kind, lo, hi, floor, table, theme])
    return np.array(got, np.uint8).reshape(-1, 3)


CELL_CENTRES = """([figure, cells, f]) => {
    const m = document.querySelector(figure);
    const canvas = m.querySelector('.hm-canvas');
    const d = m.dataset;
    const k = canvas.width / canvas.getBoundingClientRect().width;
    const px = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    return cells.map(([R, C]) => {
        const x = Math.floor((+d.left + (C * f + f / 2) * +d.cell) * k);
        const y = Math.floor((+d.top + (R * f + f / 2) * +d.cell) * k);
        const o = 4 * (y * canvas.width + x);
        return [px[o], px[o + 1], px[o + 2]];
    });
}"""


def cell_centres(page, figure, cells, factor=1):
    """uint8 [n, 3]: RGB drawn at the centre of each cell [R, C] of factor `factor` (the cell of
    weights [R f, (R + 1) f) x [C f, (C + 1) f)) of heat map `figure`, read from its canvas once."""
    import numpy as np

    got = page.evaluate(CELL_CENTRES, [figure, [list(map(int, rc)) for rc in cells], factor])
    return np.array(got, np.uint8).reshape(-1, 3)
