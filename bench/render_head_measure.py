"""bench/render_head.py's measures of one page load: the page scripts (bytes fetched, the scroll
through the whole token list, find-a-token, the window read), the tab's JS heap and the CPU time
of the page's renderer and of TensorBoard, the head view's and the model view's loads."""

import json
import time

from bench.render_pages import LLM_PROBE, median

VIEWPORT = {"width": 1280, "height": 900}
SCROLL_PX = 640


FETCHED = """() => [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')]
  .reduce((s, e) => s + (e.transferSize || e.encodedBodySize || 0), 0)"""
# The /layer answers' bodies once their content-coding is undone: what the renderer receives and reads.
LAYER_BYTES = """() => performance.getEntriesByType('resource').filter((e) => e.name.includes('/layer?'))
  .reduce((s, e) => s + (e.decodedBodySize || 0), 0)"""

# Scroll the head view's box from top to bottom, `step` px a frame. A frame is timed from the
# scroll event (a capturing listener on window, before the view's own) to the end of a listener on
# the box registered after the view's, which forces style and layout (the rows just built) and
# flushes the lines' canvas with a 1-pixel read.
SCROLL = """async (step) => {
  const box = document.querySelector('.hv-scroll');
  const frames = [], nodes = [], ticks = [];
  let t0 = 0, done = null;
  const start = () => { t0 = performance.now(); };
  const end = () => {
    document.querySelector('.hv-left').getBoundingClientRect();
    const c = document.querySelector('.hv-lines');
    c.getContext('2d').getImageData(0, 0, 1, 1);
    frames.push(performance.now() - t0);
    nodes.push(document.getElementsByTagName('*').length);
    if (done) done();
  };
  window.addEventListener('scroll', start, { capture: true });
  box.addEventListener('scroll', end);
  const max = box.scrollHeight - box.clientHeight;
  for (let y = step; ; y += step) {
    const next = new Promise((resolve) => { done = resolve; });
    ticks.push(await new Promise((resolve) => requestAnimationFrame(resolve)));
    box.scrollTop = Math.min(y, max);
    await Promise.race([next, new Promise((resolve) => setTimeout(resolve, 1000))]);
    if (y >= max) break;
  }
  window.removeEventListener('scroll', start, { capture: true });
  box.removeEventListener('scroll', end);
  const intervals = ticks.slice(1).map((t, i) => t - ticks[i]);
  return { frames, nodes, intervals, tokens: document.querySelectorAll('.hv-col .tok').length };
}"""

FIND = """async (text) => {
  // Until the token is on screen, highlighted, its lines drawn (a drawn mark after the input), then
  // until the window's rows are all read.
  const input = document.querySelector('.hv-find');
  const t0 = performance.now();
  input.value = text;
  input.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', bubbles: true }));
  const view = document.querySelector('.head-view');
  const out = { ms: null, drawn: null, found: null, onScreen: false };
  for (;;) {
    await new Promise((resolve) => requestAnimationFrame(resolve));
    const i = view.dataset.found;
    const node = i != null && document.querySelector(`.hv-left .tok[data-index='${i}']`);
    const drawn = performance.getEntriesByName('tb-attention:head-view-drawn').some((e) => e.startTime > t0);
    if (node && node.classList.contains('found') && drawn) {
      const b = node.getBoundingClientRect(), s = document.querySelector('.hv-scroll').getBoundingClientRect();
      if (out.drawn == null) Object.assign(out, { drawn: performance.now() - t0, found: +i, onScreen: b.top >= s.top && b.bottom <= s.bottom });
      const loaded = !('loaded' in view.dataset) || view.dataset.loaded === 'complete';
      if (loaded) return Object.assign(out, { ms: performance.now() - t0 });
    }
    if (performance.now() - t0 > 60000) return out;
  }
}"""


# The head view has read its window's rows (a panel without data-loaded reads them before drawing).
LOADED = """() => { const v = document.querySelector('.head-view'), r = document.querySelector('.tba');
  return v && (!('loaded' in v.dataset) || v.dataset.loaded === 'complete') && r.dataset.renders && !r.dataset.busy; }"""


def heap_of(cdp):
    """The tab's JS heap (bytes): its objects and the array buffers' backing stores (typed arrays
    of weights live there, outside the objects' heap)."""
    u = cdp.send("Runtime.getHeapUsage")
    return u["usedSize"] + u.get("backingStorageSize", 0) + u.get("embedderHeapUsedSize", 0)


def heap(page):
    cdp = page.context.new_cdp_session(page)
    try:
        return heap_of(cdp)
    finally:
        cdp.detach()


def collected_heap(page):
    cdp = page.context.new_cdp_session(page)
    try:
        cdp.send("HeapProfiler.collectGarbage")
        return heap_of(cdp)
    finally:
        cdp.detach()


