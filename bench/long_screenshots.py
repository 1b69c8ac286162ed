"""Pictures of the matrix and compare views at 32 768 tokens (docs/panel-*-32k.png), from the
capture records of bench/long_record.py (made first if missing): the matrix view of the whole
matrix with the span summary above it, the matrix view zoomed to single weights near the
diagonal (sparse rows: the keys each row kept, the others in the "not stored" colour), and the
compare view of records A and B (another seed) zoomed to a region.

Run: python -m bench.long_screenshots [--tokens 32768] [--out docs]
"""

import argparse
import os

from bench import long_record
from bench.render import CHROMIUM_ARGS
from tests.helpers.browser import IDLE
from tests.helpers.tb_process import TensorBoardProcess

VIEWPORT = {"width": 1300, "height": 900}
COMPLETE = "s => [...document.querySelectorAll(s)].every((m) => m.dataset.levels === 'complete')"


def wheel(page, figure, a, b, notches):
    """`notches` wheel notches over the point (a, b) (shares of the map's box) of `figure`."""
    box = page.eval_on_selector(figure + " .hm-overlay", "c => c.getBoundingClientRect().toJSON()")
    page.mouse.move(box["x"] + box["width"] * a, box["y"] + box["height"] * b)
    for _ in range(notches):
        page.mouse.wheel(0, -240)
        page.wait_for_timeout(120)


def shoot(browser, tb, fragment, out, zoom=None, figure=".matrix-view .heatmap"):
    page = browser.new_page(viewport=VIEWPORT)
    try:
        page.goto(
            "%s/data/plugin_entry.html?name=tb_attention#run=%s&tag=%s&%s"
            % (tb.url, long_record.RUN, long_record.TAG, fragment)
        )
        page.wait_for_function("window.__tbAttention")
        page.evaluate("window.__tbAttention.ready")
        page.wait_for_function(IDLE, timeout=120000)
        if zoom:
            wheel(page, figure, *zoom)
        page.wait_for_function(COMPLETE, arg=".heatmap", timeout=120000)
        page.wait_for_timeout(500)
        page.screenshot(path=out)
        print("wrote", out)
    finally:
        page.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=32768)
    parser.add_argument("--out", default="docs")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    logdir = long_record.ensure(args.tokens)
    tb = TensorBoardProcess(logdir).start()
    try:
        tb.wait_for(lambda: long_record.RUN_B in tb.get_json("/data/plugin/tb_attention/tags").get("runs", {}), 300)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            try:
                name = lambda view: os.path.join(args.out, "panel-%s-32k.png" % view)  # noqa: E731
                shoot(browser, tb, "view=matrix", name("matrix"))
                shoot(browser, tb, "view=matrix&heads=0", name("matrix-cells"), zoom=(0.5, 0.5, 17))
                shoot(
                    browser,
                    tb,
                    "view=compare&runB=%s&heads=0" % long_record.RUN_B,
                    name("compare"),
                    zoom=(0.5, 0.5, 9),
                    figure=".compare-view .cmp-diff",
                )
            finally:
                browser.close()
    finally:
        tb.stop()


if __name__ == "__main__":
    main()
