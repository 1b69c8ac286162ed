"""The writer's GPU path, checked where a GPU is lent (nothing in the test suite needs one).

On a CUDA device: Hugging Face style bf16 attention of a 32 x 32 decoder at 1024 tokens is logged
dense and at 2048 tokens with the default budget (sparse); both are read back and compared with
the same attention moved to the CPU and logged through the CPU path; the host memory the call
took and the blocking time are printed, and that no float32 copy of a layer reached the host.

Run: python bench/cuda_check.py [--tokens 1024 2048]
"""

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import tb_attention  # noqa: E402
from bench.llm_attention import hf_llm_attentions, llm_tokens  # noqa: E402


def rss():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))


def check(n, options, logdir):
    cpu = hf_llm_attentions(32, 32, n)
    gpu = tuple(a.to("cuda") for a in cpu)
    torch.cuda.synchronize()
    before = rss()
    start = time.perf_counter()
    tb_attention.add_attention(os.path.join(logdir, "gpu"), "probe", gpu, llm_tokens(n), 1, **options)
    torch.cuda.synchronize()
    blocking = time.perf_counter() - start
    host = rss() - before
    tb_attention.add_attention(os.path.join(logdir, "cpu"), "probe", cpu, llm_tokens(n), 1, **options)
    tb_attention.flush()
    done = time.perf_counter() - start
    (g,) = tb_attention.read_attention(logdir, run="gpu")
    (c,) = tb_attention.read_attention(logdir, run="cpu")
    assert g.encoding == c.encoding and g.sparse == c.sparse, (g.encoding, c.encoding)
    worst = max(float(np.abs(g.layer(i) - c.layer(i)).max()) for i in (0, 15, 31))
    print(
        "%d tokens %s: mode %s %s, blocking %.2f s, host memory after the call %+.2f GB (input %.2f GB on the GPU), "
        "both paths written in %.1f s, max |gpu - cpu| %.4f"
        % (
            n,
            options or "default",
            g.encoding,
            g.sparse or "",
            blocking,
            host / 1e9,
            sum(a.numel() * a.element_size() for a in gpu) / 1e9,
            done,
            worst,
        )
    )
    assert worst <= 1 / 255 + 1e-6  # one uint8 level at most (ties may round apart)
    for name in ("entropy", "previous_token"):
        np.testing.assert_allclose(g.patterns[name], c.patterns[name], atol=2e-2)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, nargs="+", default=[1024, 2048])
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("no CUDA device: this check runs where a GPU is lent")
    with tempfile.TemporaryDirectory() as logdir:
        for n in args.tokens:
            check(n, {"max_bytes": None} if n <= 1024 else {}, os.path.join(logdir, str(n)))
    print("ok")


if __name__ == "__main__":
    main()