def wait_sampling_heap(page, cdp, condition, timeout=300):
    """Wait for `condition` (a page function), reading the heap every 50 ms: the largest read."""
    peak, start = 0, time.time()
    while True:
        try:
            peak = max(peak, heap_of(cdp))
            if page.evaluate(condition):
                return peak
        except Exception as e:  # the page is still navigating: no context to evaluate in yet
            if "context" not in str(e).lower() and "navigat" not in str(e).lower():
                raise
        if time.time() - start > timeout:
            raise RuntimeError("%s not true within %d s" % (condition, timeout))
        time.sleep(0.05)


def server_cpu(tb):
    """CPU seconds TensorBoard's processes (its data server too) have used."""
    import psutil

    root = psutil.Process(tb.proc.pid)
    total = 0.0
    for p in [root] + root.children(recursive=True):
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def open_view(browser, tb, run, tag, fragment, mark, timeout=180):
    """A fresh context on the panel at `fragment`; returns (context, page, first paint ms, the
    largest heap read while it loaded, CPU seconds to first paint: {"page": the page's renderer
    process, "server": TensorBoard's})."""
    context = browser.new_context(viewport=VIEWPORT)
    context.add_init_script(script="window.__llmMark = %s;\n%s" % (json.dumps(mark), LLM_PROBE))
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    cdp = context.new_cdp_session(page)
    cdp.send("Performance.enable")
    served = server_cpu(tb)
    page.goto(
        "%s/data/plugin_entry.html?name=tb_attention#run=%s&tag=%s&%s"
        % (tb.url, run, tag.replace("/", "%2F"), fragment),
        wait_until="commit",
    )
    try:
        peak = wait_sampling_heap(page, cdp, "() => window.__llm && window.__llm.painted != null", timeout)
    except RuntimeError:
        context.close()
        raise RuntimeError("%s did not draw within %d s (page errors: %s)" % (fragment, timeout, errors[:3])) from None
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    cpu = {"page": metrics.get("ProcessTime", float("nan")), "server": server_cpu(tb) - served}
    cdp.detach()
    return context, page, page.evaluate("window.__llm.painted"), peak, cpu


def measure_head(browser, tb, run, tag, args):
    """One fresh load of the head view: first paint, the window read, scrolling, heap, find."""
    context, page, painted, first, cpu = open_view(
        browser, tb, run, tag, "view=head&layer=%d" % args.layer, "tb-attention:head-view-drawn"
    )
    try:
        cdp = context.new_cdp_session(page)
        out = {"heap_open": max(first, wait_sampling_heap(page, cdp, LOADED))}
        cdp.detach()
        out.update(painted=painted, loaded=page.evaluate("performance.now()"), fetched=page.evaluate(FETCHED))
        out["layer_bytes"] = page.evaluate(LAYER_BYTES)
        out.update(cpu_page=cpu["page"] * 1000, cpu_server=cpu["server"] * 1000)
        out["view"] = page.eval_on_selector(".head-view", "e => ({...e.dataset})")
        scrolled = page.evaluate(SCROLL, SCROLL_PX)
        out.update(
            frames=scrolled["frames"],
            nodes=scrolled["nodes"],
            intervals=scrolled["intervals"],
            tokens_built=scrolled["tokens"],
        )
        out["heap_scrolled"] = heap(page)
        out["find"] = page.evaluate(FIND, "#%d" % (args.tokens - 1))
        page.evaluate("document.querySelector('.hv-scroll').scrollTop = 0")
        page.wait_for_timeout(500)
        page.wait_for_function("!document.querySelector('.tba').dataset.busy", timeout=120000)
        out["heap_gc"] = collected_heap(page)
        out["heap_peak"] = max(out["heap_open"], out["heap_scrolled"])
        return out
    finally:
        context.close()


def measure_model(browser, tb, run, tag):
    context, page, painted, _, _ = open_view(browser, tb, run, tag, "view=model", "tb-attention:model-view-drawn")
    try:
        return {
            "painted": painted,
            "view": page.eval_on_selector(".model-view", "e => ({...e.dataset})"),
            "fetched": page.evaluate(FETCHED),
        }
    finally:
        context.close()


def measure_side(browser, tb, run, tag, args, i):
    start = time.time()
    r = measure_head(browser, tb, run, tag, args)
    m = measure_model(browser, tb, run, tag)
    print(
        "  %s load %d: head first paint %.0f ms, scroll median %.1f ms, nodes max %d, heap peak %.0f MB (%.0f s)"
        % (
            tb.side,
            i + 1,
            r["painted"],
            median(r["frames"]),
            max(r["nodes"]),
            r["heap_peak"] / 1e6,
            time.time() - start,
        ),
        flush=True,
    )
    return r, m
