"""Serving cost of LLM-sized records, format 1 (tb-attention 0.1: attention inside the event
stream) against format 2 (an index in the event stream, payload files beside it), side by side.

Records shaped like a 24-layer x 16-head decoder on a 512-token probe (causal, first-token sink;
bench/llm_attention.py), uint8. The same attention is written in both formats, 10 and 40 records
each (4 probes, cycled over the steps). For each logdir and loader: the time until TensorBoard
lists every step, TensorBoard's memory (its process and the Rust data server) once it did, and
the median `/layer` latency; then through an S3 API (moto's server on 127.0.0.1) with the Python
loader. Ratios are printed for the targets of docs/format.md.

Run: python bench/serving.py [--repeat 15] [--records 10,40] [--no-s3]
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

import numpy as np  # noqa: E402

import tb_attention  # noqa: E402
from bench.common import timed_get, tree_rss_kb  # noqa: E402
from bench.llm_attention import llm_layer, llm_tokens  # noqa: E402
from tests.helpers.eventfiles import attention_event_files, frames, write_v1_records  # noqa: E402
from tests.helpers.tb_process import TensorBoardProcess  # noqa: E402

BASE = "/data/plugin/tb_attention"
RUN, TAG = "llm", "probe/long"
LAYERS, HEADS, TOKENS, PROBES = 24, 16, 512, 4
ACCEPT = {"Accept-Encoding": "gzip, deflate, br, zstd"}  # what Chromium sends


def probe_attention(seed):
    return np.stack([llm_layer(li, HEADS, TOKENS, seed=seed) for li in range(LAYERS)])


def write_logdirs(root, counts):
    """{(format, count): logdir}, the same attention in each."""
    probes = [probe_attention(seed) for seed in range(PROBES)]
    tokens = llm_tokens(TOKENS)
    top = max(counts)
    logdirs = {}
    v2 = os.path.join(root, "v2_%d" % top)
    for step in range(top):
        tb_attention.add_attention(os.path.join(v2, RUN), TAG, probes[step % PROBES], tokens, step)
    tb_attention.flush()
    tb_attention.close()
    v1 = os.path.join(root, "v1_%d" % top)
    write_v1_records(os.path.join(v1, RUN), [(s, probes[s % PROBES], tokens) for s in range(top)], TAG)
    logdirs["v1", top], logdirs["v2", top] = v1, v2
    for n in counts:
        if n != top:
            for fmt, full in (("v1", v1), ("v2", v2)):
                logdirs[fmt, n] = cut(full, os.path.join(root, "%s_%d" % (fmt, n)), n)
    return logdirs


def cut(full, target, n):
    """A copy of `full` with its first n records (same bytes; the payload file copied whole)."""
    (path,) = attention_event_files(os.path.join(full, RUN))
    with open(path, "rb") as f:
        data = f.read()
    offset, size = frames(data)[n]  # record 0 is the file version
    os.makedirs(os.path.join(target, RUN))
    with open(os.path.join(target, RUN, os.path.basename(path)), "wb") as f:
        f.write(data[: offset + size])
    if os.path.isdir(os.path.join(full, RUN, "plugins")):  # the payload files, whole
        shutil.copytree(os.path.join(full, RUN, "plugins"), os.path.join(target, RUN, "plugins"))
    return target


def size_mb(logdir):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, names in os.walk(logdir) for f in names) / 1e6


def measure(logdir, load_fast, n, repeat, env=None):
    steps_url = BASE + "/steps?" + urllib.parse.urlencode(dict(run=RUN, tag=TAG))
    start = time.perf_counter()
    tb = TensorBoardProcess(logdir, load_fast=load_fast, reload_interval=1, env=env).start(timeout=300)
    try:
        tb.wait_for(lambda: len(tb.get_json(steps_url)["steps"]) == n, timeout=900, interval=0.1)
        listed = time.perf_counter() - start
        rss = tree_rss_kb(tb.proc.pid) / 1024
        layer_times = []
        for i in range(repeat):
            path = (
                BASE
                + "/layer?"
                + urllib.parse.urlencode(dict(run=RUN, tag=TAG, step=(7 * i) % n, layer=(5 * i) % LAYERS))
            )
            layer_times.append(timed_get(tb, path, ACCEPT)[0])
        return {
            "listed_s": listed,
            "rss_mb": rss,
            "layer_ms": 1000 * statistics.median(layer_times),
            "rss_after_mb": tree_rss_kb(tb.proc.pid) / 1024,
        }
    finally:
        tb.stop()


def s3_measure(logdir, n, repeat):
    import logging

    import boto3
    import moto.server as moto_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request

    from tests.helpers.tb_process import free_port

    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = "http://127.0.0.1:%d" % port
        env = {
            "S3_ENDPOINT": endpoint,
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "NO_PROXY": "127.0.0.1",
        }
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )
        client.create_bucket(Bucket="bench")
        for d, _, names in os.walk(logdir):
            for name in names:
                path = os.path.join(d, name)
                client.upload_file(path, "bench", "logs/" + os.path.relpath(path, logdir).replace(os.sep, "/"))
        return measure("s3://bench/logs", "false", n, repeat, env=env)
    finally:
        server.stop()


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", default="10,40")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--no-s3", action="store_true")
    return parser.parse_args()


def print_sizes(logdirs):
    print("records: %d layers x %d heads x %d tokens, causal, uint8" % (LAYERS, HEADS, TOKENS))
    for (fmt, n), d in sorted(logdirs.items()):
        print("  %s, %2d records: %7.1f MB on disk" % (fmt, n, size_mb(d)))


def measure_all(logdirs, counts, repeat):
    """{(format, count, load_fast): measure(...)} for every logdir and both loaders."""
    results = {}
    # Alternate the formats so drift of the machine hits both alike.
    for loader in ("true", "false"):
        for n in counts:
            for fmt in ("v1", "v2"):
                results[fmt, n, loader] = measure(logdirs[fmt, n], loader, n, repeat)
    return results


def print_table(results):
    print(
        "\n%-4s %-8s %-7s %10s %9s %10s %14s"
        % ("fmt", "records", "loader", "listed s", "RSS MB", "/layer ms", "RSS after MB")
    )
    for key in sorted(results):
        r = results[key]
        print(
            "%-4s %-8d %-7s %10.2f %9.0f %10.1f %14.0f"
            % (key[0], key[1], key[2], r["listed_s"], r["rss_mb"], r["layer_ms"], r["rss_after_mb"])
        )


def print_targets(results, lo, hi):
    """The ratios against the targets of docs/format.md, `lo` and `hi` records."""
    rust = {k: v for k, v in results.items() if k[2] == "true"}
    print("\ntargets (format 2; format 1 beside it):")
    print(
        "  RSS %d/%d records, Rust loader   v2 %.2f   v1 %.2f   (goal v2 <= 1.1)"
        % (
            hi,
            lo,
            rust["v2", hi, "true"]["rss_mb"] / rust["v2", lo, "true"]["rss_mb"],
            rust["v1", hi, "true"]["rss_mb"] / rust["v1", lo, "true"]["rss_mb"],
        )
    )
    print(
        "  RSS at %d records              v2 %.0f MB  v1 %.0f MB  (goal v2 <= 300 MB)"
        % (hi, rust["v2", hi, "true"]["rss_mb"], rust["v1", hi, "true"]["rss_mb"])
    )
    print(
        "  Python loader lists %d records  v2 %.2f s  v1 %.2f s  ratio %.3f  (goal v2 <= 3 s)"
        % (
            lo,
            results["v2", lo, "false"]["listed_s"],
            results["v1", lo, "false"]["listed_s"],
            results["v2", lo, "false"]["listed_s"] / results["v1", lo, "false"]["listed_s"],
        )
    )
    print(
        "  /layer median: v2 at %d records %.1f ms, v1 at %d records %.1f ms: ratio %.2f  (goal <= 1)"
        % (
            hi,
            rust["v2", hi, "true"]["layer_ms"],
            lo,
            rust["v1", lo, "true"]["layer_ms"],
            rust["v2", hi, "true"]["layer_ms"] / rust["v1", lo, "true"]["layer_ms"],
        )
    )


def report_s3(logdir, n, repeat):
    s3 = s3_measure(logdir, n, repeat)
    print(
        "  through S3 (moto, Python loader), %d records: listed in %.1f s, /layer median %.1f ms  (goal <= 150 ms)"
        % (n, s3["listed_s"], s3["layer_ms"])
    )


def main():
    args = parse_args()
    counts = sorted(int(n) for n in args.records.split(","))
    lo, hi = counts[0], counts[-1]
    root = tempfile.mkdtemp(prefix="tb-attention-serving-")
    try:
        logdirs = write_logdirs(root, counts)
        print_sizes(logdirs)
        results = measure_all(logdirs, counts, args.repeat)
        print_table(results)
        print_targets(results, lo, hi)
        if not args.no_s3:
            report_s3(logdirs["v2", hi], hi, args.repeat)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
