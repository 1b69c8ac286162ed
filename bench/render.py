"""Panel benchmark: first paint of the head view, ours against bertviz's head_view, and hover redraws.

Both pages show the same real MiniLM attention (layer 0, all 12 heads) and are opened in the same
headless Chromium, alternately, each load in a fresh browser context (cold cache, no saved state):

* ours: the attention logged with `tb_attention.add_attention` + `flush`, served by a real
  TensorBoard; the panel's own page (`/data/plugin_entry.html?name=tb_attention`, the page
  TensorBoard puts in its iframe) is opened directly, so TensorBoard's Angular shell is not timed.
* bertviz: `bertviz.head_view(..., html_action="return")` for the same layer, with its CDN scripts
  (d3, jQuery, require.js) rewritten to local npm copies, served by a local HTTP server.

First paint = ms from navigation start until the first frame after the full head view exists has
been painted (see bench/bertviz_harness/probe.js for exactly what is timed). Medians over --repeat
fresh loads; ratio = ours / bertviz (goal <= 0.10). Hover: the panel's "tb-attention:hover"
measures while playwright hovers tokens of the left column (goal: median and max <= 16 ms at 512
tokens), and, timed identically for both, a dispatched mouseover until the next painted frame.

Long inputs (the panel alone; --llm-tokens 0 skips them): one LLM-shaped record of a 32-layer x
32-head decoder at 2048 tokens (bench/llm_attention.py, logged with the default arguments: sparse,
the 32 strongest keys per row; cached under bench/.cache/render_llm, ~2 minutes to make once),
served by its own TensorBoard and opened in the same Chromium, each load a fresh context:

* matrix view (mean of the 32 heads): first paint, ms from navigation start (end of the first
  frame after the "tb-attention:matrix-view-drawn" mark); goal <= 1000 ms;
* zoom / pan frames on it: a scripted sequence of wheel zooms, drags, arrow keys and zoom-outs,
  each input dispatched in the page; a frame's cost is the main-thread time from the start of
  the frame that draws it (its requestAnimationFrame time) until its canvas work is flushed
  (a 1-pixel getImageData after the map's own draw), so rasterising counts; goal median and max
  <= 16 ms (the map's own draw time, "tb-attention:matrix-frame", is printed too);
* model view (every layer x head from /thumbnails): until its drawn mark; bytes fetched (all
  responses, compressed as sent); goal <= 3000 ms and <= 20 MB;
* head view with its default 128-row query window: first paint as for the head view above;
  goal <= 1000 ms;
* compare view of the record (A) and a second one of the same shape (B, run "llm-b", other
  weights; the mean of the 32 heads of each from the server): first paint of A, B and B - A,
  and zoom/pan frames of the three maps moving together (the same script as the matrix view's).

The 32k capture records (--long-tokens 32768, 0 skips) and the 2048-token views against another
checkout (--against DIR): bench/render_long.py.

Run: python bench/render.py [--tokens 128 512] [--repeat 3] [--llm-tokens 2048] [--llm-repeat 3]
                            [--long-tokens 32768] [--against DIR] [--parts head,llm,long]
"""

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import urllib.error

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

import tb_attention  # noqa: E402
from bench import bertviz_harness  # noqa: E402
from bench.common import encode, load_minilm  # noqa: E402
from tests.helpers.tb_process import TensorBoardProcess  # noqa: E402

LLM_CACHE = os.path.join(os.path.dirname(os.path.abspath(__file__)), ".cache", "render_llm")

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--enable-precise-memory-info",  # performance.memory to the byte (the JS heap figures)
]
VIEWPORT = {"width": 1280, "height": 900}
TAG = "probe"
OURS_TOKENS = ".hv-left .tok"
BERTVIZ_TOKENS = "#left text"  # bertviz's left-column token labels (its hover listener is on their <g>)


def run_name(n_tokens):
    return "tokens%d" % n_tokens


