"""The 32 768-token records of bench/render.py's long-context measures: one probe of a 4-layer x
8-head Llama with grouped-query attention (2 KV heads, random init, SDPA), logged through
`ProbeLogger` (the capture: queries and keys block by block, `max_length=None`) with its default
storage, as bench/capture.py logs it: run "long" (seed 0) and, for the compare view, run "long-b"
(the same probe, the model initialised with seed 1). Each made once (tens of minutes on a loaded
2-core machine) and cached under bench/.cache/render_long/<tokens>; run alone to make them ahead:
python -m bench.long_record [--tokens N].
"""

import argparse
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.path.join(ROOT, "bench", ".cache", "render_long")
RUN, RUN_B, TAG = "long", "long-b", "probe/long"
MARKERS = {RUN: "COMPLETE", RUN_B: "COMPLETE-B"}
LAYERS, HEADS, KV_HEADS = 4, 8, 2


def logdir_of(n):
    return os.path.join(CACHE, "%d" % n)


def ensure(n):
    """The log dir holding the n-token records A and B (each made in a child process when missing)."""
    logdir = logdir_of(n)
    for seed, run in enumerate((RUN, RUN_B)):
        done = os.path.join(logdir, MARKERS[run])
        if os.path.exists(done):
            continue
        print("making the %d-token capture record %s (cached in %s) ..." % (n, run, logdir), flush=True)
        start = time.time()
        command = [sys.executable, "-m", "bench.long_record", "--make", "--tokens", str(n), "--seed", str(seed)]
        subprocess.run(command, cwd=ROOT, check=True)
        with open(done, "w") as f:
            f.write("made in %.0f s\n" % (time.time() - start))
    return logdir


def make(n, seed):
    import shutil

    os.environ["HF_HUB_OFFLINE"] = "1"
    import torch
    import transformers

    import tb_attention

    torch.manual_seed(seed)
    shape = dict(num_hidden_layers=LAYERS, num_attention_heads=HEADS, num_key_value_heads=KV_HEADS)
    sizes = dict(vocab_size=32000, hidden_size=64, intermediate_size=128, max_position_embeddings=n)
    config = transformers.LlamaConfig(attn_implementation="sdpa", **sizes, **shape)
    model = transformers.LlamaForCausalLM(config).eval()
    tokenizer = IdTokenizer()
    probe = {"long": tb_attention.induction_probe(tokenizer, length=n // 2, special_tokens=False)}  # seeded: A = B
    logger = tb_attention.ProbeLogger(tokenizer, probe, max_length=None)
    run_dir = os.path.join(logdir_of(n), (RUN, RUN_B)[seed])
    shutil.rmtree(run_dir, ignore_errors=True)
    logger.log(model, 0, run_dir, True)
    tb_attention.flush()


class IdTokenizer:
    """Token ids as token texts ("w<id>"): what a probe of token ids needs of a tokenizer."""

    all_special_ids = []

    def __call__(self, text, *a, **k):
        raise TypeError("token ids only")

    def convert_ids_to_tokens(self, ids):
        return ["w%d" % i for i in ids]

    def __len__(self):
        return 32000


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=32768)
    parser.add_argument("--make", action="store_true", help="(internal) make one record in this process")
    parser.add_argument("--seed", type=int, default=0, help="(internal) 0: run long, 1: run long-b")
    args = parser.parse_args()
    if args.make:
        make(args.tokens, args.seed)
    else:
        print(ensure(args.tokens))
