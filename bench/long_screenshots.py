"""Pictures of the matrix and compare views at 32 768 tokens (docs/panel-*-32k.png), from the
capture records of bench/long_record.py (made first if missing): the matrix view of the whole
matrix with the span summary above it, the matrix view zoomed to single weights near the
diagonal's start (rows that keep every key they see, then rows that keep their 32 strongest: the
others in the "not stored" colour), and the compare view of records A and B (another seed)
zoomed in a little.

Run: python -m bench.long_screenshots [--tokens 32768] [--out docs]
"""

import argparse
import os

from bench import long_record
from bench.render_pages import CHROMIUM_ARGS
from tests.helpers.browser import IDLE
from tests.helpers.tb_process import TensorBoardProcess

VIEWPORT = {"width": 1300, "height": 900}
COMPLETE = "s => [...document.querySelectorAll(s)].every((m) => m.dataset.levels === 'complete')"


def wheel(page, figure, r, c, notches):
    """`notches` wheel notches over weight (r, c) of `figure`, then the pointer off the map."""
    d = page.eval_on_selector(figure, "m => ({...m.dataset})")
    box = page.eval_on_selector(figure + " .hm-overlay", "c => c.getBoundingClientRect().toJSON()")
    x = box["x"] + float(d["left"]) + c * float(d["cell"])
    y = box["y"] + float(d["top"]) + r * float(d["cell"])
    page.mouse.move(x, y)
    for _ in range(notches):
        page.mouse.wheel(0, -240)
        page.wait_for_timeout(120)
    page.mouse.move(1, 1)


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


def picture(folder, view):
    return os.path.join(folder, "panel-%s-32k.png" % view)


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
                shoot(browser, tb, "view=matrix", picture(args.out, "matrix"))
                # The first rows keep every key they see (32 or fewer); later ones their 32 strongest.
                shoot(browser, tb, "view=matrix&heads=0", picture(args.out, "matrix-cells"), zoom=(2, 2, 13))
                fragment = "view=compare&runB=%s" % long_record.RUN_B
                shoot(browser, tb, fragment, picture(args.out, "compare"), (1500, 700, 3), ".compare-view .cmp-diff")
            finally:
                browser.close()
    finally:
        tb.stop()


if __name__ == "__main__":
    main()
