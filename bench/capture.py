"""The probe pass at long context: one probe of a 4-layer x 8-head Llama with grouped-query
attention (2 KV heads, random init, SDPA) through `ProbeLogger` (the path every integration
uses), each case in a fresh process. Printed per case: the probe pass's wall time (forward,
capture, encoding and the write, until flush returns), time per attention weight (seconds /
(layers x heads x n x n)), the peak extra host memory (peak RSS during the pass, less RSS before
it), bytes on disk and what the record stores. The eager path (today's `output_attentions`
forward, then add_attention; what models off the attention interface still use) runs beside it
at a shorter length, in the same run, so the two costs per weight are compared side by side.

Run: python bench/capture.py [--cases eager4096,capture8192,capture16384,capture32768]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CASES = {  # name: (path, tokens)
    "eager2048": ("eager", 2048),
    "eager4096": ("eager", 4096),
    "capture4096": ("capture", 4096),
    "capture8192": ("capture", 8192),
    "capture16384": ("capture", 16384),
    "capture32768": ("capture", 32768),
}
LAYERS, HEADS, KV_HEADS = 4, 8, 2

CHILD = r"""
import json, os, sys, threading, time
sys.path.insert(0, ROOT)
os.environ["HF_HUB_OFFLINE"] = "1"
import torch, transformers
import tb_attention
from tb_attention.integrations import probe_pass
from tb_attention import add_attention
path, n, logdir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
torch.manual_seed(0)
config = transformers.LlamaConfig(vocab_size=32000, hidden_size=64, intermediate_size=128, num_hidden_layers=LAYERS,
                                  num_attention_heads=HEADS, num_key_value_heads=KV_HEADS,
                                  max_position_embeddings=n, attn_implementation="sdpa")
model = transformers.LlamaForCausalLM(config).eval()

class Tokenizer:
    def __init__(self):
        self.all_special_ids = []
    def __call__(self, text, *a, **k):
        raise TypeError
    def convert_ids_to_tokens(self, ids):
        return ["w%d" % i for i in ids]
    def __len__(self):
        return 32000

probe = {"long": tb_attention.induction_probe(Tokenizer(), length=n // 2, special_tokens=False)}
logger = tb_attention.ProbeLogger(Tokenizer(), probe, max_length=None)
inputs = logger._inputs(logger.probes[0], model)

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

peak, done = [0], []
def watch():
    while not done:
        peak[0] = max(peak[0], rss())
        time.sleep(0.005)
before = rss()
threading.Thread(target=watch, daemon=True).start()
start = time.perf_counter()
if path == "eager":
    attentions = probe_pass.probe_attention(model, inputs)
    add_attention(logdir, "probe/long", global_step=0, max_tokens=1 << 30, **attentions, **inputs.log_kwargs)
else:
    logger.log(model, 0, logdir, True)
tb_attention.flush()
seconds = time.perf_counter() - start
done.append(1)
peak[0] = max(peak[0], rss())
size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(logdir) for f in fs)
[record] = tb_attention.read_attention(logdir)
print(json.dumps({"seconds": seconds, "peak_extra": peak[0] - before, "disk": size, "encoding": record.encoding,
                  "sparse": record.sparse, "precision": record.precision}))
"""


def run(path, n):
    with tempfile.TemporaryDirectory() as logdir:
        code = CHILD.replace("ROOT", repr(ROOT)).replace("LAYERS", str(LAYERS)).replace("KV_HEADS", str(KV_HEADS))
        code = code.replace("HEADS", str(HEADS))
        out = subprocess.run([sys.executable, "-c", code, path, str(n), logdir], capture_output=True, text=True)
        if out.returncode != 0:
            return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "exit %d" % out.returncode}
        return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default="eager4096,capture8192,capture16384,capture32768")
    args = parser.parse_args()
    results = {}
    print("%-14s %9s %12s %14s %10s  %s" % ("case", "seconds", "ns/weight", "peak extra GB", "disk MB", "stored"))
    for name in args.cases.split(","):
        path, n = CASES[name]
        r = results[name] = run(path, n)
        if "error" in r:
            print("%-14s failed: %s" % (name, r["error"]))
            continue
        r["ns"] = r["seconds"] / (LAYERS * HEADS * n * n) * 1e9
        stored = "%s %s %s" % (r["encoding"], r["precision"], r["sparse"] or "")
        print(
            "%-14s %9.1f %12.1f %14.2f %10.1f  %s"
            % (name, r["seconds"], r["ns"], r["peak_extra"] / 1e9, r["disk"] / 1e6, stored)
        )
    eager = [r for k, r in results.items() if k.startswith("eager") and "ns" in r]
    for name, r in results.items():
        if name.startswith("capture") and "ns" in r and eager:
            print(
                "%s: time per weight / eager's at %d tokens = %.2f (goal <= 0.5)"
                % (name, CASES[[k for k in results if k.startswith("eager")][-1]][1], r["ns"] / eager[-1]["ns"])
            )


if __name__ == "__main__":
    main()
