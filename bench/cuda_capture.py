"""The capture on a GPU, checked where one is lent (nothing in the test suite needs one).

1. Same record both ways: a tiny GQA Llama (4 layers x 8 heads, 2 KV heads, float32) on a
   1024-token probe is captured on the GPU and on the CPU (`ProbeLogger`, the integrations' path);
   the two records must agree within the stored precision's bound, and their pattern scores within
   1e-3.
2. Cost at scale: a Llama-shaped random-init model in bfloat16 on the GPU (`--layers`, `--heads`,
   `--kv-heads`, `--head-dim`; default 8 x 32 heads, 8 KV heads, head dim 64) captured at each
   `--tokens` length with SDPA: the probe pass's time, time per attention weight, peak GPU memory
   above the model's (torch.cuda.max_memory_allocated) against what eager attention would need
   for one layer's weights, host memory the pass added, and bytes on disk.

Run: python bench/cuda_capture.py [--tokens 8192 32768]
"""

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402

import tb_attention  # noqa: E402
from tb_attention.analysis.induction_probe import TokenProbe  # noqa: E402
from tb_attention.format.precision import error_bound  # noqa: E402


class Tokens:
    """Names ids (a tokenizer stand-in: token-id probes need no text)."""

    def __call__(self, *args, **kwargs):
        raise TypeError("token-id probes only")

    def convert_ids_to_tokens(self, ids):
        return ["t%d" % int(i) for i in ids]


def rss():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))


def llama(layers, heads, kv_heads, head_dim, n, dtype, device):
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=32000,
        hidden_size=heads * head_dim,
        intermediate_size=2 * heads * head_dim,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=n,
        attn_implementation="sdpa",
    )
    return transformers.LlamaForCausalLM(config).to(device=device, dtype=dtype).eval()


def capture(model, ids, logdir):
    logger = tb_attention.ProbeLogger(Tokens(), {"long": TokenProbe("long", ids)}, max_length=None)
    logger.log(model, 0, logdir, True)
    tb_attention.flush()
    (record,) = tb_attention.read_attention(logdir)
    return record


def same_both_ways(root):
    ids = np.random.default_rng(0).integers(5, 30000, 1024).tolist()
    records = {}
    for device in ("cuda", "cpu"):
        model = llama(4, 8, 2, 8, 1024, torch.float32, device)
        records[device] = capture(model, ids, os.path.join(root, device))
    g, c = records["cuda"], records["cpu"]
    assert (g.encoding, g.sparse, g.shape) == (c.encoding, c.sparse, c.shape), (g.encoding, c.encoding)
    worst = max(float(np.abs(g.layer(i) - c.layer(i)).max()) for i in range(g.shape[0]))
    scores = max(float(np.nanmax(np.abs(g.patterns[m] - c.patterns[m]))) for m in ("entropy", "sink", "span_mean"))
    print(
        "GPU vs CPU capture, 4 x 8 GQA Llama at 1024 tokens: %s %s, max |gpu - cpu| %.2e (bound %.2e), "
        "scores %.2e" % (g.encoding, g.precision, worst, 2 * error_bound(g.precision), scores)
    )
    assert worst <= 2 * error_bound(g.precision) + 1e-6 and scores <= 1e-3


def at_scale(args, root):
    for n in args.tokens:
        model = llama(args.layers, args.heads, args.kv_heads, args.head_dim, n, torch.bfloat16, "cuda")
        ids = np.random.default_rng(1).integers(5, 30000, n).tolist()
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        host = rss()
        start = time.perf_counter()
        record = capture(model, ids, os.path.join(root, "scale%d" % n))
        seconds = time.perf_counter() - start
        weights = args.layers * args.heads * n * n
        disk = sum(
            os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(os.path.join(root, "scale%d" % n)) for f in fs
        )
        eager_layer = args.heads * n * n * 2  # bf16 weights of one layer, as eager attention holds them
        print(
            "%d tokens: %.1f s (%.2f ns/weight), peak GPU memory above the model %.2f GB (one eager layer's "
            "weights: %.1f GB), host memory %+.2f GB, on disk %.0f MB, %s %s %s"
            % (
                n,
                seconds,
                seconds / weights * 1e9,
                (torch.cuda.max_memory_allocated() - base) / 1e9,
                eager_layer / 1e9,
                (rss() - host) / 1e9,
                disk / 1e6,
                record.encoding,
                record.precision,
                record.sparse or "",
            )
        )
        del model
        torch.cuda.empty_cache()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, nargs="+", default=[8192, 32768])
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--heads", type=int, default=32)
    parser.add_argument("--kv-heads", type=int, default=8)
    parser.add_argument("--head-dim", type=int, default=64)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("no CUDA device: this script checks the GPU path")
    print(torch.cuda.get_device_name(), "torch", torch.__version__, "transformers", transformers.__version__)
    with tempfile.TemporaryDirectory() as root:
        same_both_ways(root)
        at_scale(args, root)


if __name__ == "__main__":
    main()
