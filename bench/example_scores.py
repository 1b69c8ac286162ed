"""Scores over a set of examples (`score_examples=`, docs/patterns.md): how many examples a second
the scoring pass gets through (each example's forward with its attention scored block by block,
nothing stored), beside the same forwards without scoring, and beside logging one probe of the
same length (forward, capture, encoding, the write, until flush returns), side by side in one
run, one thread, CPU time of the process (on a shared machine wall time mostly measures the
other jobs; it is printed too).

Cases: the packaged MiniLM (6 x 12 heads, bidirectional) on 128-token texts, and a random-init
Llama of 4 layers x 8 heads with 2 KV heads (causal, SDPA) at 128 and at 2048 tokens.

Run: python bench/example_scores.py [--examples 128] [--long-examples 16] [--cases minilm128,llama128,llama2048]
"""

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import TEXT  # noqa: E402  (sets the offline environment first)

LAYERS, HEADS, KV_HEADS = 4, 8, 2


class _Ids:
    """A tokenizer stand-in for token-id examples of the random Llama."""

    all_special_ids = []

    def __call__(self, *args, **kwargs):
        raise TypeError("token ids only")

    def convert_ids_to_tokens(self, ids):
        return ["w%d" % i for i in ids]


def _llama(n):
    import torch
    import transformers

    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=32000,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        num_key_value_heads=KV_HEADS,
        max_position_embeddings=max(n, 128),
        attn_implementation="sdpa",
    )
    return transformers.LlamaForCausalLM(config).eval(), _Ids()


def _case(name, count):
    """(model, tokenizer, [token-id lists], tokens per example, heads in all)."""
    import numpy as np

    n = int(name.removeprefix("minilm").removeprefix("llama"))
    rng = np.random.default_rng(0)
    if name.startswith("minilm"):
        from bench.common import load_minilm

        tokenizer, model = load_minilm()
        model.set_attn_implementation("sdpa")
        words = (TEXT * (2 + n // 20)).split()
        examples = []
        for _ in range(count):  # real text from a different word onwards each time
            start = int(rng.integers(0, len(words) // 2))
            examples.append(tokenizer(" ".join(words[start:]), truncation=True, max_length=n)["input_ids"])
        return model, tokenizer, examples, n, 6 * 12
    model, tokenizer = _llama(n)
    return model, tokenizer, [rng.integers(10, 32000, n).tolist() for _ in range(count)], n, LAYERS * HEADS


def _clock(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def run_case(name, count):
    import tb_attention
    from tb_attention.analysis.induction_probe import TokenProbe
    from tb_attention.integrations.example_set import ExampleSet, score_set
    from tb_attention.integrations.probe_pass import plain_forward

    model, tokenizer, examples, n, heads = _case(name, count)
    inputs = ExampleSet(examples, "probe/examples").inputs(tokenizer, model, None)
    score_set(model, inputs[:1], {})  # warm-up: kernels, the capture's registration
    forward = _clock(lambda: [plain_forward(model, one) for one in inputs])
    scoring = _clock(lambda: score_set(model, inputs, {}))
    with tempfile.TemporaryDirectory() as logdir:
        logger = tb_attention.ProbeLogger(tokenizer, {"probe": TokenProbe("probe", examples[0])})

        def log_probe():
            logger.log(model, 0, logdir, True)
            tb_attention.flush()

        probe = _clock(log_probe)
    weights = heads * n * n
    per_example = scoring[1] / count
    print(
        "== %s: %d examples of %d tokens, %d heads (%.1f M weights an example) =="
        % (name, count, n, heads, weights / 1e6)
    )
    print(
        "  scoring    %7.1f examples/s  %8.1f ms an example  %5.2f ns/weight   (wall %.1f examples/s)"
        % (count / scoring[1], 1e3 * per_example, 1e9 * per_example / weights, count / scoring[0])
    )
    print("  forwards   %7.1f examples/s  (the same forwards, not scored)" % (count / forward[1]))
    print("  one probe logged  %8.1f ms  (wall %.1f ms)" % (1e3 * probe[1], 1e3 * probe[0]))
    print(
        "  ratios: scoring / forward %.2f;  scoring 128 examples / logging one probe %.1f%s"
        % (scoring[1] / forward[1], 128 * per_example / probe[1], "" if count == 128 else " (from %d)" % count)
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=128, help="examples at 128 tokens")
    parser.add_argument("--long-examples", type=int, default=16, help="examples at 2048 tokens")
    parser.add_argument("--cases", default="minilm128,llama128,llama2048")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    for name in args.cases.split(","):
        run_case(name, args.long_examples if name.endswith("2048") else args.examples)


if __name__ == "__main__":
    main()
