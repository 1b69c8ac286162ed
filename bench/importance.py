"""Head importance on the packaged MiniLM fine-tuned on the demo task (demo/data).

`cost` (default): what one importance pass costs beside what training already pays, measured side
by side in one run, alternating: one importance pass (the gradient pass over the eval batches a
callback would use), the ablation check of k = 3, one training step (forward, backward, AdamW
step on a batch of 16) and one probe pass (the demo's four probes through `ProbeLogger`, captured
and written). Prints medians and the ratios.

`seeds`: fine-tunes the classifier with two seeds (the demo's 150 steps) and prints the Spearman
correlation of their importance rankings (normalised per layer, and raw), with each seed's eval
loss and ablation check.

Run: python -m bench.importance [cost|seeds] [--repeat 5] [--batches 2] [--batch-size 16] [--steps 150]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import torch  # noqa: E402

import tb_attention  # noqa: E402
from demo import common  # noqa: E402
from tests.helpers.importance import demo_batches, finetune_demo_classifier  # noqa: E402


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def cost(args):
    tokenizer, model = finetune_demo_classifier(seed=0, steps=args.steps)
    eval_batches = demo_batches(tokenizer, "eval", args.batch_size)[: args.batches]
    train_batches = demo_batches(tokenizer, "train", args.batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    probes = tb_attention.ProbeLogger(tokenizer, common.PROBES, max_length=common.MAX_LENGTH)
    logdir = tempfile.mkdtemp(prefix="bench_importance_")
    state = {"step": 0}

    def train_step():
        model.train()
        model(**train_batches[state["step"] % len(train_batches)]).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        state["step"] += 1

    def probe_pass():
        probes.log(model, state["step"], logdir, True)
        tb_attention.flush()

    cases = {
        "importance pass": lambda: tb_attention.head_importance(model, eval_batches),
        "ablation check k=3": lambda: tb_attention.measure_importance(model, eval_batches, ablation=3),
        "training step": train_step,
        "probe pass (4 probes)": probe_pass,
    }
    for fn in cases.values():  # warm up every path once
        fn()
    times = {name: [] for name in cases}
    for _ in range(args.repeat):
        for name, fn in cases.items():
            times[name].append(_timed(fn))
    medians = {name: statistics.median(t) for name, t in times.items()}
    examples = sum(len(b["labels"]) for b in eval_batches)
    print(
        "MiniLM 6 x 12, eval: %d batches of %d (%d examples), %d threads"
        % (args.batches, args.batch_size, examples, torch.get_num_threads())
    )
    for name, median in medians.items():
        print("%-24s %8.1f ms (median of %d)" % (name, 1000 * median, args.repeat))
    ablation_only = medians["ablation check k=3"] - medians["importance pass"]
    base = medians["importance pass"]
    print("importance pass / training step   %.2f" % (base / medians["training step"]))
    print("importance pass / probe pass      %.2f" % (base / medians["probe pass (4 probes)"]))
    print("ablation check (k=3) / importance pass  %.2f" % (ablation_only / base))


def seeds(args):
    from scipy.stats import spearmanr

    results = []
    for seed in (0, 1):
        tokenizer, model = finetune_demo_classifier(seed=seed, steps=args.steps)
        batches = demo_batches(tokenizer, "eval", 32)
        result = tb_attention.measure_importance(model, batches, ablation=3)
        check = result.ablation
        print(
            "seed %d: eval loss %.4f; 3 most important zeroed %.4f, 3 least %.4f"
            % (seed, check["base_loss"], check["joint"]["most"], check["joint"]["least"])
        )
        results.append(result)
    a, b = results
    print("Spearman, normalised per layer  %.3f" % spearmanr(a.normalized.ravel(), b.normalized.ravel())[0])
    print("Spearman, raw                   %.3f" % spearmanr(a.values.ravel(), b.values.ravel())[0])
    top = [set(np.argsort(-r.normalized, axis=None)[:10].tolist()) for r in results]
    print("top-10 heads in common          %d" % len(top[0] & top[1]))


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.importance", description=__doc__.splitlines()[0])
    p.add_argument("what", nargs="?", default="cost", choices=["cost", "seeds"])
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--batches", type=int, default=2, help="eval batches of the importance pass")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--steps", type=int, default=150, help="fine-tuning steps (the demo's default)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    {"cost": cost, "seeds": seeds}[args.what](args)


if __name__ == "__main__":
    main()
