"""What bench/render.py's measures share: the Chromium the pages open in, the names of the served
runs and tag, and the page scripts that time a view: the first-paint probe (`LLM_PROBE`, with
`llm_open`, a fresh context on the panel timed to its first paint), the scripted zoom / pan frames
(`FRAME_STEP`, `FRAME_SCRIPT`) and the bytes fetched (`FETCHED`)."""

import json
import statistics

from tests.helpers import browser

# The tests' Chromium, with performance.memory to the byte (the JS heap figures).
CHROMIUM_ARGS = [*browser.CHROMIUM_ARGS, "--enable-precise-memory-info"]
TAG = "probe"


def median(values):
    return statistics.median(values) if values else float("nan")


LLM_RUN = "llm"
LLM_RUN_B = "llm-b"  # the compare view's B: same shape, other weights
LLM_VIEWPORT = {"width": 1300, "height": 900}
# Before the panel's scripts: when `window.__llmMark` is set, the end of the first frame after it.
LLM_PROBE = """(() => {
  const r = (window.__llm = { drawn: null, painted: null });
  const mark = performance.mark.bind(performance);
  performance.mark = function (name, options) {
    const entry = mark(name, options);
    if (name === window.__llmMark && r.drawn == null) {
      r.drawn = entry ? entry.startTime : performance.now();
      requestAnimationFrame(() => setTimeout(() => { r.painted = performance.now(); }, 0));
    }
    return entry;
  };
})();"""

# A zoom / pan step dispatched in the page, then the frame that draws it measured: from the start
# of that frame's requestAnimationFrame callbacks (one of ours, registered before the input, runs
# first) to the end of the frame's rendering (a task queued from a callback registered after
# the map's own draw, which first flushes the canvas with a 1-pixel read): the draw, rasterising
# the canvas, style, layout, paint and commit. `canvas` stops at the flush.
FRAME_STEP = """async ([kind, a, b, figure = '.matrix-view .heatmap']) => {
  // The input goes to `figure`'s map; the frame counts every map of the view (the compare
  // view's three move together), each canvas flushed.
  const o = document.querySelector(figure + ' .hm-overlay');
  const canvases = [...o.closest('.matrix-view, .compare-view').querySelectorAll('.hm-canvas')];
  const r = o.getBoundingClientRect();
  const x = r.x + r.width * a, y = r.y + r.height * b;
  const before = performance.getEntriesByName('tb-attention:matrix-frame').length;
  let start = null;
  requestAnimationFrame(() => { start = performance.now(); });
  const opts = { bubbles: true, cancelable: true, clientX: x, clientY: y, pointerId: 1, button: 0, buttons: 1 };
  if (kind === 'wheel') o.dispatchEvent(new WheelEvent('wheel', { ...opts, deltaY: a > 0.5 ? 240 : -240 }));
  else if (kind === 'drag') {
    o.dispatchEvent(new PointerEvent('pointerdown', opts));
    o.dispatchEvent(new PointerEvent('pointermove', { ...opts, clientX: x - 120, clientY: y - 60 }));
    o.dispatchEvent(new PointerEvent('pointerup', { ...opts, clientX: x - 120, clientY: y - 60 }));
  } else o.dispatchEvent(new KeyboardEvent('keydown', { key: kind, bubbles: true, cancelable: true }));
  const [canvasMs, frame] = await new Promise((resolve) => requestAnimationFrame(() => {
    for (const canvas of canvases) canvas.getContext('2d').getImageData(0, 0, 1, 1);
    const flushed = performance.now() - start;
    setTimeout(() => resolve([flushed, performance.now() - start]), 0);
  }));
  const draws = performance.getEntriesByName('tb-attention:matrix-frame').slice(before).map((m) => m.duration);
  return { kind, frame, canvas: canvasMs, draw: draws.length ? Math.max(...draws) : null, zoom: +document.querySelector(figure).dataset.zoom };
}"""

# The scripted sequence: zoom in about a point, drag, arrow keys, zoom out: (kind, a, b).
FRAME_SCRIPT = (
    [("wheel", 0.3, 0.6)] * 12
    + [("drag", 0.5, 0.5)] * 8
    + [("ArrowRight", 0, 0)] * 4
    + [("ArrowDown", 0, 0)] * 4
    + [("wheel", 0.7, 0.4)] * 12
    + [("0", 0, 0)]
)

FETCHED = """() => {
  const all = [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')];
  const sum = (f) => all.filter(f).reduce((s, e) => s + (e.transferSize || e.encodedBodySize || 0), 0);
  return { bytes: sum(() => true), thumbnails: sum((e) => e.name.includes('/thumbnails?')), layers: sum((e) => e.name.includes('/layer?')),
           heap: performance.memory ? performance.memory.usedJSHeapSize : null };
}"""


def llm_open(browser, tb, fragment, mark, timeout=120, run=LLM_RUN, tag=TAG):
    """A fresh context on the panel at `fragment` of `run` and `tag`; returns (context, page, first paint ms)."""
    context = browser.new_context(viewport=LLM_VIEWPORT)
    context.add_init_script(script="window.__llmMark = %s;\n%s" % (json.dumps(mark), LLM_PROBE))
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(
        "%s/data/plugin_entry.html?name=tb_attention#run=%s&tag=%s&%s" % (tb.url, run, tag, fragment),
        wait_until="commit",
    )
    try:
        page.wait_for_function("window.__llm && window.__llm.painted != null", timeout=timeout * 1000, polling=50)
    except Exception:
        context.close()
        raise RuntimeError("%s did not draw within %d s (page errors: %s)" % (fragment, timeout, errors[:3])) from None
    return context, page, page.evaluate("window.__llm.painted")