def attention_of(tokenizer, model, n_tokens):
    batch = encode(tokenizer, n_tokens)
    tokens = tokenizer.convert_ids_to_tokens(batch["input_ids"][0])
    assert len(tokens) == n_tokens, len(tokens)
    with torch.no_grad():
        out = model(**batch, output_attentions=True)
    return out.attentions, tokens


def median(values):
    return statistics.median(values) if values else float("nan")


class Bench:
    def __init__(self, browser, args, ours_url, bertviz_url):
        self.browser = browser
        self.args = args
        self.ours_url = ours_url
        self.bertviz_url = bertviz_url

    def open(self, mode, n_tokens):
        """A fresh context and page with the timing probe, navigated; returns (context, page, result).
        Raises PaintTimeout when the page has not painted within its timeout."""
        timeout = self.args.timeout if mode == "ours" else self.args.bertviz_timeout
        context = self.browser.new_context(viewport=VIEWPORT)
        context.add_init_script(script=bertviz_harness.probe_script({"mode": mode}))
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        url = self.ours_url(n_tokens) if mode == "ours" else self.bertviz_url(n_tokens)
        try:
            page.goto(url, wait_until="commit", timeout=timeout * 1000)
            page.wait_for_function(
                "window.__benchResult && window.__benchResult.painted != null", timeout=timeout * 1000, polling=100
            )
        except Exception:
            context.close()  # frees the renderer (bertviz at 512 tokens holds ~10 GB)
            raise PaintTimeout(
                "%s at %d tokens did not paint within %ds (page errors: %s)" % (mode, n_tokens, timeout, errors[:3])
            ) from None
        if mode == "ours":
            # A small canvas completes before it counts as drawn; a tall one completes later.
            page.wait_for_function("window.__benchResult.completePainted != null", timeout=timeout * 1000, polling=50)
        result = page.evaluate("window.__benchResult")
        if mode == "bertviz":
            result["completePainted"] = result["painted"]
        result["completePainted"] = max(result["completePainted"], result["painted"])
        result.update(page.evaluate(CHECKS[mode]))
        return context, page, result

    def ours_hover(self, page, n_tokens):
        """Playwright hovers over left-column tokens; the panel's own "tb-attention:hover" measures."""
        page.evaluate("performance.clearMeasures('tb-attention:hover')")
        for i in spread(n_tokens, self.args.hovers):
            page.locator(OURS_TOKENS).nth(i).hover()
        return page.evaluate("performance.getEntriesByName('tb-attention:hover').map((m) => m.duration)")

    def dispatched_hover(self, page, selector, n_tokens, count, budget_s):
        """[{handler, frame}] for a dispatched mouseover on up to `count` tokens (fewer once
        `budget_s` is spent: one bertviz hover at 512 tokens takes seconds); same method for both."""
        out = []
        start = time.time()
        for i in spread(n_tokens, count):
            out.append(page.evaluate("([s, i]) => window.__benchHover(s, i)", [selector, i]))
            if time.time() - start > budget_s:
                break
        return out


class PaintTimeout(RuntimeError):
    pass


# Read after the first paint: what each page actually drew, so a broken page cannot pass as fast.
CHECKS = {
    "ours": """() => {
        const root = document.querySelector('.head-view');
        return root ? {lines: Number(root.dataset.lines), layer: root.dataset.layer,
                       heads: root.dataset.heads.split(',').length,
                       tokens: document.querySelectorAll('.hv-left .tok').length} : {lines: null};
    }""",
    "bertviz": """() => ({
        lines: document.getElementsByTagName('line').length,
        tokens: document.querySelectorAll('#left text').length,
    })""",
}


def spread(n, count):
    """`count` token indices spread over 0..n-1."""
    count = max(1, min(n, count))
    return [round(i * (n - 1) / max(1, count - 1)) for i in range(count)]


