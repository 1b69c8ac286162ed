"""Shared pieces of the hardening tests: real logdirs written with the real writer, a WSGI client
over a real multiplexer, TFRecord framing of event files, and helpers for served layers."""

import glob
import json
import os
import struct
import urllib.parse
import zlib

import numpy as np

from tests.test_codec import softmax_attention

BASE = "/data/plugin/tb_attention"
LOADERS = ["true", "false"]  # Rust data server, Python multiplexer
UINT8_BOUND = 1 / 510 + 1e-6


def q(**params):
    return urllib.parse.urlencode(params)


def attention(seed=0, layers=2, heads=3, n=5):
    """A softmax attention `[layers, heads, n, n]` that differs per seed."""
    return softmax_attention((layers, heads, n, n), seed=seed)


def tokens_for(n):
    return ["[CLS]"] + ["w%d" % i for i in range(n - 2)] + ["[SEP]"]


def write_run(run_dir, steps, tag="p", layers=2, heads=3, n=5, seed_base=0, precision="uint8", scalars=True):
    """Log `steps` through a torch SummaryWriter, then close it (which closes our event file too).

    Returns `{step: float32 [layers, heads, n, n]}` as logged.
    """
    import tb_attention
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(run_dir))
    logged = {}
    for step in steps:
        a = attention(seed_base + step, layers, heads, n)
        logged[step] = a
        if scalars:
            writer.add_scalar("loss", 1.0 / (step + 1), step)
        tb_attention.add_attention(writer, tag, a, tokens_for(n), step, precision=precision)
    writer.close()
    return logged


def attention_event_files(run_dir):
    return sorted(glob.glob(os.path.join(str(run_dir), "events.out.tfevents.*tb_attention*")))


def frames(data):
    """`[(offset, size)]` of each complete TFRecord in `data` (an event file's bytes)."""
    out, offset = [], 0
    while offset + 12 <= len(data):
        (length,) = struct.unpack("<Q", data[offset:offset + 8])
        size = 8 + 4 + length + 4
        if offset + size > len(data):
            break
        out.append((offset, size))
        offset += size
    return out


def last_record_bytes(path):
    """The framed bytes of the last record of an event file."""
    with open(path, "rb") as f:
        data = f.read()
    offset, size = frames(data)[-1]
    return data[offset:offset + size]


def tree_snapshot(root):
    """`{relative path: (size, mtime_ns, crc)}` of every file under root: proof nothing wrote."""
    out = {}
    for dirpath, _, names in os.walk(str(root)):
        for name in names:
            path = os.path.join(dirpath, name)
            st = os.stat(path)
            with open(path, "rb") as f:
                crc = zlib.crc32(f.read())
            out[os.path.relpath(path, str(root))] = (st.st_size, st.st_mtime_ns, crc)
    return out


def decode_layer_response(headers, body):
    """Float32 `[heads, q, k]` of a `/layer` response, from its headers and body alone."""
    heads, n_q, n_k = map(int, headers["X-Attention-Shape"].split(","))
    precision = headers["X-Attention-Precision"]
    raw = zlib.decompress(body)
    if precision == "uint8":
        return np.frombuffer(raw, dtype=np.uint8).reshape(heads, n_q, n_k) / np.float32(255.0)
    dtype = {"float16": "<f2", "float32": "<f4"}[precision]
    return np.frombuffer(raw, dtype=dtype).reshape(heads, n_q, n_k).astype(np.float32)


def wsgi_client(logdir, return_multiplexer=False):
    """A werkzeug client over TensorBoard's WSGI app with the plugin, on a real multiplexer
    (and the multiplexer, to `Reload()` after more writing, when asked)."""
    from tensorboard.backend import application
    from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
    from tensorboard.plugins import base_plugin
    from werkzeug import test as werkzeug_test

    from tb_attention import attention_plugin, metadata

    logdir = str(logdir)
    mux = plugin_event_multiplexer.EventMultiplexer(tensor_size_guidance={metadata.PLUGIN_NAME: 0})
    mux.AddRunsFromDirectory(logdir)
    mux.Reload()
    provider = data_provider.MultiplexerDataProvider(mux, logdir)
    context = base_plugin.TBContext(data_provider=provider, logdir=logdir)
    plugin = attention_plugin.AttentionLoader().load(context)
    app = application.TensorBoardWSGI([plugin], data_provider=provider)
    client = werkzeug_test.Client(app)
    return (client, mux) if return_multiplexer else client


def served_steps(tb, run, tag):
    """Steps a running TensorBoard serves for (run, tag); raises while it has none."""
    data = tb.get_json(BASE + "/steps?" + q(run=run, tag=tag))
    return [s["step"] for s in data["steps"]]


def served_layer(tb, run, tag, step, layer):
    status, headers, body = tb.get(BASE + "/layer?" + q(run=run, tag=tag, step=step, layer=layer))
    assert status == 200, body[:300]
    return decode_layer_response(headers, body)


def error_message(body):
    """The `error` of a JSON error body (asserts there is one)."""
    data = json.loads(body)
    assert isinstance(data.get("error"), str) and data["error"], data
    return data["error"]
