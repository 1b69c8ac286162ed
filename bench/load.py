"""Load: many panels open at once on a large logdir. `--clients` (default 16) concurrent clients,
each on its own keep-alive connection as a browser tab has, read 32 x 32 x 2048 records from a
real TensorBoard while a training-like process writes new records into another run.

The records are two LLM-shaped records (bench/llm_attention.py, seeds 0 and 1; runs `llm` and
`llm-b`), stored with add_attention's defaults (sparse: the 32 strongest keys per row), made once
into bench/.cache/load_llm through a file-backed array (minutes each, little memory). Each client goes round the panel's heavy
routes, from a seeded random layer / head / window: `/layer` as the matrix view asks for it (the
mean of 32 heads) and for one head, the head view's 128-row window of all heads, `/thumbnails`
(the model view), `/patterns`, `/change` of the pair, and the live run's `/steps` and newest
`/layer`. The writer logs a 32 x 32 x 512 LLM-shaped record every `--write-every` seconds into run
`live` (a child process). Reported per route: requests, errors (no answer), 5xx, p50 / p99
latency; TensorBoard's RSS and anonymous RSS (RssAnon: what it allocated; of its process tree)
before (loaded, then one panel's visit to every route) and after the load, and at most during
it. Goal: no error, no 5xx, RSS after <= 1.5 x before.

TensorBoard serves with werkzeug's ThreadedWSGIServer: one thread per connection, no bound on
connections, HTTP/1.1 keep-alive; the plugin's routes run in those threads under one Python
interpreter (numpy and zstd release the GIL), with a bounded answer cache.

Run: python bench/load.py [--clients 16] [--seconds 120] [--loaders true,false] [--write-every 5]
"""

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.common import tree_rss_kb  # noqa: E402
from bench.llm_attention import llm_memmap, llm_tokens  # noqa: E402

BASE = "/data/plugin/tb_attention/"
TAG = "probe/llm"
LLM_RUN, LLM_RUN_B = "llm", "llm-b"
CACHE = os.path.join(ROOT, "bench", ".cache", "load_llm", "32x32x2048")
LIVE_RUN = "live"
ACCEPT = {"Accept-Encoding": "gzip, deflate, br, zstd"}  # what Chromium sends
WRITER = """
import os, sys, time
sys.path.insert(0, {root!r})
import tb_attention
from bench.llm_attention import hf_llm_attentions, llm_tokens
run, every = sys.argv[1], float(sys.argv[2])
step = 0
while True:
    start = time.time()
    tb_attention.add_attention(run, {tag!r}, hf_llm_attentions(32, 32, 512, seed=step), llm_tokens(512), step)
    tb_attention.flush()
    print("wrote", step, flush=True)
    step += 1
    time.sleep(max(0.0, every - (time.time() - start)))
"""


def routes(rnd):
    """(route name, path) of one visit to every route, from random layers, heads and windows."""
    layer, head, q0 = rnd.randrange(32), rnd.randrange(32), rnd.randrange(0, 2048 - 128)
    run = rnd.choice([LLM_RUN, LLM_RUN_B])

    def path(route, **params):
        return BASE + route + "?" + urllib.parse.urlencode(dict(tag=TAG, **params))

    return [
        ("layer mean", path("layer", run=run, step=0, layer=layer, reduce="mean")),
        ("layer head", path("layer", run=run, step=0, layer=layer, heads=head)),
        ("layer window", path("layer", run=run, step=0, layer=layer, q_start=q0, q_end=q0 + 128)),
        ("thumbnails", path("thumbnails", run=run, step=0)),
        ("patterns", path("patterns", run=run)),
        ("change", path("change", run=LLM_RUN, step_a=0, step_b=0, run_b=LLM_RUN_B)),
        ("live steps", path("steps", run=LIVE_RUN)),
    ]


class Client(threading.Thread):
    """One panel: a keep-alive connection, round the routes until the deadline."""

    def __init__(self, port, seed, deadline, results):
        super().__init__(daemon=True)
        self.port, self.rnd, self.deadline, self.results = port, random.Random(seed), deadline, results
        self.conn = None

    def get(self, path):
        """(status, body) or (None, error text)."""
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
            self.conn.request("GET", path, headers=ACCEPT)
            response = self.conn.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException) as e:
            self.conn = None
            return None, repr(e)

    def timed(self, name, path):
        start = time.perf_counter()
        status, body = self.get(path)
        self.results.append((name, status, time.perf_counter() - start, body if status != 200 else b""))
        return status, body

    def run(self):
        while time.time() < self.deadline:
            for name, path in routes(self.rnd):
                status, body = self.timed(name, path)
                if name == "live steps" and status == 200:
                    steps = json.loads(body)["steps"]
                    if steps:  # the panel follows the newest step
                        newest = steps[-1]["step"]
                        layer = self.rnd.randrange(32)
                        query = dict(run=LIVE_RUN, tag=TAG, step=newest, layer=layer, reduce="mean")
                        self.timed("live layer", BASE + "layer?" + urllib.parse.urlencode(query))
                if time.time() >= self.deadline:
                    break