def check(mode, result, n_tokens, heads):
    if result.get("tokens") != n_tokens:
        raise RuntimeError("%s shows %s tokens, expected %d: %r" % (mode, result.get("tokens"), n_tokens, result))
    if mode == "bertviz" and result["lines"] != heads * n_tokens * n_tokens:
        raise RuntimeError("bertviz drew %s lines, expected %d" % (result["lines"], heads * n_tokens * n_tokens))
    if mode == "ours" and (not result["lines"] or result["heads"] != heads or result["layer"] != "0"):
        raise RuntimeError("the panel's head view is not the full layer 0: %r" % result)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, nargs="+", default=[128, 512])
    parser.add_argument("--repeat", type=int, default=3, help="fresh page loads per side and length")
    parser.add_argument("--hovers", type=int, default=24, help="tokens hovered per load of ours")
    parser.add_argument("--bertviz-hovers", type=int, default=5, help="tokens hovered in bertviz (fewer if slow)")
    parser.add_argument(
        "--bertviz-long-hover",
        action="store_true",
        help="also hover bertviz at more than 256 tokens (one hover took ~1 minute at 512)",
    )
    parser.add_argument(
        "--bertviz-long-repeat",
        type=int,
        default=1,
        help="bertviz loads at more than 256 tokens (one takes minutes and ~10 GB)",
    )
    parser.add_argument("--timeout", type=int, default=120, help="seconds a page of ours may take to paint")
    parser.add_argument(
        "--bertviz-timeout",
        type=int,
        default=240,
        help="seconds a bertviz page may take to paint; slower is reported as a bound",
    )
    parser.add_argument("--llm-tokens", type=int, default=2048, help="tokens of the 32 x 32 LLM record (0: skip)")
    parser.add_argument("--llm-repeat", type=int, default=3, help="fresh loads per long-input measure")
    parser.add_argument(
        "--long-tokens", type=int, default=32768, help="tokens of the capture records (bench/long_record.py; 0: skip)"
    )
    parser.add_argument("--against", help="another checkout: the 2048-token views through its code too, alternating")
    parser.add_argument("--parts", default="head,llm,long", help="which measures: head (vs bertviz), llm, long")
    args = parser.parse_args()
    parts = set(args.parts.split(","))

    from playwright.sync_api import sync_playwright

    from bench import render_long

    t0 = time.time()
    results = llm = long = versus = None
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            if "head" in parts:
                results, assets = head_part(browser, args)
            llm_logdir = ensure_llm_record(args.llm_tokens) if "llm" in parts and args.llm_tokens else None
            if llm_logdir:
                llm = measure_llm(browser, args, llm_logdir)
                if args.against:
                    versus = render_long.measure_against(browser, args, llm_logdir)
            if "long" in parts and args.long_tokens:
                long = render_long.measure_long(browser, args)
        finally:
            browser.close()

    if results:
        report(results, args, assets)
    if llm:
        report_llm(llm, args)
    if versus:
        render_long.report_against(versus, args)
    if long:
        render_long.report_long(long, args)
    print("(whole benchmark: %.0f s)" % (time.time() - t0))
    return results


