"""Many-steps benchmark: a logdir of 200 steps x 4 probes (packaged MiniLM, 128 tokens), served by
a real TensorBoard in both loaders at 50, 100 and 200 steps.

For each step count it reports the time until TensorBoard serves every step of every probe, the
plugin's response times (`/tags`, `/steps` cold and warm, `/layer`, `/patterns`, median of
--repeat calls) and the resident memory of the TensorBoard process and its children (the Rust data
server), then the ratios between step counts, so growth is visible at a glance.

The attention is the model's own on 4 real 128-token texts, sharpened or flattened per step
(still softmax rows), so every step differs. The 50- and 100-step logdirs are the first records of
the 200-step event file, cut at record boundaries: the same bytes, fewer steps.

Run: python bench/many_steps.py [--steps 50,100,200] [--loaders true,false] [--repeat 10]
     python bench/many_steps.py --llm   the LLM-sized comparison (24 x 16 heads, 512 causal tokens, 10
                                        and 40 records, format 1 against format 2): bench/serving.py
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

import tb_attention  # noqa: E402
from bench.common import TEXT, load_minilm, timed_get, tree_rss_kb  # noqa: E402
from tests.helpers.eventfiles import attention_event_files, frames  # noqa: E402
from tests.helpers.tb_process import TensorBoardProcess  # noqa: E402

BASE = "/data/plugin/tb_attention"
RUN = "finetune"


def probe_inputs(tokenizer, n_probes, n_tokens):
    """`n_probes` different real texts of exactly n_tokens tokens (the text, rotated)."""
    words = (TEXT * (2 + n_tokens // 30)).split()
    out = []
    for i in range(n_probes):
        text = " ".join(words[7 * i :] + words[: 7 * i])
        enc = tokenizer(text, return_tensors="pt", truncation=True, max_length=n_tokens)
        assert enc["input_ids"].shape[1] == n_tokens
        out.append(enc)
    return out


def write_logdir(logdir, n_steps, n_probes, n_tokens):
    tokenizer, model = load_minilm()
    probes = []
    for i, enc in enumerate(probe_inputs(tokenizer, n_probes, n_tokens)):
        with torch.no_grad():
            attentions = model(**enc, output_attentions=True).attentions
        log = torch.log(torch.stack(attentions)[:, 0] + 1e-9)  # [layers, heads, q, k]
        probes.append(("probe/%d" % i, log, tokenizer.convert_ids_to_tokens(enc["input_ids"][0])))
    start = time.perf_counter()
    for step in range(n_steps):
        for tag, log, tokens in probes:
            mixed = torch.softmax(log * (0.5 + step / n_steps), dim=-1)
            tb_attention.add_attention(os.path.join(logdir, RUN), tag, mixed, tokens, step)
    tb_attention.flush()
    tb_attention.close()
    return time.perf_counter() - start


def cut_logdir(full, target, n_steps, n_probes):
    """A copy of `full` holding only its first n_steps steps (whole records, same bytes)."""
    (path,) = attention_event_files(os.path.join(full, RUN))
    with open(path, "rb") as f:
        data = f.read()
    records = frames(data)
    keep = 1 + n_steps * n_probes  # the file_version record, then the steps in order
    end = records[keep - 1][0] + records[keep - 1][1]
    os.makedirs(os.path.join(target, RUN))
    with open(os.path.join(target, RUN, os.path.basename(path)), "wb") as f:
        f.write(data[:end])
    # Format 2: the payload file as it is (bytes no kept index points to are never read).
    shutil.copytree(os.path.join(full, RUN, "plugins"), os.path.join(target, RUN, "plugins"))


def measure(logdir, load_fast, n_steps, n_probes, repeat):
    tags = ["probe/%d" % i for i in range(n_probes)]
    start = time.perf_counter()
    tb = TensorBoardProcess(logdir, load_fast=load_fast, reload_interval=1)
    tb.start(timeout=300)
    try:
        started = time.perf_counter() - start

        def all_served():
            import json

            for tag in tags:
                status, _, body = tb.get(BASE + "/steps?" + urllib.parse.urlencode(dict(run=RUN, tag=tag)))
                if status != 200 or len(json.loads(body)["steps"]) != n_steps:
                    return False
            return True

        # The first full /steps of each tag is the cold one: it reads every header once.
        tb.wait_for(all_served, timeout=900, interval=0.25)
        loaded = time.perf_counter() - start
        q_steps = BASE + "/steps?" + urllib.parse.urlencode(dict(run=RUN, tag=tags[0]))
        routes = {
            "tags": BASE + "/tags",
            "steps": q_steps,
            "layer": BASE + "/layer?" + urllib.parse.urlencode(dict(run=RUN, tag=tags[0], step=n_steps - 1, layer=5)),
            "patterns": BASE + "/patterns?" + urllib.parse.urlencode(dict(run=RUN, tag=tags[0])),
        }
        result = {"start_s": started, "load_s": loaded}
        for name, path in routes.items():
            times = [timed_get(tb, path)[0] for _ in range(repeat)]
            result[name + "_ms"] = 1000 * statistics.median(times)
        result["steps_kb"] = len(timed_get(tb, q_steps)[1]) / 1024
        result["rss_mb"] = tree_rss_kb(tb.proc.pid) / 1024
        return result
    finally:
        tb.stop()


COLUMNS = ["start_s", "load_s", "tags_ms", "steps_ms", "layer_ms", "patterns_ms", "steps_kb", "rss_mb"]


def report(loader, results):
    counts = sorted(results)
    print("\nloader --load_fast=%s" % loader)
    print("%-8s" % "steps" + "".join("%13s" % c for c in COLUMNS))
    for n in counts:
        print("%-8d" % n + "".join("%13.2f" % results[n][c] for c in COLUMNS))
    base = counts[0]
    for n in counts[1:]:
        print(
            "%-8s" % ("x%d/%d" % (n, base))
            + "".join("%13.2f" % (results[n][c] / max(results[base][c], 1e-9)) for c in COLUMNS)
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", default="50,100,200")
    parser.add_argument("--probes", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--loaders", default="true,false")
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--keep", help="write the logdirs here and keep them")
    parser.add_argument("--llm", action="store_true", help="run bench/serving.py instead (LLM-sized records)")
    args = parser.parse_args()
    if args.llm:
        from bench import serving

        sys.argv = [sys.argv[0], "--repeat", str(args.repeat)]
        return serving.main()
    counts = sorted(int(n) for n in args.steps.split(","))
    root = args.keep or tempfile.mkdtemp(prefix="tb-attention-many-steps-")
    try:
        full = os.path.join(root, "steps%d" % counts[-1])
        write_s = write_logdir(full, counts[-1], args.probes, args.tokens)
        size = sum(
            os.path.getsize(os.path.join(d, f)) for d, _, names in os.walk(os.path.join(full, RUN)) for f in names
        )
        n_records = counts[-1] * args.probes
        print(
            "wrote %d records (%d steps x %d probes, MiniLM 6x12, %d tokens) in %.1f s: %.1f MB, %.0f KB/record"
            % (n_records, counts[-1], args.probes, args.tokens, write_s, size / 1e6, size / 1024 / n_records)
        )
        logdirs = {counts[-1]: full}
        for n in counts[:-1]:
            logdirs[n] = os.path.join(root, "steps%d" % n)
            cut_logdir(full, logdirs[n], n, args.probes)
        for loader in args.loaders.split(","):
            results = {n: measure(logdirs[n], loader, n, args.probes, args.repeat) for n in counts}
            report(loader, results)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