class RssMonitor(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, (0, 0), threading.Event()

    def run(self):
        while not self.stop.wait(1.0):
            now = rss_mb(self.pid)
            self.peak = (max(self.peak[0], now[0]), max(self.peak[1], now[1]))


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def rss_mb(pid):
    """(VmRSS, RssAnon) in MB of a process tree."""
    return tree_rss_kb(pid) / 1024, tree_rss_kb(pid, "RssAnon") / 1024


def wait_loaded(tb):
    """Until both records and the live run's first record are listed (then any answer other
    than 200 is a failure)."""
    tb.wait_for(lambda: {LLM_RUN, LLM_RUN_B, LIVE_RUN} <= set(tb.get_json(BASE + "tags")["runs"]), timeout=300)


def measure(logdir, load_fast, args):
    from tests.helpers.tb_process import TensorBoardProcess

    with TensorBoardProcess(logdir, load_fast=load_fast, reload_interval=5) as tb:
        wait_loaded(tb)
        time.sleep(10)  # TensorBoard's first reloads settle
        loaded = rss_mb(tb.proc.pid)
        one = Client(tb.port, 0, 0, [])
        for name, path in routes(random.Random(0)):  # one panel's visit, as before any load
            one.timed(name, path)
        before = rss_mb(tb.proc.pid)
        monitor = RssMonitor(tb.proc.pid)
        monitor.start()
        results = []
        deadline = time.time() + args.seconds
        clients = [Client(tb.port, 1 + n, deadline, results) for n in range(args.clients)]
        for c in clients:
            c.start()
        for c in clients:
            c.join()
        monitor.stop.set()
        time.sleep(5)  # requests still in flight on the server finish
        after = rss_mb(tb.proc.pid)
        live = len(tb.get_json(BASE + "steps?" + urllib.parse.urlencode(dict(run=LIVE_RUN, tag=TAG)))["steps"])
    return dict(loaded=loaded, before=before, after=after, peak=monitor.peak, results=results, live=live)


def report(name, m, args):
    results = m["results"]
    print("\n%s loader: %d clients for %d s, %d requests" % (name, args.clients, args.seconds, len(results)))
    print("  %-13s %8s %7s %5s %10s %10s" % ("route", "requests", "errors", "5xx", "p50 ms", "p99 ms"))
    by_route = {}
    for route, status, seconds, _ in results:
        by_route.setdefault(route, []).append((status, seconds))
    for route, rows in by_route.items():
        times = [s for status, s in rows if status is not None]
        errors = sum(status is None for status, _ in rows)
        fives = sum(status is not None and status >= 500 for status, _ in rows)
        print(
            "  %-13s %8d %7d %5d %10.0f %10.0f"
            % (route, len(rows), errors, fives, percentile(times, 50) * 1e3, percentile(times, 99) * 1e3)
        )
    bad = [(r, s, body[:160]) for r, s, _, body in results if s is None or s >= 400]
    all_times = [s for _, status, s, _ in results if status is not None]
    print(
        "  all routes: p50 %.0f ms, p99 %.0f ms; %d answers other than 200%s"
        % (
            percentile(all_times, 50) * 1e3,
            percentile(all_times, 99) * 1e3,
            len(bad),
            (": %r" % bad[:3]) if bad else "",
        )
    )
    for i, kind in enumerate(("RSS", "anonymous RSS")):
        print(
            "  %-13s loaded %.0f MB, after one panel %.0f MB (before), during the load at most %.0f MB, after %.0f MB: after/before %.2f (goal <= 1.5)"
            % (kind, m["loaded"][i], m["before"][i], m["peak"][i], m["after"][i], m["after"][i] / m["before"][i])
        )
    print("  the live run: %d steps listed at the end" % m["live"])


def ensure_records():
    """The two 32 x 32 x 2048 records (seeds 0 and 1), each made once into CACHE through a
    file-backed array (about 9 GB of disk for a while, little memory; minutes each)."""
    import tb_attention

    for run, seed in ((LLM_RUN, 0), (LLM_RUN_B, 1)):
        done = os.path.join(CACHE, run + ".COMPLETE")
        if os.path.exists(done):
            continue
        shutil.rmtree(os.path.join(CACHE, run), ignore_errors=True)
        os.makedirs(CACHE, exist_ok=True)
        print("making the 32 x 32 x 2048 record %s (cached in %s) ..." % (run, CACHE), flush=True)
        start = time.time()
        scratch = os.path.join(CACHE, "attention.npy")
        attention = llm_memmap(scratch, 32, 32, 2048, seed=seed)
        tb_attention.add_attention(os.path.join(CACHE, run), TAG, attention, llm_tokens(2048), 0)
        tb_attention.flush()
        del attention
        os.unlink(scratch)
        with open(done, "w") as f:
            f.write("made in %.0f s\n" % (time.time() - start))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--seconds", type=float, default=120)
    p.add_argument("--loaders", default="true,false", help="--load_fast values: true (Rust), false (Python)")
    p.add_argument("--write-every", type=float, default=5.0, help="seconds between the live run's records")
    args = p.parse_args(argv)

    ensure_records()
    logdir = tempfile.mkdtemp(prefix="tb_attention_load_")
    for run in (LLM_RUN, LLM_RUN_B):  # the cached records, hard-linked: the cache stays as it is
        shutil.copytree(os.path.join(CACHE, run), os.path.join(logdir, run), copy_function=os.link)
    live = os.path.join(logdir, LIVE_RUN)
    for load_fast in args.loaders.split(","):
        name = {"true": "Rust", "false": "Python"}[load_fast]
        shutil.rmtree(live, ignore_errors=True)
        script = WRITER.format(root=ROOT, tag=TAG)
        writer = subprocess.Popen(
            [sys.executable, "-c", script, live, str(args.write_every)], stdout=subprocess.DEVNULL
        )
        try:
            m = measure(logdir, load_fast, args)
        finally:
            writer.send_signal(signal.SIGTERM)
            writer.wait()
        report(name, m, args)
    shutil.rmtree(logdir)


if __name__ == "__main__":
    main()
