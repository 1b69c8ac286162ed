"""The panel in headless Debian Chromium, driven by playwright: one browser per test session,
a fresh context per test, and readers of what the page shows (attributes, canvas pixels)."""

import pytest
from playwright import sync_api

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run",
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
        self.page.on("console", lambda m: m.type == "error" and "favicon.ico" not in (m.location or {}).get("url", "")
                     and self.errors.append(m.text))
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
            "n => { const r = document.querySelector('.tba'); return +r.dataset.renders > n && !r.dataset.busy; }", arg=before)

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


def hover_cell(page, figure, r, c):
    """Hover heat-map cell (r, c) of `figure`; returns (weight, read-out text)."""
    box = page.eval_on_selector(figure + " .hm-overlay", "c => { const b = c.getBoundingClientRect(); return [b.x, b.y]; }")
    cell, left, top = page.evaluate(
        "f => { const m = document.querySelector(f); return [+m.dataset.cell, +m.dataset.left, +m.dataset.top]; }", figure)
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
