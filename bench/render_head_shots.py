"""bench/render_head.py's `--shots DIR`: the head view scrolled into the input with a row hovered,
and the model view, as PNGs."""

import os

from bench.llm_records import LAYERS
from bench.render_head_measure import VIEWPORT


def screenshots(browser, tb, run, tag, args):
    """The head view scrolled into the input with a row hovered, and the model view, as PNGs."""
    n = args.tokens
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    try:
        row = n * 3 // 4
        page.goto(
            "%s/data/plugin_entry.html?name=tb_attention#run=%s&tag=%s&view=head&layer=%d"
            % (tb.url, run, tag.replace("/", "%2F"), args.layer)
        )
        page.wait_for_function(
            "document.querySelector('.head-view') && document.querySelector('.head-view').dataset.loaded === 'complete'",
            timeout=120000,
        )
        page.fill(".hv-find", "#%d" % row)
        page.press(".hv-find", "Enter")
        page.wait_for_function(
            "r => { const v = document.querySelector('.head-view'); return v.dataset.found === String(r) && v.dataset.loaded === 'complete'"
            " && !document.querySelector('.tba').dataset.busy; }",
            arg=row,
            timeout=120000,
        )
        page.wait_for_timeout(300)
        page.screenshot(path=os.path.join(args.shots, "panel-head-%d.png" % n))
        box = page.locator(".hv-left .tok[data-index='%d']" % (row + 3)).bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.wait_for_timeout(300)
        page.screenshot(path=os.path.join(args.shots, "panel-head-%d-hover.png" % n))
        page.mouse.move(5, 5)
        page.click(".tab[data-view='model']")
        page.wait_for_function(
            "document.querySelector('.model-view') && document.querySelector('.model-view').dataset.layersDrawn === '%d'"
            % LAYERS,
            timeout=120000,
        )
        page.wait_for_timeout(300)
        page.screenshot(path=os.path.join(args.shots, "panel-model-%d.png" % n))
    finally:
        context.close()
