"""How `tests/data/v2_logdir` and `v2_logdir.expected.npz` were made: format-2 records written by
the writer of commit 3a82887 (dense and sparse, uint8, float16 and float32, a layer/head subset,
thumbnails, an encoder-decoder record), and what its `read_attention` returned for them.

Kept to show what the fixture holds; rerunning it writes records of today's writer instead, so
the fixture is not remade: it stays what that version wrote, read back by tests/test_format_compat.py.

Run: python -m tests.data.make_v2_logdir OUT_DIR
"""

import pathlib
import sys

import numpy as np

import tb_attention
from tests.helpers.data import peaky_attention, softmax_attention, tokens_for

TOKENS = "[CLS] i went to the store . [SEP] at the store , i bought fresh straw ##berries . [SEP]".split()
SOURCE = ["▁the", "▁pilot", "▁bought", "▁milk", "</s>"]
TARGET = ["<pad>", "▁le", "▁pilote", "▁a", "▁acheté", "▁du", "▁lait"]


def causal(weights):
    """Rows masked to their earlier keys and renormalised, as a decoder's are."""
    n = weights.shape[-1]
    masked = weights * np.tril(np.ones((n, n), dtype=np.float32))
    return masked / masked.sum(-1, keepdims=True)


def write(logdir):
    run = logdir / "finetune"
    n = len(TOKENS)
    for step in (0, 10):  # dense uint8 with a sentence pair: the default record
        tb_attention.add_attention(
            run, "probe/store", peaky_attention(3, 4, n, seed=step), TOKENS, step, sentence_b_start=8
        )
    tb_attention.add_attention(
        run, "probe/store_f16", peaky_attention(3, 4, n, seed=1), TOKENS, 0, sentence_b_start=8, precision="float16"
    )
    tb_attention.add_attention(
        run, "probe/store_f32", softmax_attention((2, 2, 6, 6), seed=2), tokens_for(6), 0, precision="float32"
    )
    tb_attention.add_attention(
        run, "probe/subset", peaky_attention(4, 6, 10, seed=3), tokens_for(10), 0, layers=[1, 3], heads=[0, 2, 5]
    )
    tb_attention.add_attention(run, "probe/top_k", peaky_attention(2, 3, 40, seed=4), tokens_for(40), 0, top_k=3)
    tb_attention.add_attention(
        run,
        "probe/top_mass",
        peaky_attention(2, 3, 40, seed=5),
        tokens_for(40),
        0,
        top_mass=0.9,
        top_k=8,
        precision="float16",
    )
    long = causal(peaky_attention(1, 1, 384, seed=6, sharpness=10.0))  # thumbnails are kept from 362 tokens on
    tb_attention.add_attention(run, "probe/long", long, tokens_for(384), 0)
    tb_attention.add_attention(
        logdir / "seq2seq",
        "probe/translate",
        global_step=5,
        encoder_attention=peaky_attention(2, 2, len(SOURCE), seed=7),
        decoder_attention=causal(peaky_attention(2, 2, len(TARGET), seed=8)),
        cross_attention=softmax_attention((2, 2, len(TARGET), len(SOURCE)), seed=9),
        encoder_tokens=SOURCE,
        decoder_tokens=TARGET,
    )
    tb_attention.flush()


def expected(logdir):
    """{"run|tag|step|kind|what": array} of what read_attention returns for every record (and
    the thumbnails the server sends)."""
    from tests.helpers.http import BASE, decode_layer_response, q, wsgi_client

    client, out = wsgi_client(logdir), {}
    for rec in tb_attention.read_attention(str(logdir)):
        for kind in rec.kinds:
            part = rec.part(kind)
            key = "%s|%s|%d|%s" % (rec.run, rec.tag, rec.step, kind)
            out[key + "|attention"] = part.attention
            if part.encoding == "sparse":
                out[key + "|kept"] = np.stack([part.kept_mass(i) for i in range(part.shape[0])])
            if part.patterns:
                out[key + "|pattern_names"] = np.array(sorted(part.patterns))
                out[key + "|patterns"] = np.stack([part.patterns[m] for m in sorted(part.patterns)])
            if part.shape[2] * part.shape[3] > 64 * 64:  # stored thumbnails (shorter ones are pooled when served)
                thumbs = client.get(BASE + "/thumbnails?" + q(run=rec.run, tag=rec.tag, step=rec.step, kind=kind))
                out[key + "|thumbnails"] = decode_layer_response(thumbs.headers, thumbs.get_data())
    return out


def main(out_dir):
    out_dir = pathlib.Path(out_dir)
    write(out_dir / "v2_logdir")
    np.savez_compressed(out_dir / "v2_logdir.expected.npz", **expected(out_dir / "v2_logdir"))


if __name__ == "__main__":
    main(sys.argv[1])
