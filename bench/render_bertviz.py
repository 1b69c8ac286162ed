"""bench/render.py's head view against bertviz's head_view (`--parts head`): the same MiniLM attention
(layer 0, all 12 heads) at `--tokens` lengths, logged and served by a real TensorBoard (ours) and
as bertviz's page from a local HTTP server, each load a fresh context, the sides alternating: first
paint, hover measures, and what each page drew checked (render.py's docstring says what is timed)."""

import os
import tempfile
import time

import torch

import tb_attention
from bench import bertviz_harness
from bench.common import encode, load_minilm
from bench.render_pages import TAG, median
from tests.helpers.tb_process import TensorBoardProcess

VIEWPORT = {"width": 1280, "height": 900}
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
                load(bench, args, results[n], mode, n, heads)
    return results


def load(bench, args, r, mode, n, heads):
    """One fresh load of `mode`'s page at `n` tokens: checked, timed and hovered, into `r` (the
    results at `n` tokens)."""
    try:
        context, page, result = bench.open(mode, n)
    except PaintTimeout as e:
        if mode == "ours":
            raise
        print("  %3d tokens  %-7s  %s" % (n, mode, e), flush=True)
        r["bertviz_timeouts"] += 1
        return
    try:
        check(mode, result, n, heads)
        r[mode].append(result["painted"])
        r["complete_" + mode].append(result["completePainted"])
        r["info"][mode] = result
        print(
            "  %3d tokens  %-7s  drawn %9.1f ms  painted %9.1f ms  all drawn+painted %9.1f ms  lines %d"
            % (n, mode, result["drawn"], result["painted"], result["completePainted"], result["lines"]),
            flush=True,
        )
        if mode == "ours":
            hover = bench.ours_hover(page, n)
            r["hover"] += hover
            print(
                "  %3d tokens  ours     hover: first %.1f ms, max %.1f ms, median %.1f ms of %d"
                % (n, hover[0], max(hover), median(hover), len(hover)),
                flush=True,
            )
            if not r["ours_dispatch"]:
                r["ours_dispatch"] = bench.dispatched_hover(page, OURS_TOKENS, n, args.hovers, 10)
        elif not r["bertviz_dispatch"] and (n <= 256 or args.bertviz_long_hover):
            r["bertviz_dispatch"] = bench.dispatched_hover(page, BERTVIZ_TOKENS, n, args.bertviz_hovers, 20)
    finally:
        context.close()


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
    report_hover(results, args)


def report_hover(results, args):
    nan = float("nan")
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
