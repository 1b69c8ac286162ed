"""Soak: a training-like loop logs a probe's attention every few seconds for tens of minutes while
two real TensorBoards (Rust and Python loader) serve the run and a panel-like client polls them.

Phase 1 (`--minutes`, default 20): the packaged MiniLM takes SGD steps (forward, backward) on real
text; every `--interval` seconds (default 3) it logs the attention of a `--tokens`-token probe
(default 128) through a torch SummaryWriter, beside a loss scalar. Every 30 s each TensorBoard's
RSS and anonymous RSS are sampled (of its process tree; RssAnon is what it allocated, which the
kernel cannot drop under memory pressure as it drops mapped library pages) and `/tags`, `/steps`
and the newest step's `/layer` are fetched, as an open panel does. At the end every logged step
must be listed by both TensorBoards and its last layer's first head must equal what was logged
(uint8 bound). Goal: each TensorBoard's RSS at the end <= 1.1 x its RSS after the first minute.

Phase 2 (`--backlog-seconds`, default 120; 0 skips): the writer slower than the loop. The loop
logs 512-token MiniLM attention (CPU tensors, 75 MB a record) back to back, after one forward
each, with the model's torch threads taking both cores, so the writer's threads (nice 19:
encoding, zstd, write, fsync) get what training leaves and fall behind. Reported: how deep the
writer's queue got (bound: 32 jobs) and how many bytes it held (bound: MAX_PENDING_BYTES), how long
add_attention waited, and this process's RSS, all through the run.

Run: python bench/soak.py [--minutes 20] [--interval 3] [--backlog-seconds 120] [--logdir DIR]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from bench.common import encode, load_minilm, tree_rss_kb  # noqa: E402

TAG = "probe/soak"
RUN = "soak"
LOADERS = {"rust": "true", "python": "false"}
SAMPLE_S = 30
UINT8_BOUND = 1 / 510 + 1e-6


def own_rss_mb():
    return tree_rss_kb(os.getpid()) / 1024


def rss_mb(pid):
    """(VmRSS, RssAnon) in MB of a process tree."""
    return tree_rss_kb(pid) / 1024, tree_rss_kb(pid, "RssAnon") / 1024


class Poller:
    """What an open panel asks a TensorBoard for, every sample: errors and 5xx are counted."""

    def __init__(self, name, tb):
        self.name, self.tb = name, tb
        self.rss_mb = []  # (seconds into the run, (VmRSS MB, RssAnon MB))
        self.errors = []
        self.listed = 0

    def get(self, route, **params):
        status, headers, body = self.tb.get("/data/plugin/tb_attention/%s?%s" % (route, urllib.parse.urlencode(params)))
        if status != 200:
            self.errors.append("%s %s -> %d %s" % (route, params, status, body[:120]))
        return status, headers, body

    def sample(self, elapsed):
        import json

        self.rss_mb.append((elapsed, rss_mb(self.tb.proc.pid)))
        try:
            self.get("tags")
            status, _, body = self.get("steps", run=RUN, tag=TAG)
            steps = [s["step"] for s in json.loads(body)["steps"]] if status == 200 else []
            self.listed = len(steps)
            if steps:
                self.get("layer", run=RUN, tag=TAG, step=steps[-1], layer=0)
        except OSError as e:
            self.errors.append("%s: %r" % (self.name, e))

    def rss_at(self, seconds):
        """The first sample at or after `seconds` into the run."""
        return next(mb for t, mb in self.rss_mb if t >= seconds)


def train_step(model, optimizer, batch):
    model.train()
    loss = model(**batch).last_hidden_state.pow(2).mean()
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    return float(loss.detach())


def probe(model, enc):
    import torch

    model.eval()
    with torch.no_grad():
        return model(**enc, output_attentions=True).attentions


def soak(args, model, tokenizer, logdir):
    import torch
    from torch.utils.tensorboard import SummaryWriter

    import tb_attention
    from tb_attention.writing import writer as writer_module
    from tests.helpers.tb_process import TensorBoardProcess

    torch.set_num_threads(1)  # the other core serves the two TensorBoards
    enc = encode(tokenizer, args.tokens)
    tokens = tokenizer.convert_ids_to_tokens(enc["input_ids"][0])
    batch = tokenizer(
        ["I went to the store and bought bread."] * 8, return_tensors="pt", padding="max_length", max_length=64
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4)
    writer = SummaryWriter(os.path.join(logdir, RUN))
    tbs = {
        name: TensorBoardProcess(logdir, load_fast=flag, reload_interval=5).start() for name, flag in LOADERS.items()
    }
    pollers = {name: Poller(name, tb) for name, tb in tbs.items()}
    logged, blocked, backlog_max = {}, [], (0, 0)
    start = time.time()
    next_log, next_sample = start, start + SAMPLE_S  # the first sample once TensorBoard has loaded
    step = 0
    try:
        while time.time() - start < args.minutes * 60:
            loss = train_step(model, optimizer, batch)
            writer.add_scalar("loss", loss, step)
            now = time.time()
            if now >= next_log:
                attentions = probe(model, enc)
                t = time.perf_counter()
                tb_attention.add_attention(writer, TAG, attentions, tokens, step)
                blocked.append(time.perf_counter() - t)
                logged[step] = attentions[-1][0, 0].numpy().copy()
                queue_depth, held = writer_module.event_writer_for(writer).backlog()
                backlog_max = (max(backlog_max[0], queue_depth), max(backlog_max[1], held))
                next_log += args.interval
            if now >= next_sample:
                for p in pollers.values():
                    p.sample(now - start)
                print_sample(now - start, logged, pollers, writer_module.event_writer_for(writer).backlog())
                next_sample += SAMPLE_S
            step += 1
        writer.flush()
        end_rss = {name: rss_mb(tb.proc.pid) for name, tb in tbs.items()}
        served = {name: verify(tb, pollers[name], logged) for name, tb in tbs.items()}
        after_reads = {name: rss_mb(tb.proc.pid) for name, tb in tbs.items()}
    finally:
        writer.close()
        for tb in tbs.values():
            tb.stop()
    report_soak(args, time.time() - start, logged, pollers, end_rss, after_reads, served, blocked, backlog_max)


def print_sample(seconds, logged, pollers, queue):
    """One line of the soak's progress: records logged, steps each TensorBoard lists, their RSS and
    the writer's backlog (`queue`, (jobs, bytes))."""
    print(
        "%5.0f s  records %4d  listed %s  RSS/anonymous %s MB  queue %s"
        % (
            seconds,
            len(logged),
            "/".join(str(p.listed) for p in pollers.values()),
            " ".join("%.0f/%.0f" % p.rss_mb[-1][1] for p in pollers.values()),
            queue,
        ),
        flush=True,
    )


