"""Queries and keys kept beside the attention (`qk=True`), measured in one run:

1. the stored precision, chosen here: float16 against a byte code scaled per (head, dimension)
   (int8, the scale stored in float32), in bytes per value on disk (zstd level 1, as stored) and
   in how far the softmax rebuilt from the stored vectors moves from the one of the float32
   vectors (max abs difference of a weight), on the packaged MiniLM (trained: BERT, head_dim 32)
   and a random-init Llama (rotary, head_dim 128);
2. bytes per stored (token, head), and a 32-layer x 32-head, 512-token probe (head_dim 128,
   grouped-query attention with 8 KV heads, and multi-head with 32) captured with qk=True under
   the default budget: which layers keep their vectors, and the bytes of vectors and attention.

Run: python bench/qk.py [--tokens 512] [--skip-probe]
"""

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench.common import encode, load_minilm  # noqa: E402
from tb_attention.analysis.qk import head_scores  # noqa: E402
from tb_attention.format import qk as qk_format  # noqa: E402
from tb_attention.format.payload import compress  # noqa: E402


def _vectors(model, inputs):
    """{layer: (queries [heads, n, d], keys [heads, n, d], scaling)} of one forward (float32)."""
    import tb_attention
    from tb_attention.capture import capture

    with tempfile.TemporaryDirectory() as logdir:
        with (
            torch.no_grad(),
            capture(model, tokens=["t"] * inputs["input_ids"].shape[1], qk=True, precision="float32") as cap,
        ):
            model(**inputs)
        cap.log(logdir, "p", 0)
        tb_attention.flush()
        record = next(tb_attention.read_attention(logdir))
        scalings = record.qk_info["scaling"]
        return {layer: record.qk(layer) + (scalings[i],) for i, layer in enumerate(record.qk_layers)}


def _int8(x):
    """x as int8 per (head, dimension) scale: (stored bytes, decoded float32)."""
    scale = np.abs(x).max(axis=1, keepdims=True) / 127.0
    scale[scale == 0] = 1.0
    codes = np.rint(x / scale).astype(np.int8)
    return codes.tobytes() + scale.astype("<f4").tobytes(), codes.astype(np.float32) * scale


def _float16(x):
    return x.astype("<f2").tobytes(), x.astype("<f2").astype(np.float32)


def compare_precisions(name, vectors):
    """Bytes per value and the softmax's largest change, float16 against int8."""
    for label, code in (("float16", _float16), ("int8 per (head, dim)", _int8)):
        size = values = err = 0
        for q, k, scaling in vectors.values():
            # Stored values are float16 already: the reference is their float32 form (exact).
            (qb, qd), (kb, kd) = code(q), code(k)
            size += len(compress(qb)) + len(compress(kb))
            values += q.size + k.size
            hidden = np.triu(np.ones((q.shape[1], k.shape[1]), bool), 1) if name != "MiniLM" else None
            _, _, exact = head_scores(q, k, scaling, None, hidden)
            _, _, coded = head_scores(qd, kd, scaling, None, hidden)
            err = max(err, float(np.abs(exact - coded).max()))
        print("  %-22s %-8s %.3f bytes a value   max |softmax change| %.2e" % (label, name, size / values, err))


def precisions(tokens):
    print("1. precision (%d tokens)" % tokens)
    tokenizer, minilm = load_minilm()
    compare_precisions("MiniLM", _vectors(minilm, dict(encode(tokenizer, tokens))))
    llama = _llama(layers=2, kv_heads=8, seed=0)
    compare_precisions("Llama", _vectors(llama, _ids(tokens)))


def _llama(layers, kv_heads, seed=0):
    """A random-init Llama with 32 heads of 128 dimensions (a narrow residual stream: the vectors,
    not the MLPs, are what is measured)."""
    import transformers as t

    torch.manual_seed(seed)
    config = t.LlamaConfig(
        vocab_size=1000, hidden_size=256, intermediate_size=256, num_hidden_layers=layers,
        num_attention_heads=32, num_key_value_heads=kv_heads, head_dim=128,
    )  # fmt: skip
    model = t.LlamaForCausalLM(config).eval()
    model.set_attn_implementation("sdpa")
    return model


def _ids(tokens):
    return {"input_ids": torch.randint(5, 995, (1, tokens), generator=torch.Generator().manual_seed(1))}


def probe(tokens, kv_heads):
    """A 32 x 32-head probe captured with qk=True under the default budget."""
    import tb_attention
    from tb_attention.capture import capture

    model = _llama(32, kv_heads)
    with tempfile.TemporaryDirectory() as logdir:
        start = time.perf_counter()
        with torch.no_grad(), capture(model, tokens=["t"] * tokens, qk=True) as cap:
            model(**_ids(tokens), logits_to_keep=1)
        cap.log(logdir, "p", 0)
        tb_attention.flush()
        seconds = time.perf_counter() - start
        record = next(tb_attention.read_attention(logdir))
        part = record._stored.part
        qk_bytes = sum(ref[1] for ref in part.qk["chunks"])
        attention = sum(_refs(part.layout.get("blocks"))) + sum(_refs(part.layout.get("overview")))
        attention += sum(_refs(part.layout.get("thumbnails")))
        kept = len(record.qk_layers)
        pairs = kept * 32 * tokens
        print(
            "  kv_heads %2d: vectors of %d/32 layers %s; %.1f MB vectors (%.0f bytes per (token, head)), "
            "%.1f MB attention (%s), %.1f MB of the %.1f MB budget; %.0f s"
            % (kv_heads, kept, "(all)" if kept == 32 else record.qk_layers, qk_bytes / 1e6, qk_bytes / pairs,
               attention / 1e6, part.encoding, (qk_bytes + attention) / 1e6, (256 << 20) / 1e6, seconds)
        )  # fmt: skip


def _refs(table):
    """Lengths of every chunk reference in a nested table (or dict of tables)."""
    if table is None:
        return []
    if isinstance(table, dict):
        return [n for key in ("chunks",) for n in _refs(table.get(key))]
    if len(table) == 3 and all(isinstance(v, int) for v in table):
        return [table[1]]
    return [n for item in table for n in _refs(item)]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tokens", type=int, default=512)
    p.add_argument("--skip-probe", action="store_true")
    args = p.parse_args(argv)
    precisions(min(args.tokens, 512))
    d = 128
    print("2. per (token, head), head_dim %d: queries %d bytes + keys %d bytes / group raw float16" % (d, 2 * d, 2 * d))
    if not args.skip_probe:
        for kv_heads in (8, 32):
            probe(args.tokens, kv_heads)
    print("format:", qk_format.PRECISION)


if __name__ == "__main__":
    main()
