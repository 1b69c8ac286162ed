"""The default precision, log16, keeps small weights: every weight within 1/510 absolute and every
weight >= 1e-6 within 6 % relative, for every float32 input and on a long record of diffuse heads;
its grid is pinned (records store codes); writer paths (numpy, torch) agree; the panel decodes
what the server sends."""

import json
import pathlib
import subprocess
import zlib

import numpy as np
import pytest

import tb_attention
from tb_attention.format import blocks, log16
from tb_attention.format import precision as precisions
from tests.helpers.http import BASE, client_layer, q, wsgi_client

ROOT = pathlib.Path(__file__).resolve().parent.parent


def every_float32_cell():
    """Each cell of float32's top 16 bits in [0, 1]: its first value, one inside, its last."""
    top = np.arange(0x3F80, dtype=np.uint32) << 16
    bits = np.concatenate([top, top + 0x5A5A, top + 0xFFFF, [0x3F800000]]).astype(np.uint32)
    return bits.view(np.float32).astype(np.float64)


def test_log16_holds_both_bounds_for_every_float32():
    w = every_float32_cell()
    decoded = precisions.dequantize(precisions.quantize(w.astype(np.float32), "log16"), "log16").astype(np.float64)
    err = np.abs(decoded - w)
    assert err.max() <= 1 / 510
    big = w >= 1e-6
    assert (err[big] / w[big]).max() <= 0.06
    assert np.all(decoded[w < 0.99e-6] == 0)  # below the floor (its float32 cell, 1 % wide): stored as 0
    assert (err[big] / np.sqrt(w[big])).max() <= log16.ROW_SUM  # rows of few comparable weights keep their sum
    assert precisions.error_bound("log16") == 1 / 510 and precisions.relative_bound("log16") == 0.06


def test_log16_grid_is_pinned_and_reencodes_to_itself():
    values, codes = log16.values(), log16.codes()
    # Records store codes: the grid is part of the format (another grid needs another name).
    assert (values.size, zlib.crc32(values.tobytes()), zlib.crc32(codes.tobytes())) == (444, 0x32C6641B, 0x1E72CB14)
    assert values[0] == 0 and values[-1] == 1 and np.all(np.diff(values) > 0)
    np.testing.assert_array_equal(log16.encode(values), np.arange(values.size))
    edge = np.array([-0.0, -1e-7, 1.0, 1.02], dtype=np.float32)  # tiny negatives and row-sum slack clip
    np.testing.assert_array_equal(log16.decode(log16.encode(edge)), [0, 0, 1, 1])


@pytest.mark.parametrize("precision", sorted(precisions.PRECISIONS))
def test_packed_values_round_trip(precision):
    rng = np.random.default_rng(0)
    stored = precisions.quantize(rng.random((3, 7, 5), dtype=np.float32), precision)
    raw = precisions.pack(stored, precision)
    assert len(raw) == stored.size * precisions.dtype(precision).itemsize
    np.testing.assert_array_equal(precisions.unpack(b"xy" + raw, precision, stored.size, 2), stored.reshape(-1))
    if precision in precisions.PLANAR:  # every low byte first: small weights' codes, alone
        np.testing.assert_array_equal(np.frombuffer(raw[: stored.size], np.uint8), stored.reshape(-1) & 0xFF)


def test_torch_encodes_as_numpy_does():
    torch = pytest.importorskip("torch")
    from tb_attention.writing import layer_encoding

    x = torch.softmax(torch.randn(4, 33, 65, generator=torch.Generator().manual_seed(1)) * 4, dim=-1)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        codes = layer_encoding.quantize_torch(x.to(device), "log16").cpu().numpy().view("<u2")
        np.testing.assert_array_equal(codes, precisions.quantize(x.numpy(), "log16"))