def head_part(browser, args):
    """The head view against bertviz's (see the module docstring): (results, bertviz's assets)."""
    tokenizer, model = load_minilm()
    inputs = {n: attention_of(tokenizer, model, n) for n in args.tokens}
    heads = inputs[args.tokens[0]][0][0].shape[1]

    with tempfile.TemporaryDirectory(prefix="tb-attention-render-") as tmp:
        logdir = os.path.join(tmp, "logs")
        pages = os.path.join(tmp, "pages")
        os.makedirs(pages)
        for n, (attentions, tokens) in inputs.items():
            tb_attention.add_attention(os.path.join(logdir, run_name(n)), TAG, attentions, tokens, 0)
            # bertviz embeds every layer it is given in the page (6 layers x 512 tokens is ~860 MB
            # of JSON, past what Chromium loads); its documented way for long inputs is
            # include_layers, so it gets just the layer both views show: its fastest setting.
            html = bertviz_harness.head_view_html(attentions, tokens, include_layers=[0])
            libraries = bertviz_harness.cdn_libraries(html)
            with open(os.path.join(pages, "bertviz-%d.html" % n), "w", encoding="utf-8") as f:
                f.write(bertviz_harness.localize(html))
        tb_attention.flush()
        assets = bertviz_harness.ensure_assets(libraries)
        del inputs

        tb = TensorBoardProcess(logdir).start()
        server = bertviz_harness.StaticServer(pages).start()
        try:
            want = {run_name(n) for n in args.tokens}
            tb.wait_for(lambda: want <= set(tb.get_json("/data/plugin/tb_attention/tags").get("runs", {})), timeout=120)

            def ours_url(n):
                return "%s/data/plugin_entry.html?name=tb_attention#run=%s&tag=%s&layer=0&view=head" % (
                    tb.url,
                    run_name(n),
                    TAG,
                )

            def bertviz_url(n):
                return "%s/bertviz-%d.html" % (server.url, n)

            return measure(Bench(browser, args, ours_url, bertviz_url), args, heads), assets
        finally:
            server.stop()
            tb.stop()