def verify(tb, poller, logged):
    """Steps served whole and equal to what was logged (the last layer's first head)."""
    from tests.helpers.http import decode_layer_response

    steps = sorted(logged)
    last_layer = 5
    tb.wait_for(
        lambda: len(tb.get_json("/data/plugin/tb_attention/steps?run=%s&tag=%s" % (RUN, TAG))["steps"]) == len(steps),
        timeout=300,
    )
    good = 0
    for step in steps:
        status, headers, body = poller.get("layer", run=RUN, tag=TAG, step=step, layer=last_layer, heads=0)
        if status == 200 and np.abs(decode_layer_response(headers, body)[0] - logged[step]).max() <= UINT8_BOUND:
            good += 1
    return good


def report_soak(args, seconds, logged, pollers, end_rss, after_reads, served, blocked, backlog_max):
    print(
        "\nSoak: %.1f min, %d records (one every %g s, %d tokens, MiniLM 6 x 12), SGD steps between"
        % (seconds / 60, len(logged), args.interval, args.tokens)
    )
    for name, p in pollers.items():
        first = p.rss_at(60)
        for i, kind in enumerate(("RSS", "anonymous RSS")):
            print(
                "  %-6s loader  %-13s after 1 min %5.0f MB, at the end %5.0f MB: ratio %.3f (goal <= 1.1); after reading every step %5.0f MB"
                % (name, kind, first[i], end_rss[name][i], end_rss[name][i] / first[i], after_reads[name][i])
            )
        print(
            "                 served %d of %d records exactly; %d errors / non-200 answers%s"
            % (served[name], len(logged), len(p.errors), (": " + "; ".join(p.errors[:3])) if p.errors else "")
        )
    print(
        "  add_attention blocking: median %.1f ms, max %.1f ms; writer queue at most %d jobs, %.1f MB held"
        % (statistics.median(blocked) * 1e3, max(blocked) * 1e3, backlog_max[0], backlog_max[1] / 2**20)
    )