@pytest.mark.slow
def test_a_long_record_of_diffuse_heads_keeps_its_small_weights(tmp_path):
    """2048 tokens, a random-init Llama's diffuse heads (most weights ~1/position, far below
    uint8's 1/255 step), logged with the defaults and read back against the float32 input."""
    from bench.llm_attention import diffuse_llama_attentions, llm_tokens

    attentions = diffuse_llama_attentions(2048)
    tb_attention.add_attention(tmp_path, "long", attentions, llm_tokens(2048), 0)
    tb_attention.flush()
    (rec,) = tb_attention.read_attention(str(tmp_path))
    assert (rec.precision, rec.encoding, rec.shape) == ("log16", "dense", (2, 8, 2048, 2048))
    for layer, full in enumerate(attentions):
        w = full[0].numpy().astype(np.float64)
        stored = rec.layer(layer).astype(np.float64)
        err = np.abs(stored - w)
        assert err.max() <= 1 / 510
        big = w >= 1e-6
        assert big.mean() > 0.49  # the causal half: every weight there is >= 1e-6
        assert (err[big] / w[big]).max() <= 0.06
        assert np.abs(stored.sum(-1) - 1).max() <= 0.01
        assert np.mean(stored[:, 1024:] == 0) < 0.51  # uint8 stored 100 % of these rows' weight as 0


PANEL_DECODE = """
import { decodeWeights, parsePlanes, parseTable } from './frontend/decode.js';
import { readFileSync } from 'node:fs';
const out = JSON.parse(readFileSync(0, 'utf8')).map(([h, body]) => {
  const bytes = Buffer.from(body, 'base64');
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
  const count = h['X-Attention-Shape'].split(',').reduce((a, b) => a * Number(b), 1);
  const coding = { table: parseTable(h['X-Attention-Table']), planes: parsePlanes(h['X-Attention-Planes']) };
  const scale = Number(h['X-Attention-Scale']);
  return Array.from(decodeWeights(buffer, h['X-Attention-Dtype'], count, scale, coding));
});
console.log(JSON.stringify(out));
"""


def _panel_decode(responses):
    """What the panel's decode.js makes of /layer responses [(headers, body)] (float32 lists)."""
    import base64

    payload = json.dumps([[dict(h), base64.b64encode(body).decode()] for h, body in responses])
    node = dict(cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    out = subprocess.run(["node", "--input-type=module", "-e", PANEL_DECODE], input=payload, **node)
    return [np.array(v, dtype=np.float32) for v in json.loads(out.stdout)]


def test_the_panel_reads_log16_as_the_server_sends_it(tmp_path):
    from tests.helpers.data import peaky_attention, tokens_for

    att = peaky_attention(2, 40, 160, seed=3)  # 40 heads: several blocks per layer, the last one short
    tb_attention.add_attention(tmp_path / "run", "p", att, tokens_for(160), 0)
    tb_attention.flush()
    (rec,) = tb_attention.read_attention(str(tmp_path))
    client = wsgi_client(tmp_path)
    queries = [dict(layer=1), dict(layer=0, heads="3,39"), dict(layer=1, q_start=5, q_end=9)]
    responses = []
    for extra in queries:  # the whole layer as stored (zstd frames, byte planes), a subset, rows
        response = client.get(
            BASE + "/layer?" + q(run="run", tag="p", step=0, **extra), headers={"Accept-Encoding": ""}
        )
        assert response.status_code == 200 and response.headers["X-Attention-Dtype"] == "uint16"
        responses.append((response.headers, response.get_data()))
    assert responses[0][0].get("X-Attention-Planes") == str(blocks.heads_per_block(40, 160, 160, "log16") * 160 * 160)
    assert "X-Attention-Planes" not in responses[1][0]
    wanted = [rec.layer(1), rec.layer(0)[[3, 39]], rec.layer(1)[:, 5:9]]
    for got, want, extra in zip(_panel_decode(responses), wanted, queries):
        np.testing.assert_array_equal(got.reshape(want.shape), want)
        np.testing.assert_array_equal(client_layer(client, run="run", tag="p", step=0, **extra), want)
