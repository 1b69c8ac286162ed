"""Pattern scores of LLM-shaped attention: whole layers against blocks of query rows, side by side.

What `PatternScorer` costs per attention weight when it takes each layer whole (`add_layer`, the
path of `compute_patterns` and of the writer) and when it takes blocks of query rows (`add_block`:
64 or 256 rows of every head of a layer, contiguous, in shuffled row order, as a block-by-block
capture hands them over): 4 layers x 8 heads of causal attention with a first-token sink and local
heads (bench/llm_attention.py) at 512 and 2048 tokens. The paths alternate, `--repeat` times;
ns per weight of the best and the median run, in CPU time of this process (on a shared machine
wall time mostly measures the other jobs; wall time is printed beside it), and the ratio block /
whole. One thread (`threads=1`, as the writer scores), every metric included (the span too).

Then the peak extra memory (tracemalloc) while one layer of 8 heads is scored in 256-row blocks,
made one at a time, at 2048, 4096 and 8192 tokens: beside one block of weights (what the caller
holds anyway), against a queries x keys boolean mask (what the scorer built before, about five
of them), and how both grow with the tokens.

Run: python bench/scoring.py [--repeat 5] [--tokens 512 2048] [--memory-tokens 2048 4096 8192]
"""

import argparse
import os
import statistics
import sys
import time
import tracemalloc

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from bench.llm_attention import llm_attention, llm_rows, llm_tokens  # noqa: E402
from tb_attention.analysis.scoring import PatternScorer  # noqa: E402

LAYERS, HEADS = 4, 8


def whole(attention, tokens):
    scorer = PatternScorer(attention.shape, tokens, threads=1)
    for index, layer in enumerate(attention):
        scorer.add_layer(index, layer)
    return scorer.result()


def row_blocks(shape, tokens, blocks):
    scorer = PatternScorer(shape, tokens, threads=1)
    for layer, row_start, block in blocks:
        scorer.add_block(layer, 0, row_start, block)
    return scorer.result()


def timing(n, repeat, block_rows):
    attention = llm_attention(LAYERS, HEADS, n)
    tokens = llm_tokens(n)
    rng = np.random.default_rng(0)
    blocks = {}
    for rows in block_rows:
        units = [(layer, r) for layer in range(LAYERS) for r in range(0, n, rows)]
        order = rng.permutation(len(units))
        blocks[rows] = [
            (
                units[i][0],
                units[i][1],
                np.ascontiguousarray(attention[units[i][0], :, units[i][1] : units[i][1] + rows]),
            )
            for i in order
        ]
    runs = {"whole": lambda: whole(attention, tokens)}
    for rows in block_rows:
        runs["%d-row blocks" % rows] = lambda rows=rows: row_blocks(attention.shape, tokens, blocks[rows])
    expected = runs["whole"]()
    cpu = {name: [] for name in runs}
    wall = {name: [] for name in runs}
    for _ in range(repeat):
        for name, run in runs.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            got = run()
            cpu[name].append(time.process_time() - start_cpu)
            wall[name].append(time.perf_counter() - start)
            worst = max(float(np.nanmax(np.abs(got[m] - expected[m]), initial=0)) for m in expected)
            assert worst <= 1e-4, (name, worst)  # span in tokens: float rounding of large sums
    ns = 1e9 / attention.size
    print("== %d tokens: %d layers x %d heads, %.1f M weights ==" % (n, LAYERS, HEADS, attention.size / 1e6))
    base = min(cpu["whole"])
    for name in runs:
        print(
            "  %-16s CPU best %5.2f ns/weight  median %5.2f   ratio to whole (best) %.2f   wall best %5.2f"
            % (
                name,
                min(cpu[name]) * ns,
                statistics.median(cpu[name]) * ns,
                min(cpu[name]) / base,
                min(wall[name]) * ns,
            )
        )


def peak_memory(n, rows=256):
    """Bytes: (scorer state after construction, peak extra while add_block runs, one block)."""
    tokens = llm_tokens(n)
    tracemalloc.start()
    scorer = PatternScorer((1, HEADS, n, n), tokens, threads=1)
    state = tracemalloc.get_traced_memory()[0]
    peak = 0
    for r0 in range(0, n, rows):
        block = llm_rows(0, HEADS, n, r0, min(n, r0 + rows))
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        scorer.add_block(0, 0, r0, block)
        peak = max(peak, tracemalloc.get_traced_memory()[1] - before)
        del block
    tracemalloc.stop()
    assert scorer.is_causal()
    return state, peak, HEADS * rows * n * 4


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--tokens", type=int, nargs="+", default=[512, 2048])
    parser.add_argument("--block-rows", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--memory-tokens", type=int, nargs="+", default=[2048, 4096, 8192])
    args = parser.parse_args()
    for n in args.tokens:
        timing(n, args.repeat, args.block_rows)
    print("== peak extra memory, one layer of %d heads in 256-row blocks ==" % HEADS)
    first = None
    for n in args.memory_tokens:
        state, peak, block = peak_memory(n)
        first = first or (n, peak)
        print(
            "  %5d tokens: scorer state %6.2f MB  peak while scoring %6.2f MB  (one block %6.1f MB; "
            "a %d x %d bool mask %7.1f MB)  peak / first %.2f, tokens^2 / first %.0f"
            % (n, state / 1e6, peak / 1e6, block / 1e6, n, n, n * n / 1e6, peak / first[1], (n / first[0]) ** 2)
        )


if __name__ == "__main__":
    main()
