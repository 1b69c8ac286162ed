"""Writer benchmark at LLM size: one `add_attention` of Hugging Face style bf16 attention of a
32-layer x 32-head decoder at 1024 and 2048 tokens (bench/llm_attention.py; CPU tensors), each case
in a fresh process. Printed per case: the time the call blocks, the time until flush() returns
(encoding, compression and disk in the background), the writer's peak extra host memory (peak RSS
during the call and the flush, less RSS before it) against the input bytes, the bytes on disk,
the mode the writer chose; and the training-thread slowdown: a fixed torch workload timed while a
record encodes in the background, against the same workload alone.

With `--against DIR` (another checkout, e.g. `git worktree add DIR main`), each case also runs
with DIR's tb_attention, in the same run, and the ratios of this checkout to it are printed.

Run: python bench/write_llm.py [--cases dense1024,auto1024,auto2048] [--slowdown dense1024] [--no-slowdown]
                              [--against DIR]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CASES = {  # name: (tokens, add_attention options, goals)
    "dense1024": (1024, {"max_bytes": None}, "memory <= 0.75 x input, blocking <= 0.5 s, encode + write <= 5 s"),
    "auto1024": (1024, {}, "the default budget: sparse"),
    "auto2048": (2048, {}, "completes on a 24 GB machine, <= 300 MB on disk, the log names the mode"),
}

CHILD = r"""
import json, logging, os, sys, threading, time
sys.path.insert(0, ROOT)
import torch
import tb_attention
from bench.llm_attention import hf_llm_attentions, llm_tokens
n, options, logdir, slowdown = int(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3], sys.argv[4] == "1"
messages = []
handler = logging.Handler()
handler.emit = lambda record: messages.append(record.getMessage())
logging.getLogger("tb_attention").addHandler(handler)
attentions = hf_llm_attentions(32, 32, n)
input_bytes = sum(a.numel() * a.element_size() for a in attentions)
def status(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key + ":"))
def work():  # a fixed CPU workload standing in for a training step
    a = torch.randn(1024, 1024, generator=torch.Generator().manual_seed(0))
    t = time.perf_counter()
    for _ in range(40):
        a = torch.tanh(a @ a.T / 1024)
    return time.perf_counter() - t
if slowdown:
    alone = min(work() for _ in range(3))
tb_attention.add_attention(logdir, "warm", attentions[0][:, :2, :64, :64].float(), llm_tokens(64), 0)
tb_attention.flush()
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # VmHWM := VmRSS: the peak from here on
before = status("VmRSS")
start = time.perf_counter()
tb_attention.add_attention(logdir, "probe", attentions, llm_tokens(n), 1, **options)
blocking = time.perf_counter() - start
busy = [work() for _ in range(3)] if slowdown else []
tb_attention.flush()
encode_write = time.perf_counter() - start
peak = status("VmHWM")
(rec,) = [r for r in tb_attention.read_attention(logdir) if r.tag == "probe"]
print(json.dumps(dict(input_bytes=input_bytes, blocking=blocking, encode_write=encode_write, extra=peak - before,
                      peak=peak, encoding=rec.encoding, sparse=rec.sparse, messages=messages,
                      slowdown=(min(busy) / alone - 1) if slowdown else None)))
"""


def disk_bytes(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, names in os.walk(path) for f in names)


def run_case(name, slowdown, root=ROOT):
    n, options, goal = CASES[name]
    with tempfile.TemporaryDirectory() as logdir:
        start = time.perf_counter()
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                CHILD.replace("ROOT", repr(root)),
                str(n),
                json.dumps(options),
                logdir,
                "1" if slowdown else "0",
            ],
            capture_output=True,
            text=True,
            timeout=3600,
        )
        if out.returncode != 0:
            raise RuntimeError("%s failed:\n%s" % (name, out.stderr[-3000:]))
        r = json.loads(out.stdout.strip().splitlines()[-1])
        r["disk"] = disk_bytes(logdir)
        r["wall"] = time.perf_counter() - start
    gb = r["input_bytes"] / 1e9
    print(
        "\n== %s: 32 x 32 x %d, bf16 input %.2f GB, options %s (goal: %s)%s"
        % (name, n, gb, options or "default", goal, "" if root == ROOT else "\n   with the code of %s" % root)
    )
    print("  mode stored                 %s%s" % (r["encoding"], " %s" % r["sparse"] if r["sparse"] else ""))
    for m in r["messages"]:
        print("  log: %s" % m)
    print("  blocking                    %7.2f s" % r["blocking"])
    print("  encode + write (to flush)   %7.2f s" % r["encode_write"])
    print(
        "  peak extra host memory      %7.2f GB   ratio to input %.2f"
        % (r["extra"] / 1e9, r["extra"] / r["input_bytes"])
    )
    print("  peak RSS of the process     %7.2f GB" % (r["peak"] / 1e9))
    print(
        "  on disk                     %7.1f MB   ratio to input %.3f" % (r["disk"] / 1e6, r["disk"] / r["input_bytes"])
    )
    if r["slowdown"] is not None:
        print(
            "  training-thread slowdown    %+6.1f %%   (a torch workload while the record encodes, vs alone)"
            % (100 * r["slowdown"])
        )
    return r


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--no-slowdown", action="store_true")
    parser.add_argument("--slowdown", default="dense1024", help="the cases whose training-thread slowdown is measured")
    parser.add_argument("--against", help="another checkout: run each case with its code too, side by side")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each case (the summary takes medians)")
    args = parser.parse_args()
    print("tb-attention writer at LLM size (CPU, %d cores)" % os.cpu_count())
    results = {}
    for _ in range(args.repeat):
        for name in args.cases.split(","):
            slowdown = not args.no_slowdown and name in args.slowdown.split(",")
            results.setdefault(name, []).append(_one(args, name, slowdown))
    summary(results)


def summary(results):
    """The budget's figures against the dense path, from medians of the same run."""

    def median(name, key):
        values = sorted(r[key] for r in results[name])
        return values[len(values) // 2]

    if "dense1024" not in results:
        return
    dense_time, dense_disk = median("dense1024", "encode_write"), median("dense1024", "disk")
    per_weight = dense_time / (32 * 32 * 1024 * 1024)
    print("\n== the default budget against the dense path (medians of %d)" % len(results["dense1024"]))
    if "auto1024" in results:
        print(
            "  1024 default / dense: encode + write %.2f (goal <= 1.25), on disk %.2f (goal <= 1.0)"
            % (median("auto1024", "encode_write") / dense_time, median("auto1024", "disk") / dense_disk)
        )
    if "auto2048" in results:
        t = median("auto2048", "encode_write") / (32 * 32 * 2048 * 2048)
        print(
            "  2048 default: on disk %.0f MB (goal <= 300), time per weight / dense 1024's %.2f (goal <= 2)"
            % (median("auto2048", "disk") / 1e6, t / per_weight)
        )


def _one(args, name, slowdown):
    """One case with this checkout's code (and, with --against, another's beside it)."""
    ours = run_case(name, slowdown)
    if args.against:
        theirs = run_case(name, slowdown, os.path.abspath(args.against))
        print(
            "  this checkout / %s: encode + write %.2f, on disk %.2f, blocking %.2f"
            % (
                args.against,
                ours["encode_write"] / theirs["encode_write"],
                ours["disk"] / theirs["disk"],
                ours["blocking"] / theirs["blocking"],
            )
        )
    return ours


if __name__ == "__main__":
    main()
