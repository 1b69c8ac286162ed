"""Head change (`/change`, the compare view's table) of two long sparse records, side by side:
Jensen-Shannon divergence over the kept keys (what the server does for two sparse records)
against the same divergence over the densified layers (what it did before, and still does when
either record is dense).

The records are bench/render.py's cached 32 x 32 x 2048 pair (runs `llm` and `llm-b`: two seeds of
the same input, sparse, the 32 strongest keys per row; made once, about 4 minutes). In-process,
over `--layers` layers: seconds of each path (median of `--repeat`), their ratio and the largest
difference of the answers. Then through a real TensorBoard: the first `/change` of the pair
(every layer, cold) and a repeated one (cached).

Run: python bench/change.py [--layers 4] [--repeat 3] [--no-serve]
"""

import argparse
import os
import statistics
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

import tb_attention  # noqa: E402
from bench.common import timed_get  # noqa: E402
from bench.render_llm import ensure_llm_record  # noqa: E402
from bench.render_pages import LLM_RUN, LLM_RUN_B, TAG  # noqa: E402
from tb_attention.analysis.change import head_change, kept_keys, sparse_head_change  # noqa: E402

TOKENS = 2048
HEADS_PER_BLOCK = 4  # the server's block for the dense path at 2048 tokens: 2 x 4 x 2048^2 float32


def dense_path(a, b, layer):
    # Each layer densified once (the server read a block of heads at a time; same work).
    la, lb = a.layer(layer), b.layer(layer)
    return np.concatenate(
        [
            head_change(la[h : h + HEADS_PER_BLOCK][None], lb[h : h + HEADS_PER_BLOCK][None])[0]
            for h in range(0, la.shape[0], HEADS_PER_BLOCK)
        ]
    )


def sparse_path(a, b, layer):
    return sparse_head_change(
        kept_keys(a.sparse_layer(layer)), kept_keys(b.sparse_layer(layer)), a.shape[2], a.shape[3]
    )


def timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layers", type=int, default=4, help="layers timed in-process (of 32)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--no-serve", action="store_true", help="skip the TensorBoard measure")
    args = p.parse_args(argv)

    logdir = ensure_llm_record(TOKENS)
    (a,) = tb_attention.read_attention(logdir, run=LLM_RUN)
    (b,) = tb_attention.read_attention(logdir, run=LLM_RUN_B)
    dense_s, sparse_s, worst = [], [], 0.0
    for _ in range(args.repeat):
        # Alternate the two paths, layer by layer, so both see the same machine.
        td = ts = 0.0
        for layer in range(args.layers):
            t, jd = timed(dense_path, a, b, layer)
            td += t
            t, js = timed(sparse_path, a, b, layer)
            ts += t
            worst = max(worst, float(np.abs(jd - js).max()))
        dense_s.append(td)
        sparse_s.append(ts)
    d, s = statistics.median(dense_s), statistics.median(sparse_s)
    print(
        "Head change of two %d x %d x %d sparse records (top %s keys), %d layers, median of %d"
        % (a.shape[0], a.shape[1], TOKENS, a.sparse and a.sparse.get("top_k"), args.layers, args.repeat)
    )
    print("  densified layers  %7.2f s   (%.3f s a layer)" % (d, d / args.layers))
    print(
        "  kept keys only    %7.2f s   (%.3f s a layer)   ratio %.3f   largest difference %.1e"
        % (s, s / args.layers, s / d, worst)
    )

    if not args.no_serve:
        from tests.helpers.tb_process import TensorBoardProcess

        with TensorBoardProcess(logdir) as tb:
            tb.wait_for(
                lambda: {LLM_RUN, LLM_RUN_B} <= set(tb.get_json("/data/plugin/tb_attention/tags")["runs"]), timeout=120
            )
            path = "/data/plugin/tb_attention/change?" + urllib.parse.urlencode(
                {"run": LLM_RUN, "tag": TAG, "step_a": 0, "step_b": 0, "run_b": LLM_RUN_B}
            )
            cold, _ = timed_get(tb, path)
            warm = statistics.median(timed_get(tb, path)[0] for _ in range(5))
        print(
            "  TensorBoard /change, all %d layers: first %.2f s, repeated %.1f ms (cached)"
            % (a.shape[0], cold, warm * 1000)
        )


if __name__ == "__main__":
    main()
