"""bench/render.py's long inputs (`--parts llm`, `--llm-tokens 2048`): the cached 32 x 32 LLM-shaped
records A and B (bench/llm_attention.py), served by their own TensorBoard, and the matrix, model,
head and compare views timed on them (render.py's docstring says what each measure is)."""

import os
import shutil
import time

import tb_attention
from bench.render_pages import FETCHED, FRAME_SCRIPT, FRAME_STEP, LLM_RUN, LLM_RUN_B, TAG, llm_open, median
from tests.helpers.tb_process import TensorBoardProcess

LLM_CACHE = os.path.join(os.path.dirname(os.path.abspath(__file__)), ".cache", "render_llm")


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
            load_matrix(browser, tb, out)
            load_model(browser, tb, out)
            load_head(browser, tb, out)
            load_compare(browser, tb, out)
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


def load_matrix(browser, tb, out):
    """The matrix view (the mean of the heads): first paint, every level coloured, the zoom/pan frames."""
    context, page, ms = llm_open(browser, tb, "view=matrix", "tb-attention:matrix-view-drawn")
    out["matrix"].append(ms)
    page.wait_for_function(
        "document.querySelector('.matrix-view .heatmap').dataset.levels === 'complete'", timeout=60000
    )
    out["levels"].append(page.evaluate("performance.now()"))
    out["info"]["matrix"] = page.eval_on_selector(".matrix-view", "e => ({...e.dataset, fetched: (%s)()})" % FETCHED)
    out["frames"] += [page.evaluate(FRAME_STEP, list(step)) for step in FRAME_SCRIPT]
    context.close()


def load_model(browser, tb, out):
    """The model view: first paint and bytes fetched."""
    context, page, ms = llm_open(browser, tb, "view=model", "tb-attention:model-view-drawn")
    out["model"].append(ms)
    out["model_fetch"].append(page.evaluate(FETCHED))
    out["info"]["model"] = page.eval_on_selector(".model-view", "e => ({...e.dataset})")
    context.close()


def load_head(browser, tb, out):
    """The head view at its default query window: first paint."""
    context, page, ms = llm_open(browser, tb, "view=head", "tb-attention:head-view-drawn")
    out["head"].append(ms)
    out["info"]["head"] = page.eval_on_selector(
        ".head-view",
        "e => ({...e.dataset, tokens: document.querySelectorAll('.hv-left .tok').length, fetched: (%s)()})" % FETCHED,
    )
    context.close()


def load_compare(browser, tb, out):
    """The compare view of A and B: first paint, then the zoom/pan frames of its three maps."""
    context, page, ms = llm_open(browser, tb, "view=compare&runB=%s" % LLM_RUN_B, "tb-attention:compare-view-drawn")
    out["compare"].append(ms)
    page.wait_for_function(
        "[...document.querySelectorAll('.compare-view .heatmap')].every((m) => m.dataset.levels === 'complete')",
        timeout=60000,
    )
    out["info"]["compare"] = page.eval_on_selector(".compare-view", "e => ({...e.dataset, fetched: (%s)()})" % FETCHED)
    out["compare_frames"] += [
        page.evaluate(FRAME_STEP, list(step) + [".compare-view .cmp-diff"]) for step in FRAME_SCRIPT
    ]
    synced = page.evaluate(
        "new Set([...document.querySelectorAll('.compare-view .heatmap')].map((m) => m.dataset.visible)).size"
    )
    if synced != 1:
        raise RuntimeError("the compare view's maps show different regions after the zoom script")
    context.close()


def report_llm(r, args):
    n = args.llm_tokens
    frames = [f["frame"] for f in r["frames"]]
    canvas = [f["canvas"] for f in r["frames"]]
    draws = [f["draw"] for f in r["frames"] if f["draw"] is not None]
    slowest = sorted(r["frames"], key=lambda f: -f["frame"])[:3]
    m = r["info"]["matrix"]
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
    report_llm_views(r)


def report_llm_views(r):
    """The model, head and compare views' lines of the report."""
    fetch = r["model_fetch"]
    h = r["info"]["head"]
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
