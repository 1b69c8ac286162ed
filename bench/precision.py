"""Precisions measured side by side in one run: bytes on disk after zstd level 1 (per block of at
most 16 MB, as the writer stores them), encode and decode time, and the errors each keeps, on
real and LLM-shaped attention. The bounds every default record must hold (docs/format.md): each
weight within 1/510 absolute, each weight >= 1e-6 within 6 % relative.

Candidates: uint8 (the old default), float16 as is, float16 with its mantissa rounded to the
coarsest grid meeting both bounds (m = max(4, e + 8) mantissa bits for w in [2^e, 2^(e+1))),
a uint16 log/linear code by formula (log-spaced below the crossover, 1/255 apart above), and
log16 (the shipped code: the same idea built from float32 cells, finer where rows have few
comparable weights); two-byte codes both interleaved and in byte planes (low bytes, then high).

Run: python bench/precision.py [--repeat 2] [--inputs minilm128,minilm512,llm2048,llama2048]
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import zstandard  # noqa: E402

from bench.compression import best_time  # noqa: E402
from bench.llm_attention import diffuse_llama_attentions, llm_layer  # noqa: E402
from tb_attention.format import precision as precisions  # noqa: E402

BLOCK = 16 << 20
FLOOR, RELATIVE, ABSOLUTE = 1e-6, 0.06, 1 / 510


# -- the candidates not shipped: (encode to stored values, decode to float32) -----------------


def _rounded_float16_tables():
    """Per float32 exponent: what to add and which bits to keep to round the mantissa to
    m = max(4, e + 8) bits (e = exponent - 127), i.e. drop d = 23 - m bits."""
    exponent = np.arange(256)
    drop = np.clip(142 - exponent, 13, 19)  # m in [4, 10]: float16 keeps at most 10 bits
    add = (1 << (drop - 1)).astype(np.uint32)
    keep = (~((1 << drop) - 1) & 0xFFFFFFFF).astype(np.uint32)
    return add, keep


ADD, KEEP = _rounded_float16_tables()


def rounded_float16(weights):
    bits = np.ascontiguousarray(weights, dtype=np.float32).view(np.uint32)
    exponent = bits >> 23
    return ((bits + ADD[exponent]) & KEEP[exponent]).view(np.float32).astype(np.float16)


def _formula_grid(rel=0.0599):
    """Log cells of ratio r <= (1 + rel) / (1 - rel) (relative error `rel` at both ends) from FLOOR
    up to the crossover where 1/255-wide cells meet 6 % (1/510 / 0.06), then cells 1/255 wide up to 1."""
    crossover = ABSOLUTE / RELATIVE * 1.0001
    logs = int(np.ceil(np.log(crossover / FLOOR) / np.log((1 + rel) / (1 - rel))))
    r = (crossover / FLOOR) ** (1 / logs)
    edges = FLOOR * r ** np.arange(logs + 1)
    lin = crossover + np.arange(int(np.ceil((1 - crossover) * 255)) + 1) / 255
    values = np.concatenate([[0.0], 2 * edges[:-1] * edges[1:] / (edges[:-1] + edges[1:]), (lin[:-1] + lin[1:]) / 2])
    return r, logs, crossover, np.append(values, 1.0).astype(np.float32)


R, LOGS, CROSSOVER, FORMULA_VALUES = _formula_grid()


def formula_code(weights):
    w = np.ascontiguousarray(weights, dtype=np.float32)
    small = np.log(np.maximum(w, FLOOR) / FLOOR) / np.log(R)  # float64: cells exact to their edges
    code = np.where(w < FLOOR, 0, 1 + np.minimum(small.astype(np.int32), LOGS - 1))
    linear = 1 + LOGS + ((w - np.float32(CROSSOVER)) * np.float32(255)).astype(np.int32)
    code = np.where(w >= CROSSOVER, np.minimum(linear, FORMULA_VALUES.size - 1), code)
    return np.where(w >= 1, FORMULA_VALUES.size - 1, code).astype(np.uint16)


def planes(stored):
    return stored.reshape(-1).view(np.uint8).reshape(-1, stored.itemsize).T.tobytes()


def unplanes(raw, dtype, count):
    out = np.empty(count, dtype=dtype)
    for i, plane in enumerate(np.frombuffer(raw, np.uint8).reshape(dtype.itemsize, count)):
        out.view(np.uint8)[i :: dtype.itemsize] = plane
    return out


def shipped(name, planar):
    """(encode, decode) of a shipped precision through format/precision.py."""
    if planar:
        return (
            lambda w: precisions.pack(precisions.quantize(w, name), name),
            lambda raw, n: precisions.dequantize(precisions.unpack(raw, name, n), name),
        )
    dtype = precisions.dtype(name)
    return (
        lambda w: np.ascontiguousarray(precisions.quantize(w, name), dtype).tobytes(),
        lambda raw, n: precisions.dequantize(np.frombuffer(raw, dtype, n), name),
    )


def custom(encode, decode, dtype, planar):
    if planar:
        return (lambda w: planes(encode(w)), lambda raw, n: decode(unplanes(raw, dtype, n)))
    return (lambda w: encode(w).tobytes(), lambda raw, n: decode(np.frombuffer(raw, dtype, n)))


def candidates():
    f16, u16 = np.dtype("<f2"), np.dtype("<u2")
    half = (lambda w: np.ascontiguousarray(w, f16), lambda v: v.astype(np.float32))
    return {
        "uint8": shipped("uint8", False),
        "float16": custom(*half, f16, False),
        "float16, planes": custom(*half, f16, True),
        "float16 rounded": custom(rounded_float16, lambda v: v.astype(np.float32), f16, False),
        "float16 rounded, planes": custom(rounded_float16, lambda v: v.astype(np.float32), f16, True),
        "log/linear formula": custom(formula_code, lambda c: FORMULA_VALUES[c], u16, False),
        "log/linear formula, planes": custom(formula_code, lambda c: FORMULA_VALUES[c], u16, True),
        "log16, interleaved": shipped("log16", False),
        "log16 (planes, shipped)": shipped("log16", True),
    }


# -- inputs ---------------------------------------------------------------------------------------


def minilm(n_tokens):
    import torch

    from bench.common import encode, load_minilm

    tokenizer, model = load_minilm()
    with torch.no_grad():
        attentions = model(**encode(tokenizer, n_tokens), output_attentions=True).attentions
    return torch.stack(attentions)[:, 0].numpy()


def llama(n_tokens):
    import torch

    return torch.stack(diffuse_llama_attentions(n_tokens))[:, 0].numpy()


INPUTS = {
    "minilm128": ("MiniLM 6 x 12, 128 real tokens", lambda: minilm(128)),
    "minilm512": ("MiniLM 6 x 12, 512 real tokens", lambda: minilm(512)),
    "llm2048": ("LLM-like causal with sinks, 1 x 8 x 2048", lambda: llm_layer(3, 8, 2048)[None]),
    "llama2048": ("random-init Llama (diffuse), 2 x 8 x 2048", lambda: llama(2048)),
}


# -- measuring ------------------------------------------------------------------------------------


def blocks_of(attention):
    """[heads..., q, k] arrays of at most BLOCK float16-sized bytes: the writer's blocks."""
    flat = attention.reshape(-1, *attention.shape[-2:])
    per = max(1, BLOCK // (2 * flat[0].size))
    return [flat[i : i + per] for i in range(0, len(flat), per)]


def measure(attention, encode, decode, repeat):
    cctx, dctx = zstandard.ZstdCompressor(level=1), zstandard.ZstdDecompressor()
    parts = blocks_of(attention)
    t_enc, raws = best_time(lambda: [encode(b) for b in parts], repeat)
    t_zstd, chunks = best_time(lambda: [cctx.compress(r) for r in raws], 1)
    t_dec, decoded = best_time(lambda: [decode(dctx.decompress(c), b.size) for c, b in zip(chunks, parts)], repeat)
    weights = np.concatenate([d.reshape(-1) for d in decoded]).reshape(attention.shape)
    err = np.abs(weights.astype(np.float64) - attention)
    big = attention >= FLOOR
    rows = np.abs(weights.sum(-1, dtype=np.float64) - attention.sum(-1, dtype=np.float64))
    n = attention.size
    return dict(
        bytes=sum(len(c) for c in chunks) / n,
        enc=t_enc / n * 1e9,
        zstd=t_zstd / n * 1e9,
        dec=t_dec / n * 1e9,
        abs=float(err.max()),
        rel=float((err[big] / attention[big]).max()),
        rows=float(rows.max()),
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--inputs", default=",".join(INPUTS))
    args = parser.parse_args()
    print(
        "Precisions on disk (zstd-1 per 16 MB block); times per weight on this machine (%d cores); errors "
        "against the float32 input; bounds: abs <= 1/510 = %.5f, rel <= 6 %% for w >= 1e-6" % (os.cpu_count(), ABSOLUTE)
    )
    for key in args.inputs.split(","):
        title, make = INPUTS[key]
        attention = make().astype(np.float32)
        print("\n== %s: %.1f M weights, float32 %.1f MB" % (title, attention.size / 1e6, attention.nbytes / 1e6))
        print(
            "  %-27s %7s %8s %8s %8s %8s %9s %8s %9s  %s"
            % (
                "candidate",
                "B/w",
                "x float32",
                "enc ns",
                "zstd ns",
                "dec ns",
                "max abs",
                "max rel",
                "max row",
                "bounds",
            )
        )
        for name, (encode, decode) in candidates().items():
            r = measure(attention, encode, decode, args.repeat)
            ok = r["abs"] <= ABSOLUTE + 1e-7 and r["rel"] <= RELATIVE
            print(
                "  %-27s %7.3f %9.4f %8.2f %8.2f %8.2f %9.5f %8.4f %9.4f  %s"
                % (
                    name,
                    r["bytes"],
                    r["bytes"] / 4,
                    r["enc"],
                    r["zstd"],
                    r["dec"],
                    r["abs"],
                    r["rel"],
                    r["rows"],
                    "both" if ok else "FAIL",
                )
            )


if __name__ == "__main__":
    main()
