"""The TensorBoard plugin: thin HTTP routes (docs/http_api.md), each parsing one typed request
(`requests`) and handing it to its answer (`answers`, `analysis_answers`), and the panel."""

import base64
import zlib

from tensorboard import context as tb_context
from tensorboard import plugin_util
from tensorboard.plugins import base_plugin

from tb_attention.format import metadata
from tb_attention.format.payload import compress
from tb_attention.serving import http, memory, requests, static
from tb_attention.serving.analysis_answers import AnalysisAnswers
from tb_attention.serving.answers import ANSWER_CACHE_BYTES, Answers
from tb_attention.storage.cache import LRU
from tb_attention.storage.rundirs import RunDirectories
from tb_attention.storage.store import AttentionStore


def _context(request):
    return tb_context.from_environ(request.environ), plugin_util.experiment_id(request.environ)


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
    if payload.table is not None:  # weight = table[value] x scale: float32 little-endian, base64
        headers["X-Attention-Table"] = base64.b64encode(payload.table.astype("<f4").tobytes()).decode("ascii")
    if payload.planes:  # the values' bytes in planes (low bytes, then high bytes) per group of this many
        headers["X-Attention-Planes"] = str(payload.planes)
    headers.update(payload.layout or {})
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


def data_routes(answers, analysis):
    """route: (its request type, the answer method that takes it, the response of the answer).
    Every answer method is called as `method(ctx, experiment_id, request)`."""
    return {
        "/tags": (requests.TagsRequest, answers.tags, _json_response),
        "/steps": (requests.StepsRequest, answers.steps, _json_response),
        "/layer": (requests.LayerRequest, answers.layer, _array_response),
        "/thumbnails": (requests.StepRequest, answers.thumbnails, _array_response),
        "/tile": (requests.TileRequest, answers.tile, _array_response),
        "/qk": (requests.QKRequest, answers.qk, _json_response),
        "/patterns": (requests.SeriesRequest, analysis.patterns, _json_response),
        "/change": (requests.ChangeRequest, analysis.change, _json_response),
        "/rollout": (requests.RolloutRequest, analysis.rollout, _array_response),
        "/relevance": (requests.RelevanceRequest, analysis.relevance, _json_response),
        "/formed": (requests.FormedRequest, analysis.formed, _json_response),
        "/importance": (requests.ImportanceRequest, analysis.importance, _json_response),
    }


class AttentionPlugin(base_plugin.TBPlugin):
    plugin_name = metadata.PLUGIN_NAME

    def __init__(self, context):
        store = AttentionStore(context.data_provider, RunDirectories.from_context(context))
        cache = LRU(1024, ANSWER_CACHE_BYTES)  # (route, records...) -> answer
        self._routes = data_routes(Answers(store, cache), AnalysisAnswers(store, cache))
        self._files = static.frontend_files()

    def get_plugin_apps(self):
        apps = {"/index.js": http.route(self._serve_index), "/static/*": http.route(self._serve_static)}
        for path, (request_type, answer, respond) in self._routes.items():
            apps[path] = http.route(self._data_handler(request_type, answer, respond))
        return apps

    @staticmethod
    def _data_handler(request_type, answer, respond):
        def handle(request):
            ctx, eid = _context(request)
            return respond(request, answer(ctx, eid, requests.parse(request_type, request)))

        handle.__name__ = answer.__name__
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
