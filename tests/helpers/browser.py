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


def cell_colour(page, figure, r, c):
    """RGBA drawn at the centre of heat-map cell (r, c) of `figure`."""
    cell, left, top = page.evaluate(
        "f => { const m = document.querySelector(f); return [+m.dataset.cell, +m.dataset.left, +m.dataset.top]; }",
        figure,
    )
    return page.eval_on_selector(figure + " .hm-canvas", PIXEL, [left + (c + 0.5) * cell, top + (r + 0.5) * cell])


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
