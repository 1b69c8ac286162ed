"""Region reads of a long record through TensorBoard: the `/tile` answer for 256 x 256 regions of
single weights (the detail) and for the whole matrix at coarser factors (the stored overview), on a
32 768-token capture record of the 4-layer x 8-head GQA Llama (bench/long_record.py makes it
once and caches it), served by a real TensorBoard (Rust loader, then Python loader). Printed:
median and p90 latency per kind of region, each request a fresh region (no answer cache), after
one warm-up request of each kind.

Run: python bench/tile_latency.py [--requests 40] [--loaders true,false]
"""

import argparse
import os
import random
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import long_record  # noqa: E402
from bench.common import timed_get  # noqa: E402
from tests.helpers.http import BASE, q  # noqa: E402
from tests.helpers.tb_process import TensorBoardProcess  # noqa: E402


def regions(n, count, seed=0):
    """(name, params) of the regions asked: 256 x 256 single weights anywhere below the diagonal
    (heads one at a time, and the mean of the 8), and the whole matrix at factors 32 and 128."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        r0 = rng.randrange(0, n - 256, 256)
        c0 = rng.randrange(0, r0 + 1, 256) if r0 else 0
        base = dict(layer=i % 4, q_start=r0, q_end=r0 + 256, k_start=c0, k_end=c0 + 256, factor=1)
        out.append(("256 x 256, one head", dict(base, heads=i % 8)))
        out.append(("256 x 256, mean of 8 heads", dict(base, reduce="mean")))
        for factor in (32, 128):
            out.append(
                (
                    "whole matrix, factor %d, one head" % factor,
                    dict(layer=i % 4, heads=i % 8, q_start=0, q_end=n, k_start=0, k_end=n, factor=factor),
                )
            )
    return out


def measure(logdir, run, step, n, count, load_fast):
    times = {}
    with TensorBoardProcess(logdir, load_fast=load_fast) as tb:
        asked = regions(n, count + 1)
        seen = set()
        for name, params in asked:
            path = "%s/tile?%s" % (BASE, q(run=run, tag=long_record.TAG, step=step, **params))
            seconds, _ = timed_get(tb, path)
            if name not in seen:  # the first of each kind warms the server (index, header, imports)
                seen.add(name)
                continue
            times.setdefault(name, []).append(seconds * 1000)
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--loaders", default="true,false")
    args = parser.parse_args()
    n = 32768
    logdir, run, step = long_record.ensure(n), long_record.RUN, 0
    for load_fast in args.loaders.split(","):
        times = measure(logdir, run, step, n, args.requests, load_fast)
        print(
            "== /tile on a %d-token record, loader %s (load_fast=%s), %d requests each"
            % (n, "Rust" if load_fast == "true" else "Python", load_fast, args.requests)
        )
        for name, values in times.items():
            values.sort()
            print(
                "  %-36s median %6.1f ms  p90 %6.1f ms  (goal: 256 x 256 median <= 50 ms)"
                % (name, statistics.median(values), values[int(0.9 * (len(values) - 1))])
            )


if __name__ == "__main__":
    main()
