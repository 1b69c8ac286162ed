"""bench/render_head.py's report: the medians (and maxima) of each side's loads, printed, ours
against the baseline's when there is one."""

from bench.llm_records import HEADS, KV_HEADS, LAYERS
from bench.render_head_measure import SCROLL_PX
from bench.render_pages import median


def summary(results, models):
    """The medians (and maxima) a side's loads give."""
    frames = [f for r in results for f in r["frames"]]
    nodes = [x for r in results for x in r["nodes"]]
    return {
        "painted": median([r["painted"] for r in results]),
        "painted_max": max(r["painted"] for r in results),
        "loaded": median([r["loaded"] for r in results]),
        "cpu_page": median([r["cpu_page"] for r in results]),
        "cpu_server": median([r["cpu_server"] for r in results]),
        "fetched": median([r["fetched"] for r in results]),
        "layer_bytes": median([r["layer_bytes"] for r in results]),
        "frames": frames,
        "frame": median(frames),
        "frame_p95": sorted(frames)[int(0.95 * (len(frames) - 1))],
        "interval": median([x for r in results for x in r["intervals"]]),
        "interval_p95": sorted(x for r in results for x in r["intervals"])[
            int(0.95 * (sum(len(r["intervals"]) for r in results) - 1))
        ],
        "nodes": max(nodes),
        "nodes_min": min(nodes),
        "heap": max(r["heap_peak"] for r in results),
        "heap_gc": median([r["heap_gc"] for r in results]),
        "find": median([r["find"]["ms"] for r in results if r["find"]["ms"] is not None] or [float("nan")]),
        "find_drawn": median([r["find"]["drawn"] for r in results if r["find"]["drawn"] is not None] or [float("nan")]),
        "found": results[-1]["find"],
        "view": results[-1]["view"],
        "built": results[-1]["tokens_built"],
        "model": median([x["painted"] for x in models]),
        "model_fetched": median([x["fetched"] for x in models]),
        "groups": models[-1]["view"].get("kvGroups"),
    }


def report(sides, args):
    n = args.tokens
    mb = 1e6
    s = sides["ours"]
    v = s["view"]
    print()
    print(
        "Head view: %d layers x %d heads (%d KV heads) x %d tokens, captured (%s), layer %d, medians of %d fresh loads"
        " (load average %s)" % (LAYERS, HEADS, KV_HEADS, n, args.stored, args.layer, args.repeat, args.load)
    )
    print(
        "  first paint            %7.0f ms  (goal <= 1000; max %.0f)   window %s rows read %.0f ms, fetched %.1f MB, lines %s"
        % (s["painted"], s["painted_max"], v["window"].replace(",", "-"), s["loaded"], s["fetched"] / mb, v["lines"])
    )
    print(
        "    CPU time to first paint: the page's renderer %.0f ms, TensorBoard %.0f ms (what a quiet machine waits for,"
        " less what runs in parallel)" % (s["cpu_page"], s["cpu_server"])
    )
    print(
        "  scroll, whole list     %d frames of %d px: median %.1f ms  p95 %.1f  max %.1f  (goal median <= 16)"
        % (len(s["frames"]), SCROLL_PX, s["frame"], s["frame_p95"], max(s["frames"]))
    )
    print(
        "    frame to frame (requestAnimationFrame, 60 Hz: 16.7 ms) median %.1f ms  p95 %.1f"
        % (s["interval"], s["interval_p95"])
    )
    print(
        "  DOM nodes              max %d over the scroll (min %d); token rows built at the end %d of %d  (bounded)"
        % (s["nodes"], s["nodes_min"], s["built"], 2 * n)
    )
    print(
        "  JS heap (tab)          peak read %.0f MB, after GC %.0f MB  (objects and array buffers; goal <= 300)"
        % (s["heap"] / mb, s["heap_gc"] / mb)
    )
    print(
        "  find '#%d'          %.0f ms to the token on screen, highlighted, drawn (found %s, on screen %s);"
        " %.0f ms to its window read" % (n - 1, s["find_drawn"], s["found"]["found"], s["found"]["onScreen"], s["find"])
    )
    print(
        "  model view first paint %7.0f ms, fetched %.1f MB; KV groups %s"
        % (s["model"], s["model_fetched"] / mb, s["groups"])
    )
    if "base" in sides:
        report_against(s, sides["base"], args)


def report_against(s, b, args):
    """Ours beside the baseline's (`--baseline REF`), measure by measure, and the ratios."""
    mb = 1e6
    print("  against %s, the same record in the same run (ours / %s):" % (args.baseline, args.baseline))
    for name, key, unit in (
        ("first paint", "painted", "ms"),
        ("renderer CPU to paint", "cpu_page", "ms"),
        ("server CPU to paint", "cpu_server", "ms"),
        ("window read", "loaded", "ms"),
        ("fetched by then", "fetched", "MB"),
        ("/layer bodies decoded", "layer_bytes", "MB"),
        ("scroll frame median", "frame", "ms"),
        ("scroll frame p95", "frame_p95", "ms"),
        ("frame interval median", "interval", "ms"),
        ("frame interval p95", "interval_p95", "ms"),
        ("DOM nodes max", "nodes", ""),
        ("JS heap peak", "heap", "MB"),
        ("find the last token", "find_drawn", "ms"),
        ("... its window read", "find", "ms"),
        ("model view first paint", "model", "ms"),
    ):
        scale = mb if unit == "MB" else 1
        print(
            "    %-24s ours %9.1f %-2s  %s %9.1f %-2s  ratio %.3f"
            % (
                name,
                s[key] / scale,
                unit,
                args.baseline,
                b[key] / scale,
                unit,
                s[key] / b[key] if b[key] else float("nan"),
            )
        )
