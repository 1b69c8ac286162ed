"""bench/render.py's long-context measures (the panel alone, in the same Chromium):

* `--long-tokens 32768`: the capture records of bench/long_record.py (4 layers x 8 heads, GQA with
  2 KV heads; A and B, another seed), served by their own TensorBoard; the matrix view (the mean of
  the 8 heads, read as tiles): first paint (navigation start to the end of the frame after its
  drawn mark: the tiles of the whole matrix in), bytes fetched (every response as transferred) and
  the tab's JS heap; the zoom/pan frames of render.py's script; a zoom from the whole matrix to
  single cells by scripted wheel input (a notch every 100 ms at one point) until every tile of the
  view has arrived; and pixel probes: every cell the view shows whole, at the whole matrix and at
  single cells, drawn in the colour of the stored (pooled) weight, as `StoredPart.region` reads it
  in Python (the mean of heads as /tile computes it), coloured by the panel's own scale. Then the
  compare view of A and B: first paint and the frames of the three maps zooming together.
* `--against DIR` (another checkout, e.g. `git archive main | tar -x -C DIR`): render.py's
  2048-token LLM record served by this checkout's TensorBoard and by one running DIR's code, loads
  alternating, in the same Chromium: the matrix view's first paint and bytes, the model view's
  first paint and bytes, the compare view's first paint; ratios this / DIR.
"""

import numpy as np

from bench import against, long_record
from bench.render_pages import FETCHED, FRAME_SCRIPT, FRAME_STEP, LLM_RUN_B, llm_open, median
from tests.helpers.browser import cell_centres, scaled_colours

MATRIX = ".matrix-view .heatmap"
WHEEL_STEP_MS = 100  # one wheel notch every 100 ms: about ten a second, a brisk scroll
LEVELS_COMPLETE = "s => document.querySelector(s) && document.querySelector(s).dataset.levels === 'complete'"

# Scripted wheel input at the map's point (a, b): one notch (deltaY -240) every `ms` until the
# cells are `cell` px or larger; resolves to the input's duration.
DEEP_ZOOM = """async ([a, b, ms, cell]) => {
  const m = document.querySelector('.matrix-view .heatmap');
  const o = m.querySelector('.hm-overlay');
  const r = o.getBoundingClientRect();
  const opts = { bubbles: true, cancelable: true, clientX: r.x + r.width * a, clientY: r.y + r.height * b, deltaY: -240 };
  const start = performance.now();
  while (+m.dataset.cell < cell) {
    o.dispatchEvent(new WheelEvent('wheel', opts));
    await new Promise((done) => setTimeout(done, ms));
  }
  window.__zoomStart = start;
  return performance.now() - start;
}"""


def stored_mean(stored, layer, rows, cols, factor):
    """The mean of every head's cells of factor `factor` as /tile computes it: a head that does not
    store a cell counts 0 there, NaN where none stores it."""
    values = stored.region(layer, None, rows, cols, factor)
    mean = np.nan_to_num(values).mean(axis=0, dtype=np.float64).astype(np.float32)
    return np.where(np.isnan(values).all(axis=0), np.float32(np.nan), mean)