def measure(bench, args, heads):
    # One discarded load of ours first: Chromium, TensorBoard and its loaded data warm up, so the
    # first timed load is not the odd one out (bertviz's page has no server side to warm).
    context, _, _ = bench.open("ours", min(args.tokens))
    context.close()

    results = {
        n: {
            "ours": [],
            "bertviz": [],
            "bertviz_timeouts": 0,
            "hover": [],
            "ours_dispatch": [],
            "bertviz_dispatch": [],
            "complete_ours": [],
            "complete_bertviz": [],
            "info": {},
        }
        for n in args.tokens
    }
    for rep in range(args.repeat):
        for n in args.tokens:
            modes = ["ours"]
            if n <= 256 or rep in bertviz_reps(args):
                modes.append("bertviz")
            # Alternate which side goes first so drifting machine load hits both.
            if (rep + n // 128) % 2:
                modes.reverse()
            for mode in modes:
                try:
                    context, page, result = bench.open(mode, n)
                except PaintTimeout as e:
                    if mode == "ours":
                        raise
                    print("  %3d tokens  %-7s  %s" % (n, mode, e), flush=True)
                    results[n]["bertviz_timeouts"] += 1
                    continue
                try:
                    check(mode, result, n, heads)
                    results[n][mode].append(result["painted"])
                    results[n]["complete_" + mode].append(result["completePainted"])
                    results[n]["info"][mode] = result
                    print(
                        "  %3d tokens  %-7s  drawn %9.1f ms  painted %9.1f ms  all drawn+painted %9.1f ms  lines %d"
                        % (n, mode, result["drawn"], result["painted"], result["completePainted"], result["lines"]),
                        flush=True,
                    )
                    if mode == "ours":
                        hover = bench.ours_hover(page, n)
                        results[n]["hover"] += hover
                        print(
                            "  %3d tokens  ours     hover: first %.1f ms, max %.1f ms, median %.1f ms of %d"
                            % (n, hover[0], max(hover), median(hover), len(hover)),
                            flush=True,
                        )
                        if not results[n]["ours_dispatch"]:
                            results[n]["ours_dispatch"] = bench.dispatched_hover(page, OURS_TOKENS, n, args.hovers, 10)
                    elif not results[n]["bertviz_dispatch"] and (n <= 256 or args.bertviz_long_hover):
                        results[n]["bertviz_dispatch"] = bench.dispatched_hover(
                            page, BERTVIZ_TOKENS, n, args.bertviz_hovers, 20
                        )
                finally:
                    context.close()
    return results


def bertviz_reps(args):
    """The repetitions in which long inputs also load bertviz: the middle ones, so ours is
    measured before and after."""
    k = max(0, min(args.repeat, args.bertviz_long_repeat))
    first = (args.repeat - k) // 2
    return set(range(first, first + k))


def report(results, args, assets):
    libs = ", ".join("%s %s (npm %s)" % (lib, cdn, npm) for lib, (cdn, npm) in sorted(assets.items()))
    nan = float("nan")
    print()
    print("Head view first paint, ms from navigation start, median of fresh loads (bertviz libraries: %s)" % libs)
    print(
        "%6s %12s %12s %10s %11s %11s %11s %10s %10s"
        % ("tokens", "bertviz", "ours", "ours/bv", "loads bv/o", "hover med", "hover max", "ours lines", "bv lines")
    )
    for n, r in results.items():
        ours = median(r["ours"])
        if r["bertviz"]:
            bv_text = "%12.1f" % median(r["bertviz"])
            ratio_text = "%10.3f" % (ours / median(r["bertviz"]))
        elif r["bertviz_timeouts"]:  # every bertviz load timed out: its time is a lower bound, the ratio an upper one
            bv_text = "%12s" % (">%d" % (args.bertviz_timeout * 1000))
            ratio_text = "%10s" % ("<%.3f" % (ours / (args.bertviz_timeout * 1000)))
        else:  # not loaded (--bertviz-long-repeat 0)
            bv_text, ratio_text = "%12s" % "-", "%10s" % "-"
        bv_lines = r["info"].get("bertviz", {}).get("lines", "-")
        print(
            "%6d %s %12.1f %s %11s %11.2f %11.2f %10d %10s"
            % (
                n,
                bv_text,
                ours,
                ratio_text,
                "%d/%d" % (len(r["bertviz"]) + r["bertviz_timeouts"], len(r["ours"])),
                median(r["hover"]),
                max(r["hover"] or [nan]),
                r["info"]["ours"]["lines"],
                bv_lines,
            )
        )
    for n, r in results.items():
        if r["bertviz"]:
            print(
                "  %d tokens, whole canvas drawn (ours, every band incl. scrolled-away ones): %.1f ms, ratio to bertviz %.3f"
                % (n, median(r["complete_ours"]), median(r["complete_ours"]) / median(r["complete_bertviz"]))
            )
        else:
            print("  %d tokens, whole canvas drawn (ours, every band): %.1f ms" % (n, median(r["complete_ours"])))
    print(
        "goal: ours/bv <= 0.10; hover = the panel's tb-attention:hover measure over %d playwright hovers "
        "per load of ours, goal median and max <= 16 ms at 512 tokens" % args.hovers
    )
    for n, r in results.items():
        hover = sorted(r["hover"])
        if hover:
            print(
                "  hover at %d tokens: %d measures, p90 %.2f ms, %d over 16 ms: %s"
                % (
                    n,
                    len(hover),
                    hover[int(0.9 * (len(hover) - 1))],
                    sum(h > 16 for h in hover),
                    " ".join("%.1f" % h for h in hover[-5:]),
                )
            )
    print()
    print(
        "Hover, dispatched mouseover on a left token -> next painted frame, ms (same method on both; median / max, count)"
    )
    print("%6s %26s %26s %10s" % ("tokens", "bertviz", "ours", "ours/bv"))
    for n, r in results.items():
        bv = [h["frame"] for h in r["bertviz_dispatch"]]
        ours = [h["frame"] for h in r["ours_dispatch"]]
        print(
            "%6d %10.1f / %8.1f (%2d) %10.1f / %8.1f (%2d) %10.3f"
            % (
                n,
                median(bv),
                max(bv or [nan]),
                len(bv),
                median(ours),
                max(ours or [nan]),
                len(ours),
                median(ours) / median(bv) if bv else nan,
            )
        )
    if any(n > 256 for n in results) and not args.bertviz_long_hover:
        print("(bertviz is not hovered above 256 tokens unless --bertviz-long-hover: one hover takes about a minute)")


# -- long inputs -------------------------------------------------------------------------------

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


def ensure_llm_record(n):
    """The log dir of the cached 32 x 32 x n LLM-shaped records, A and B (each made once: about
    2 minutes at 2048)."""
    from bench.llm_attention import hf_llm_attentions, llm_tokens

    logdir = os.path.join(LLM_CACHE, "32x32x%d" % n)
    for run, seed, marker in ((LLM_RUN, 0, "COMPLETE"), (LLM_RUN_B, 1, "COMPLETE-B")):
        done = os.path.join(logdir, marker)
        if os.path.exists(done):
            continue
        shutil.rmtree(os.path.join(logdir, run), ignore_errors=True)
        print("making the 32 x 32 x %d LLM record %s (cached in %s) ..." % (n, run, logdir), flush=True)
        start = time.time()
        attentions = hf_llm_attentions(32, 32, n, seed=seed)
        tb_attention.add_attention(os.path.join(logdir, run), TAG, attentions, llm_tokens(n), 0)
        del attentions
        tb_attention.flush()
        with open(done, "w") as f:
            f.write("made in %.0f s\n" % (time.time() - start))
    return logdir


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


def measure_llm(browser, args, logdir):
    n = args.llm_tokens
    tb = TensorBoardProcess(logdir).start()
    try:
        tb.wait_for(lambda: LLM_RUN in tb.get_json("/data/plugin/tb_attention/tags").get("runs", {}), timeout=180)
        out = {
            "matrix": [],
            "levels": [],
            "frames": [],
            "model": [],
            "model_fetch": [],
            "head": [],
            "compare": [],
            "compare_frames": [],
            "info": {},
        }
        context, _, _ = llm_open(browser, tb, "view=model", "tb-attention:model-view-drawn")  # warm up
        context.close()
        for _ in range(args.llm_repeat):
            context, page, ms = llm_open(browser, tb, "view=matrix", "tb-attention:matrix-view-drawn")
            out["matrix"].append(ms)
            page.wait_for_function(
                "document.querySelector('.matrix-view .heatmap').dataset.levels === 'complete'", timeout=60000
            )
            out["levels"].append(page.evaluate("performance.now()"))
            out["info"]["matrix"] = page.eval_on_selector(
                ".matrix-view", "e => ({...e.dataset, fetched: (%s)()})" % FETCHED
            )
            out["frames"] += [page.evaluate(FRAME_STEP, list(step)) for step in FRAME_SCRIPT]
            context.close()
            context, page, ms = llm_open(browser, tb, "view=model", "tb-attention:model-view-drawn")
            out["model"].append(ms)
            out["model_fetch"].append(page.evaluate(FETCHED))
            out["info"]["model"] = page.eval_on_selector(".model-view", "e => ({...e.dataset})")
            context.close()
            context, page, ms = llm_open(browser, tb, "view=head", "tb-attention:head-view-drawn")
            out["head"].append(ms)
            out["info"]["head"] = page.eval_on_selector(
                ".head-view",
                "e => ({...e.dataset, tokens: document.querySelectorAll('.hv-left .tok').length, fetched: (%s)()})"
                % FETCHED,
            )
            context.close()
            context, page, ms = llm_open(
                browser, tb, "view=compare&runB=%s" % LLM_RUN_B, "tb-attention:compare-view-drawn"
            )
            out["compare"].append(ms)
            page.wait_for_function(
                "[...document.querySelectorAll('.compare-view .heatmap')].every((m) => m.dataset.levels === 'complete')",
                timeout=60000,
            )
            out["info"]["compare"] = page.eval_on_selector(
                ".compare-view", "e => ({...e.dataset, fetched: (%s)()})" % FETCHED
            )
            out["compare_frames"] += [
                page.evaluate(FRAME_STEP, list(step) + [".compare-view .cmp-diff"]) for step in FRAME_SCRIPT
            ]
            synced = page.evaluate(
                "new Set([...document.querySelectorAll('.compare-view .heatmap')].map((m) => m.dataset.visible)).size"
            )
            if synced != 1:
                raise RuntimeError("the compare view's maps show different regions after the zoom script")
            context.close()
            print(
                "  llm %d tokens  matrix %.0f ms  model %.0f ms (%.1f MB)  head %.0f ms  compare %.0f ms"
                % (
                    n,
                    out["matrix"][-1],
                    out["model"][-1],
                    out["model_fetch"][-1]["bytes"] / 1e6,
                    out["head"][-1],
                    out["compare"][-1],
                ),
                flush=True,
            )
        return out
    finally:
        tb.stop()


def report_llm(r, args):
    n = args.llm_tokens
    frames = [f["frame"] for f in r["frames"]]
    canvas = [f["canvas"] for f in r["frames"]]
    draws = [f["draw"] for f in r["frames"] if f["draw"] is not None]
    slowest = sorted(r["frames"], key=lambda f: -f["frame"])[:3]
    fetch = r["model_fetch"]
    m, h = r["info"]["matrix"], r["info"]["head"]
    print()
    print(
        "Long inputs: 32 layers x 32 heads x %d tokens, sparse (top 32 keys), medians of %d fresh loads"
        % (n, len(r["matrix"]))
    )
    print(
        "  matrix view (mean of %s heads) first paint   %7.0f ms   (goal <= 1000; max %.0f)  fetched %.1f MB, JS heap %.0f MB"
        % (
            len(m["heads"].split(",")),
            median(r["matrix"]),
            max(r["matrix"]),
            m["fetched"]["bytes"] / 1e6,
            (m["fetched"]["heap"] or 0) / 1e6,
        )
    )
    print("  matrix view, every zoom level coloured       %7.0f ms" % median(r["levels"]))
    print(
        "  zoom/pan frames (%d scripted inputs, %d runs) median %5.1f ms  max %5.1f ms   (goal <= 16; p95 %.1f)"
        % (
            len(FRAME_SCRIPT),
            len(frames) // len(FRAME_SCRIPT),
            median(frames),
            max(frames),
            sorted(frames)[int(0.95 * (len(frames) - 1))],
        )
    )
    print(
        "    of which canvas work (draw + raster) median %.1f max %.1f ms; the map's draw() alone median %.1f max %.1f ms;"
        " slowest: %s"
        % (
            median(canvas),
            max(canvas),
            median(draws),
            max(draws),
            ", ".join("%s at %.0fx %.1f ms" % (f["kind"], f["zoom"], f["frame"]) for f in slowest),
        )
    )
    print(
        "  model view complete                          %7.0f ms   (goal <= 3000; max %.0f)  fetched %.1f MB (thumbnails %.1f MB, layers %.1f MB; goal <= 20)"
        % (
            median(r["model"]),
            max(r["model"]),
            median([f["bytes"] for f in fetch]) / 1e6,
            median([f["thumbnails"] for f in fetch]) / 1e6,
            median([f["layers"] for f in fetch]) / 1e6,
        )
    )
    print(
        "  head view, %s-row window first paint     %7.0f ms   (goal <= 1000; max %.0f)  lines %s, tokens %d, fetched %.1f MB"
        % (
            int(h["window"].split(",")[1]) - int(h["window"].split(",")[0]),
            median(r["head"]),
            max(r["head"]),
            h["lines"],
            h["tokens"],
            h["fetched"]["bytes"] / 1e6,
        )
    )
    c = r["info"]["compare"]
    cframes = [f["frame"] for f in r["compare_frames"]]
    print(
        "  compare view (A, B, B - A; mean of %s heads) first paint %5.0f ms   (max %.0f)  fetched %.1f MB"
        % (len(c["heads"].split(",")), median(r["compare"]), max(r["compare"]), c["fetched"]["bytes"] / 1e6)
    )
    print(
        "    three maps zooming together: frames median %5.1f ms  max %5.1f ms  (p95 %.1f)"
        % (median(cframes), max(cframes), sorted(cframes)[int(0.95 * (len(cframes) - 1))])
    )


if __name__ == "__main__":
    try:
        main()
    except urllib.error.URLError as e:
        sys.exit("TensorBoard did not answer: %s" % e)