def backlog(args, model, tokenizer, logdir):
    import torch

    import tb_attention
    from tb_attention.writing import background
    from tb_attention.writing import writer as writer_module

    torch.set_num_threads(2)
    enc = encode(tokenizer, 512)
    tokens = tokenizer.convert_ids_to_tokens(enc["input_ids"][0])
    run = os.path.join(logdir, "backlog")
    rss0 = own_rss_mb()
    depth, held, rss, blocked = [], [], [], []
    start = time.time()
    step = 0
    while time.time() - start < args.backlog_seconds:
        attentions = probe(model, enc)  # fresh CPU tensors every step, as a training loop makes them
        t = time.perf_counter()
        tb_attention.add_attention(run, "probe/backlog", attentions, tokens, step)
        blocked.append(time.perf_counter() - t)
        del attentions
        q, b = writer_module.event_writer_for(run).backlog()
        depth.append(q)
        held.append(b)
        rss.append(own_rss_mb())
        step += 1
    logged_s = time.time() - start
    tb_attention.flush()
    drained_s = time.time() - start - logged_s
    written = len(list(tb_attention.read_attention(run)))
    record_mb = 6 * 12 * 512 * 512 * 4 / 2**20
    half = len(depth) // 2
    print(
        "\nWriter slower than the loop: %.0f s, %d records of %.0f MB (CPU tensors, 512 tokens) logged back to back"
        % (logged_s, step, record_mb)
    )
    print(
        "  loop %.2f records/s; the writer wrote %d in %.0f s (%.2f records/s), the last %.0f s after the loop ended"
        % (step / logged_s, written, logged_s + drained_s, written / (logged_s + drained_s), drained_s)
    )
    print(
        "  writer queue: at most %d jobs (bound 32); held at most %.0f MB (bound MAX_PENDING_BYTES = %.0f MB), median over the second half %.0f MB"
        % (max(depth), max(held) / 2**20, background.MAX_PENDING_BYTES / 2**20, statistics.median(held[half:]) / 2**20)
    )
    print(
        "  add_attention waited: median %.2f s, max %.2f s (back-pressure)" % (statistics.median(blocked), max(blocked))
    )
    print(
        "  process RSS: before %.0f MB, max %.0f MB, at the end of the loop %.0f MB, median over the first / second half %.0f / %.0f MB"
        % (rss0, max(rss), rss[-1], statistics.median(rss[:half]), statistics.median(rss[half:]))
    )
    every = max(1, len(held) // 10)
    print("  in turn (every %d records): held MB %s" % (every, " ".join("%.0f" % (b / 2**20) for b in held[::every])))
    print("                               RSS MB  %s" % " ".join("%.0f" % r for r in rss[::every]))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=20)
    p.add_argument("--interval", type=float, default=3.0, help="seconds between records")
    p.add_argument("--tokens", type=int, default=128)
    p.add_argument("--backlog-seconds", type=float, default=120)
    p.add_argument("--logdir", default=None, help="default: a new temporary directory")
    args = p.parse_args(argv)
    logdir = args.logdir or tempfile.mkdtemp(prefix="tb_attention_soak_")
    print("log dir %s" % logdir, flush=True)
    tokenizer, model = load_minilm()
    if args.minutes > 0:
        soak(args, model, tokenizer, logdir)
    if args.backlog_seconds > 0:
        backlog(args, model, tokenizer, logdir)


if __name__ == "__main__":
    main()