def probe_view(page, stored, layer):
    """(cells probed, cells drawn in another colour than their stored weight's) of every pooled
    cell the matrix view shows whole."""
    d = page.eval_on_selector(MATRIX, "m => ({...m.dataset})")
    f = 2 ** int(d["level"])
    r0, r1, c0, c1 = map(int, d["visible"].split(","))
    q, k = stored.part.shape[2:]
    # Whole pooled cells inside the view: the first and last may be cut by the plot's edges.
    R0, R1 = -(-r0 // f) + 1, (r1 // f) - 1
    C0, C1 = -(-c0 // f) + 1, (c1 // f) - 1
    values = stored_mean(stored, layer, (R0 * f, min(q, R1 * f)), (C0 * f, min(k, C1 * f)), f)
    cells = [(R, C) for R in range(R0, R1) for C in range(C0, C1)]
    lo, hi, kind = float(d["lo"]), float(d["hi"]), d["scale"]
    want = scaled_colours(page, values, kind, lo, 0 if kind == "log" else lo, hi)
    got = cell_centres(page, MATRIX, cells, f)
    bad = int((want != got).any(axis=1).sum())
    return len(cells), bad, f


def measure_long(browser, args):
    """The 32k matrix and compare views (see the module docstring); None when skipped."""
    import tb_attention

    n = args.long_tokens
    logdir = long_record.ensure(n)
    (record,) = tb_attention.read_attention(logdir, run=long_record.RUN, tag=long_record.TAG)
    stored = record._stored
    tb = against.tensorboard(logdir).start()
    out = {"matrix": [], "fetched": [], "heap": [], "frames": [], "zoom": [], "probes": [], "compare": []}
    out["compare_frames"] = []
    try:
        tb.wait_for(lambda: long_record.RUN_B in tb.get_json("/data/plugin/tb_attention/tags").get("runs", {}), 300)
        fragment = "view=matrix"
        context, _, _ = llm_open(
            browser, tb, fragment, "tb-attention:matrix-view-drawn", run=long_record.RUN, tag=long_record.TAG
        )
        context.close()  # warm up: TensorBoard's first read of the record
        for _ in range(args.llm_repeat):
            long_matrix(browser, tb, stored, fragment, out)
            long_compare(browser, tb, out)
            print(
                "  long %d tokens  matrix %.0f ms (%.1f MB)  zoom to cells %.0f ms  compare %.0f ms"
                % (n, out["matrix"][-1], out["fetched"][-1] / 1e6, out["zoom"][-1], out["compare"][-1]),
                flush=True,
            )
    finally:
        tb.stop()
    return out


def long_matrix(browser, tb, stored, fragment, out):
    context, page, ms = llm_open(
        browser, tb, fragment, "tb-attention:matrix-view-drawn", run=long_record.RUN, tag=long_record.TAG
    )
    try:
        out["matrix"].append(ms)
        fetched = page.evaluate(FETCHED)
        out["fetched"].append(fetched["bytes"])
        out["probes"].append(("whole matrix",) + probe_view(page, stored, 0))
        out["frames"] += [page.evaluate(FRAME_STEP, list(step)) for step in FRAME_SCRIPT]
        page.wait_for_function(LEVELS_COMPLETE, arg=MATRIX, timeout=60000)
        page.evaluate("() => new Promise((r) => setTimeout(r, 300))")
        input_ms = page.evaluate(DEEP_ZOOM, [0.62, 0.7, WHEEL_STEP_MS, 48])
        page.wait_for_function(LEVELS_COMPLETE, arg=MATRIX, timeout=60000, polling=10)
        out["zoom"].append(page.evaluate("performance.now() - window.__zoomStart"))
        out["zoom_input"] = input_ms
        out["probes"].append(("single cells",) + probe_view(page, stored, 0))
        out["heap"].append(page.evaluate(FETCHED)["heap"])
    finally:
        context.close()


def long_compare(browser, tb, out):
    fragment = "view=compare&runB=%s" % long_record.RUN_B
    context, page, ms = llm_open(
        browser, tb, fragment, "tb-attention:compare-view-drawn", run=long_record.RUN, tag=long_record.TAG
    )
    try:
        out["compare"].append(ms)
        out["compare_fetched"] = page.evaluate(FETCHED)["bytes"]
        out["compare_frames"] += [
            page.evaluate(FRAME_STEP, list(step) + [".compare-view .cmp-diff"]) for step in FRAME_SCRIPT
        ]
    finally:
        context.close()


def report_long(r, args):
    frames = [f["frame"] for f in r["frames"]]
    cframes = [f["frame"] for f in r["compare_frames"]]
    print()
    print(
        "Long context: 4 layers x 8 heads (2 KV heads) x %d tokens through the capture, medians of %d fresh loads"
        % (args.long_tokens, len(r["matrix"]))
    )
    print(
        "  matrix view (mean of 8 heads, tiles) first paint %6.0f ms  (goal <= 1000; max %.0f)  fetched %.1f MB (goal <= 10)"
        % (median(r["matrix"]), max(r["matrix"]), median(r["fetched"]) / 1e6)
    )
    print(
        "  zoom/pan frames (%d scripted inputs)  median %5.1f ms  max %5.1f ms  (goal median <= 16)"
        % (len(frames), median(frames), max(frames))
    )
    print(
        "  whole matrix to single cells, a wheel notch every %d ms (%.0f ms of input): %.0f ms until every tile"
        " is in (goal <= 2000; max %.0f)" % (WHEEL_STEP_MS, r["zoom_input"], median(r["zoom"]), max(r["zoom"]))
    )
    for what, cells, bad, f in r["probes"][:2]:
        print(
            "  pixel probes, %s (factor %d): %d cells, %d in another colour than the stored weight's"
            % (what, f, cells, bad)
        )
    bad = sum(p[2] for p in r["probes"])
    print("    all loads: %d cells probed, %d wrong" % (sum(p[1] for p in r["probes"]), bad))
    print("  JS heap after the zoom: %.0f MB (max %.0f; goal <= 300)" % (median(r["heap"]) / 1e6, max(r["heap"]) / 1e6))
    print(
        "  compare view (A, B, B - A) first paint %6.0f ms (max %.0f), fetched %.1f MB; frames median %.1f ms max %.1f ms"
        % (median(r["compare"]), max(r["compare"]), r["compare_fetched"] / 1e6, median(cframes), max(cframes))
    )


def measure_against(browser, args, logdir):
    """The 2048-token LLM record through this checkout and `args.against`, loads alternating."""
    tbs = {"this": against.tensorboard(logdir).start(), "other": against.tensorboard(logdir, args.against).start()}
    out = {side: {"matrix": [], "matrix_bytes": [], "model": [], "model_bytes": [], "compare": []} for side in tbs}
    try:
        for tb in tbs.values():
            tb.wait_for(lambda t=tb: LLM_RUN_B in t.get_json("/data/plugin/tb_attention/tags").get("runs", {}), 300)
        if not against.serves_checkout(tbs["other"], args.against):
            raise RuntimeError("the TensorBoard for %s does not serve its panel" % args.against)
        views = [
            ("matrix", "view=matrix", "tb-attention:matrix-view-drawn"),
            ("model", "view=model", "tb-attention:model-view-drawn"),
            ("compare", "view=compare&runB=%s" % LLM_RUN_B, "tb-attention:compare-view-drawn"),
        ]
        for tb in tbs.values():  # warm up each server
            llm_open(browser, tb, "view=matrix", "tb-attention:matrix-view-drawn")[0].close()
        for rep in range(args.llm_repeat * 2):
            sides = list(tbs.items()) if rep % 2 == 0 else list(tbs.items())[::-1]
            for side, tb in sides:
                for name, fragment, mark in views:
                    context, page, ms = llm_open(browser, tb, fragment, mark)
                    out[side][name].append(ms)
                    if name + "_bytes" in out[side]:
                        out[side][name + "_bytes"].append(page.evaluate(FETCHED)["bytes"])
                    context.close()
        return out
    finally:
        for tb in tbs.values():
            tb.stop()


def report_against(r, args):
    print()
    print(
        "2048-token LLM record (32 x 32, sparse): this checkout against %s, alternating loads, medians of %d"
        % (args.against, len(r["this"]["matrix"]))
    )
    for name in ("matrix", "model", "compare"):
        a, b = median(r["this"][name]), median(r["other"][name])
        line = "  %-8s first paint  this %6.0f ms  other %6.0f ms  ratio %.2f" % (name, a, b, a / b)
        if name + "_bytes" in r["this"]:
            ab, bb = median(r["this"][name + "_bytes"]), median(r["other"][name + "_bytes"])
            line += "   fetched this %.1f MB other %.1f MB (ratio %.2f)" % (ab / 1e6, bb / 1e6, ab / bb)
        print(line)
    print("  (the machine's load moves both sides alike: read the ratios)")
