"""The sparse path's key selection, side by side in one run: numpy (`blocks.select_keys`, the
writer's path without torch) against torch on the CPU (`layer_encoding.select`, the writer's path),
on blocks of LLM-shaped bf16 attention (bench/llm_attention.py) as the writer selects them; both
must choose the same keys and weights. Prints ns per weight (best of --repeat, alternating) and
the ratio.

Run: python bench/key_selection.py [--tokens 1024] [--heads 8] [--top-k 32] [--repeat 3]
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench.llm_attention import hf_llm_attentions  # noqa: E402
from tb_attention.format import blocks  # noqa: E402
from tb_attention.writing import layer_encoding  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=1024)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--top-k", type=int, default=32)
    parser.add_argument("--top-mass", type=float, default=None)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    block = hf_llm_attentions(1, args.heads, args.tokens)[0][0].float().numpy()  # bf16 values, as float32
    paths = {
        "numpy (partition)": lambda: blocks.select_keys(block, args.top_k, args.top_mass),
        "torch (topk, CPU)": lambda: layer_encoding.select(block, args.top_k, args.top_mass),
    }
    best, chosen = {name: float("inf") for name in paths}, {}
    for _ in range(args.repeat):
        for name, select in paths.items():
            start = time.perf_counter()
            chosen[name] = select()
            best[name] = min(best[name], time.perf_counter() - start)
    a, b = chosen.values()
    same = all(np.array_equal(x, y) for x, y in zip(a, b))
    print(
        "Key selection of %d heads x %d x %d (bf16 values), top_k=%s top_mass=%s, torch threads %d"
        % (args.heads, args.tokens, args.tokens, args.top_k, args.top_mass, torch.get_num_threads())
    )
    for name, seconds in best.items():
        print("  %-18s %7.2f ns a weight" % (name, seconds / block.size * 1e9))
    numpy_s, torch_s = best.values()
    print("  torch / numpy: %.3f   same keys and weights: %s" % (torch_s / numpy_s, same))


if __name__ == "__main__":
    main()
