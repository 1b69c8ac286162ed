"""The plugin's routes from tests: query strings, `/layer` payload decoding, a WSGI client over
TensorBoard's app on a real multiplexer, and small readers of a running TensorBoard."""

import base64
import json
import urllib.parse
import zlib

import numpy as np

BASE = "/data/plugin/tb_attention"
LOADERS = ["true", "false"]  # Rust data server, Python multiplexer


def q(**params):
    return urllib.parse.urlencode(params)


def decode_layer_response(headers, body):
    """Float32 `[heads, q, k]` of a `/layer` response (or of the shape another array route
    names), from its headers and body alone (as the panel decodes it: the content-coding, then
    dtype and scale the server names)."""
    shape = tuple(map(int, headers["X-Attention-Shape"].split(",")))
    return _weights(_content(headers, body), headers, int(np.prod(shape))).reshape(shape)


def decode_sparse_response(headers, body):
    """(shape, counts `[heads, rows]`, key indices, float32 weights) of a `/layer?form=sparse`
    response, read by its headers alone: counts, then indices, then values, each of the dtype its
    header names."""
    assert headers["X-Attention-Form"] == "sparse"
    shape = tuple(map(int, headers["X-Attention-Shape"].split(",")))
    entries = int(headers["X-Attention-Entries"])
    raw = _content(headers, body)
    names = {"uint16": "<u2", "uint32": "<u4"}
    count_dtype = np.dtype(names[headers["X-Attention-Count-Dtype"]])
    index_dtype = np.dtype(names[headers["X-Attention-Index-Dtype"]])
    counts = np.frombuffer(raw, count_dtype, shape[0] * shape[1]).reshape(shape[:2])
    at = counts.nbytes
    indices = np.frombuffer(raw, index_dtype, entries, at)
    values = _weights(raw[at + indices.nbytes :], headers, entries)
    return shape, counts, indices, values


def _content(headers, body):
    """A response's body with its content-coding undone."""
    coding = headers.get("Content-Encoding")
    assert coding in (None, "deflate", "zstd"), coding
    if coding == "deflate":
        return zlib.decompress(body)
    if coding == "zstd":  # one frame per block of heads, concatenated, as browsers take them
        import zstandard

        return zstandard.ZstdDecompressor().decompressobj().decompress(body)
    return body


def _weights(raw, headers, count):
    """Float32 of the `count` values of `raw` as the headers say (dtype, planes, table, scale)."""
    dtype = np.dtype({"uint8": "u1", "uint16": "<u2", "float16": "<f2", "float32": "<f4"}[headers["X-Attention-Dtype"]])
    assert len(raw) == count * dtype.itemsize, (len(raw), headers["X-Attention-Shape"])
    if headers.get("X-Attention-Planes"):  # groups of values, each as its low bytes then its high bytes
        group, parts = int(headers["X-Attention-Planes"]), []
        for start in range(0, count, group):
            n = min(group, count - start)
            planes = np.frombuffer(raw, np.uint8, n * dtype.itemsize, start * dtype.itemsize)
            parts.append(planes.reshape(dtype.itemsize, n).T.copy().view(dtype).reshape(n))
        values = np.concatenate(parts) if parts else np.zeros(0, dtype)
    else:
        values = np.frombuffer(raw, dtype=dtype)
    if headers.get("X-Attention-Table"):  # weight = table[value]
        values = np.frombuffer(base64.b64decode(headers["X-Attention-Table"]), "<f4")[values]
    return values.astype(np.float32) * np.float32(float(headers["X-Attention-Scale"]))


def multiplexer_provider(logdir):
    """(multiplexer, data provider) over `logdir`, loaded, keeping every attention step."""
    from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer

    from tb_attention.format import metadata

    mux = plugin_event_multiplexer.EventMultiplexer(tensor_size_guidance={metadata.PLUGIN_NAME: 0})
    mux.AddRunsFromDirectory(str(logdir))
    mux.Reload()
    return mux, data_provider.MultiplexerDataProvider(mux, str(logdir))


def wsgi_client(logdir, return_multiplexer=False):
    """A werkzeug client over TensorBoard's WSGI app with the plugin, on a real multiplexer
    (and the multiplexer, to `Reload()` after more writing, when asked)."""
    from tensorboard.backend import application
    from tensorboard.plugins import base_plugin
    from werkzeug import test as werkzeug_test

    from tb_attention.serving import plugin

    logdir = str(logdir)
    mux, provider = multiplexer_provider(logdir)
    context = base_plugin.TBContext(data_provider=provider, logdir=logdir)
    loaded = plugin.AttentionLoader().load(context)
    app = application.TensorBoardWSGI([loaded], data_provider=provider)
    client = werkzeug_test.Client(app)
    return (client, mux) if return_multiplexer else client


def client_json(client, path, status=200):
    """JSON of a WSGI client's GET of `BASE + path`, asserting its status."""
    response = client.get(BASE + path)
    assert response.status_code == status, response.get_data(as_text=True)
    return json.loads(response.get_data())


def client_layer(client, **params):
    """Float32 `[heads, q, k]` of `/layer` through a WSGI client."""
    response = client.get(BASE + "/layer?" + q(**params))
    assert response.status_code == 200, response.get_data(as_text=True)
    return decode_layer_response(response.headers, response.get_data())


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
