"""Payload compression, measured side by side: zlib (format 1's choice) and zstd, on the stored
bytes of real and LLM-shaped attention, in each precision. Prints each codec's size ratio and
speeds, and zstd-1 against zlib-1 (the choice docs/format.md explains).

Run: python bench/compression.py [--repeat 3]
"""

import argparse
import os
import sys
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import zstandard  # noqa: E402

from bench.llm_attention import llm_layer  # noqa: E402
from tb_attention.format.precision import quantize  # noqa: E402

CODECS = {
    "zlib-1": (lambda b: zlib.compress(b, 1), zlib.decompress),
    "zlib-6": (lambda b: zlib.compress(b, 6), zlib.decompress),
    "zstd-1": (
        lambda b: zstandard.ZstdCompressor(level=1).compress(b),
        lambda c: zstandard.ZstdDecompressor().decompress(c),
    ),
    "zstd-3": (
        lambda b: zstandard.ZstdCompressor(level=3).compress(b),
        lambda c: zstandard.ZstdDecompressor().decompress(c),
    ),
}


def best_time(fn, repeat):
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def minilm_layer(n_tokens):
    import torch

    from bench.common import encode, load_minilm

    tokenizer, model = load_minilm()
    with torch.no_grad():
        attentions = model(**encode(tokenizer, n_tokens), output_attentions=True).attentions
    return attentions[2][0].numpy()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    inputs = [
        ("MiniLM layer, 12 heads x 512 real tokens", minilm_layer(512)),
        ("LLM-shaped layer, 16 heads x 1024 causal", llm_layer(3, 16, 1024)),
        ("LLM-shaped layer, 32 heads x 2048 causal", llm_layer(5, 32, 2048)),
    ]
    for name, layer in inputs:
        for precision in ("uint8", "float16"):
            raw = quantize(layer, precision).tobytes()
            print("== %s, %s: %.1f MB stored" % (name, precision, len(raw) / 1e6))
            got = {}
            for codec, (compress, decompress) in CODECS.items():
                tc, data = best_time(lambda c=compress, r=raw: c(r), args.repeat)
                td, _ = best_time(lambda d=decompress, x=data: d(x), args.repeat)
                got[codec] = (len(data) / len(raw), tc, td)
                print(
                    "  %-7s size %.3f of raw   compress %7.0f MB/s   decompress %7.0f MB/s"
                    % (codec, len(data) / len(raw), len(raw) / tc / 1e6, len(raw) / td / 1e6)
                )
            (sz, cz, dz), (sl, cl, dl) = got["zstd-1"], got["zlib-1"]
            print(
                "  zstd-1 / zlib-1: size %.2f, compress time %.2f, decompress time %.2f" % (sz / sl, cz / cl, dz / dl)
            )


if __name__ == "__main__":
    main()
