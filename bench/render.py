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
import os
import sys
import time
import urllib.error

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# The parts: the head view against bertviz (render_bertviz), the 2048-token LLM records (render_llm), the
# 32k capture records and the views against another checkout (render_long); what they share: render_pages.
from bench.render_bertviz import head_part, report  # noqa: E402
from bench.render_llm import ensure_llm_record, measure_llm, report_llm  # noqa: E402
from bench.render_pages import CHROMIUM_ARGS  # noqa: E402


def parse_args():
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
    return parser.parse_args()


def main():
    args = parse_args()
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


if __name__ == "__main__":
    try:
        main()
    except urllib.error.URLError as e:
        sys.exit("TensorBoard did not answer: %s" % e)
