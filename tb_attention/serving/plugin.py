"""The TensorBoard plugin: thin HTTP routes over `queries` (docs/http_api.md), and the panel."""

import zlib

from tensorboard import context as tb_context
from tensorboard import plugin_util
from tensorboard.plugins import base_plugin

from tb_attention.format import metadata
from tb_attention.format.payload import compress
from tb_attention.serving import http, memory, static
from tb_attention.serving.queries import AttentionQueries
from tb_attention.storage.rundirs import RunDirectories
from tb_attention.storage.store import AttentionStore


def _context(request):
    return tb_context.from_environ(request.environ), plugin_util.experiment_id(request.environ)


# Each data route: the query (an AttentionQueries method) and how its arguments come from the
# request; the query's answer is the response.


def _no_args(request):
    return ()


def _run_tag(request):
    return http.string_arg(request, "run"), http.string_arg(request, "tag")


def _kind(request):
    return request.args.get("kind") or None


def _run_tag_kind(request):
    return _run_tag(request) + (_kind(request),)


def _step_args(request):
    return _run_tag(request) + (http.int_arg(request, "step"),)


def _thumbnail_args(request):
    return _step_args(request) + (_kind(request),)


def _optional_int(request, name):
    return None if request.args.get(name) is None else http.int_arg(request, name, maximum=2**31)


def _layer_args(request):
    return _step_args(request) + (
        http.int_arg(request, "layer", maximum=2**31),
        _kind(request),
        http.int_list_arg(request, "heads"),
        request.args.get("form"),
        request.args.get("reduce"),
        _optional_int(request, "q_start"),
        _optional_int(request, "q_end"),
    )


def _change_args(request):
    run, tag = _run_tag(request)
    a = (run, tag, http.int_arg(request, "step_a"))
    b = (request.args.get("run_b", run), request.args.get("tag_b", tag), http.int_arg(request, "step_b"))
    return a, b, _kind(request)


def _rollout_args(request):
    return _step_args(request) + (_kind(request), _optional_int(request, "layer"))


def _relevance_args(request):
    return _run_tag(request) + (
        http.int_arg(request, "query", maximum=2**31),
        _optional_int(request, "layer"),
        _kind(request),
        request.args.get("method"),
    )


def _formed_args(request):
    steps = [None if request.args.get(n) is None else http.int_arg(request, n) for n in ("step_a", "step_b")]
    return _run_tag_kind(request) + tuple(steps)


# Below this many bytes an array is sent as it is: compressing it would not pay.
_COMPRESS_MIN_BYTES = 1024


def _array_response(request, payload):
    """An array route's answer: stored bytes with their content-coding when the client takes it;
    else the raw bytes, compressed with a coding it takes (zstd, then deflate) when that pays."""
    headers = {
        "X-Attention-Shape": ",".join(str(n) for n in payload.shape),
        "X-Attention-Dtype": payload.dtype,
        "X-Attention-Scale": repr(payload.scale),
        "Cache-Control": "private, max-age=60",
        "Vary": "Accept-Encoding",
    }
    if payload.precision:
        headers["X-Attention-Precision"] = payload.precision
    if payload.encoded and http.accepts_encoding(request, payload.encoded[0]):
        coding, body = payload.encoded
    else:
        body, coding = payload.raw(), None
        if len(body) >= _COMPRESS_MIN_BYTES and http.accepts_encoding(request, "zstd"):
            body, coding = compress(body), "zstd"
        elif len(body) >= _COMPRESS_MIN_BYTES and http.accepts_encoding(request, "deflate"):
            body, coding = zlib.compress(body, 1), "deflate"
    if coding:
        headers["Content-Encoding"] = coding
    return http.response(body, content_type="application/octet-stream", headers=headers)


def _json_response(request, answer):
    return http.json_response(answer)


# route: (query, arguments from the request, response from the request and the answer)
DATA_ROUTES = {
    "/tags": ("tags", _no_args, _json_response),
    "/steps": ("steps", _run_tag, _json_response),
    "/layer": ("layer", _layer_args, _array_response),
    "/thumbnails": ("thumbnails", _thumbnail_args, _array_response),
    "/patterns": ("patterns", _run_tag_kind, _json_response),
    "/change": ("change", _change_args, _json_response),
    "/rollout": ("rollout", _rollout_args, _array_response),
    "/relevance": ("relevance", _relevance_args, _json_response),
    "/formed": ("formed", _formed_args, _json_response),
}


class AttentionPlugin(base_plugin.TBPlugin):
    plugin_name = metadata.PLUGIN_NAME

    def __init__(self, context):
        self._queries = AttentionQueries(AttentionStore(context.data_provider, RunDirectories.from_context(context)))
        self._files = static.frontend_files()

    def get_plugin_apps(self):
        apps = {"/index.js": http.route(self._serve_index), "/static/*": http.route(self._serve_static)}
        for path, (name, parse, respond) in DATA_ROUTES.items():
            apps[path] = http.route(self._data_handler(getattr(self._queries, name), parse, respond))
        return apps

    @staticmethod
    def _data_handler(query, parse, respond):
        def handle(request):
            ctx, eid = _context(request)
            return respond(request, query(ctx, eid, *parse(request)))

        handle.__name__ = query.__name__
        return handle

    def is_active(self):
        return False  # activity comes from data_plugin_names, as for TensorBoard's own plugins

    def data_plugin_names(self):
        return (metadata.PLUGIN_NAME,)

    def frontend_metadata(self):
        return base_plugin.FrontendMetadata(es_module_path="/index.js", tab_name="Attention")

    # -- static files --------------------------------------------------------------------------

    def _static_response(self, name):
        node = self._files.get(name)
        if node is None:
            return http.error(404, "no such file: %r" % name[:100])
        return http.response(
            node.read_bytes(), content_type=static.content_type(name), headers={"Cache-Control": "no-cache"}
        )

    def _serve_index(self, request):
        return self._static_response("index.js")

    def _serve_static(self, request):
        prefix = "/data/plugin/%s/static/" % metadata.PLUGIN_NAME
        path = request.path
        return self._static_response(path[path.find(prefix) + len(prefix) :] if prefix in path else "")


class AttentionLoader(base_plugin.TBLoader):
    """Loads the plugin and makes TensorBoard keep every attention step, not a sample of 10."""

    def fix_flags(self, flags):
        # Our event file sorts before SummaryWriter's, and TensorBoard's Python loader follows only
        # a run's last-named file unless --reload_multifile: without it, attention logged after
        # TensorBoard started would never show up next to scalars. An explicit value still wins.
        if getattr(flags, "reload_multifile", False) is None:
            flags.reload_multifile = True
        samples = getattr(flags, "samples_per_plugin", None)
        if isinstance(samples, dict):
            # An explicit --samples_per_plugin=tb_attention=N from the user still wins.
            samples.setdefault(metadata.PLUGIN_NAME, 0)
        elif isinstance(samples, str):
            if metadata.PLUGIN_NAME + "=" not in samples:
                flags.samples_per_plugin = ",".join(p for p in (samples, metadata.PLUGIN_NAME + "=0") if p)

    def load(self, context):
        memory.return_large_buffers()  # TensorBoard's RSS falls back after a burst of requests
        return AttentionPlugin(context)
