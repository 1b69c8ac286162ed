"""The TensorBoard plugin: HTTP routes over attention records (docs/http_api.md) and the panel."""

import importlib.resources
import json
import logging

import numpy as np
from werkzeug import wrappers

from tensorboard import context as tb_context
from tensorboard import errors as tb_errors
from tensorboard import plugin_util
from tensorboard.plugins import base_plugin

from tb_attention import codec, metadata
from tb_attention.store import AttentionStore, NotFound

logger = logging.getLogger(__name__)

MAX_STEP = 2**63 - 1
_STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


class BadRequest(ValueError):
    """A request parameter that is missing or malformed (HTTP 400)."""


def _response(body, status=200, content_type="application/json"):
    response = wrappers.Response(body, status=status, content_type=content_type)
    # Browsers must not sniff a JSON or binary answer into HTML; TensorBoard's own security
    # validator asks every plugin response for this header.
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _finite(obj):
    """`obj` with every NaN/inf float as None: JSON has no such numbers."""
    if isinstance(obj, float):
        return obj if np.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def _json(obj, status=200):
    try:
        body = json.dumps(obj, separators=(",", ":"), allow_nan=False)
    except ValueError:
        # A wall time of NaN or inf (any tool can write one into an event file) must not turn
        # a listing into a 500; the slower cleaning pass runs only when needed.
        body = json.dumps(_finite(obj), separators=(",", ":"), allow_nan=False)
    return _response(body, status=status)


def _error(status, message):
    return _json({"error": message}, status=status)


_READ_METHODS = ("GET", "HEAD")


def _method_not_allowed():
    """Every route only reads; anything else is refused before it touches the data provider."""
    response = _error(405, "only GET is supported")
    response.headers["Allow"] = "GET, HEAD"
    return response


def _string_arg(request, name):
    value = request.args.get(name)
    if value is None:
        raise BadRequest("missing query parameter %r" % name)
    return value


def _int_arg(request, name, maximum=MAX_STEP):
    raw = _string_arg(request, name)
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        raise BadRequest("query parameter %r must be a non-negative integer, got %r" % (name, raw[:40]))
    value = int(raw)
    if value > maximum:
        raise BadRequest("query parameter %r is out of range: %d" % (name, value))
    return value


def _route(handler):
    """Wrap a handler: bad parameters -> 400, missing data -> 404, unreadable data -> 422."""

    def wrapped(self, request):
        if request.method not in _READ_METHODS:
            return _method_not_allowed()
        try:
            return handler(self, request)
        except BadRequest as e:
            return _error(400, str(e))
        except (NotFound, tb_errors.NotFoundError) as e:
            return _error(404, str(e))
        except codec.FormatError as e:
            return _error(422, "stored attention record cannot be read: %s" % e)
        except tb_errors.PublicError as e:
            return _error(e.http_code if 400 <= e.http_code < 500 else 400, str(e))

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrappers.Request.application(wrapped)


def _frontend_files():
    """`{relative name: Traversable}` of the shipped panel files; nothing else is ever served."""
    root = importlib.resources.files("tb_attention.frontend")
    files = {}

    def walk(node, prefix):
        for child in node.iterdir():
            name = prefix + child.name
            if child.is_dir():
                walk(child, name + "/")
            elif child.name.endswith(tuple(_STATIC_TYPES)):
                files[name] = child

    if root.is_dir():
        walk(root, "")
    return files


class AttentionPlugin(base_plugin.TBPlugin):
    plugin_name = metadata.PLUGIN_NAME

    def __init__(self, context):
        self._store = AttentionStore(context.data_provider)
        self._files = _frontend_files()

    def get_plugin_apps(self):
        return {
            "/index.js": self._serve_index,
            "/static/*": self._serve_static,
            "/tags": self._serve_tags,
            "/steps": self._serve_steps,
            "/layer": self._serve_layer,
            "/patterns": self._serve_patterns,
            "/change": self._serve_change,
        }

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
            return _error(404, "no such file: %r" % name[:100])
        ext = "." + name.rsplit(".", 1)[-1]
        response = _response(node.read_bytes(), content_type=_STATIC_TYPES[ext])
        response.headers["Cache-Control"] = "no-cache"
        return response

    @wrappers.Request.application
    def _serve_index(self, request):
        if request.method not in _READ_METHODS:
            return _method_not_allowed()
        return self._static_response("index.js")

    @wrappers.Request.application
    def _serve_static(self, request):
        if request.method not in _READ_METHODS:
            return _method_not_allowed()
        prefix = "/data/plugin/%s/static/" % metadata.PLUGIN_NAME
        path = request.path
        name = path[path.find(prefix) + len(prefix):] if prefix in path else ""
        return self._static_response(name)

    # -- data ----------------------------------------------------------------------------------

    def _ctx(self, request):
        return tb_context.from_environ(request.environ), plugin_util.experiment_id(request.environ)

    def _step(self, request, run_arg="run", tag_arg="tag", step_arg="step"):
        ctx, eid = self._ctx(request)
        run, tag = _string_arg(request, run_arg), _string_arg(request, tag_arg)
        step = _int_arg(request, step_arg)
        return ctx, self._store.find_step(ctx, eid, run, tag, step)

    @_route
    def _serve_tags(self, request):
        """Runs and their attention tags."""
        ctx, eid = self._ctx(request)
        runs = {
            run: {
                tag: {
                    "max_step": series.max_step,
                    "max_wall_time": series.max_wall_time,
                    "display_name": series.display_name or tag,
                }
                for tag, series in tags.items()
            }
            for run, tags in self._store.tags(ctx, eid).items()
        }
        return _json({"runs": runs})

    @_route
    def _serve_steps(self, request):
        """Every step of a (run, tag) with tokens, shape and precision."""
        ctx, eid = self._ctx(request)
        run, tag = _string_arg(request, "run"), _string_arg(request, "tag")
        steps = []
        for s in self._store.steps(ctx, eid, run, tag):
            try:
                header = self._store.header(ctx, s)
            except codec.FormatError as e:
                logger.warning("skipping unreadable attention record %s/%s@%d: %s", run, tag, s.step, e)
                continue
            steps.append(
                {
                    "step": s.step,
                    "wall_time": s.wall_time,
                    "shape": header["shape"],
                    "precision": header["precision"],
                    "tokens": header["tokens"],
                    "key_tokens": header.get("key_tokens"),
                    "sentence_b_start": header.get("sentence_b_start"),
                    "has_patterns": bool(header.get("patterns")),
                }
            )
        return _json({"run": run, "tag": tag, "steps": steps})

    @_route
    def _serve_layer(self, request):
        """One layer of one step: the stored zlib-compressed array, as is."""
        ctx, step = self._step(request)
        layer = _int_arg(request, "layer", maximum=2**31)
        header = self._store.header(ctx, step)
        blob = self._store.layer_blob(ctx, step, layer)
        codec.inflate_layer(blob, header)  # 422 rather than a 200 the panel cannot decode
        _, heads, q, k = header["shape"]
        response = _response(blob, content_type="application/octet-stream")
        response.headers["X-Attention-Shape"] = "%d,%d,%d" % (heads, q, k)
        response.headers["X-Attention-Precision"] = header["precision"]
        response.headers["X-Attention-Compression"] = codec.COMPRESSION
        response.headers["Cache-Control"] = "private, max-age=60"
        return response

    @_route
    def _serve_patterns(self, request):
        """Head-pattern scores of every step of a (run, tag)."""
        ctx, eid = self._ctx(request)
        run, tag = _string_arg(request, "run"), _string_arg(request, "tag")
        steps, scores = [], []
        for s in self._store.steps(ctx, eid, run, tag):
            try:
                header = self._store.header(ctx, s)
            except codec.FormatError:
                continue
            steps.append(s.step)
            scores.append(header.get("patterns"))
        return _json({"run": run, "tag": tag, "steps": steps, "scores": scores})

    @_route
    def _serve_change(self, request):
        """Per-head Jensen-Shannon divergence between two steps (optionally of another run/tag)."""
        from tb_attention import patterns

        ctx, step_a = self._step(request, "run", "tag", "step_a")
        run_b = request.args.get("run_b", request.args.get("run"))
        tag_b = request.args.get("tag_b", request.args.get("tag"))
        eid = plugin_util.experiment_id(request.environ)
        step_b = self._store.find_step(ctx, eid, run_b, tag_b, _int_arg(request, "step_b"))
        header_a, header_b = self._store.header(ctx, step_a), self._store.header(ctx, step_b)
        if header_a["shape"] != header_b["shape"]:
            raise BadRequest(
                "the two records differ in shape (%s vs %s): compare records of the same input"
                % (header_a["shape"], header_b["shape"])
            )
        # One layer at a time: two whole long records in float32 could take gigabytes.
        js = np.concatenate(
            [
                patterns.head_change(self._store.layer(ctx, step_a, l)[None], self._store.layer(ctx, step_b, l)[None])
                for l in range(header_a["shape"][0])
            ]
        ).round(6)
        order = np.argsort(-js, axis=None)
        ranking = [
            {"layer": int(i // js.shape[1]), "head": int(i % js.shape[1]), "js": float(js.flat[i])}
            for i in order
        ]
        return _json(
            {
                "js": js.tolist(),
                "layer_mean": js.mean(axis=1).round(6).tolist(),
                "ranking": ranking,
                "same_tokens": header_a["tokens"] == header_b["tokens"]
                and header_a.get("key_tokens") == header_b.get("key_tokens"),
            }
        )


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
                flags.samples_per_plugin = ",".join(
                    p for p in (samples, metadata.PLUGIN_NAME + "=0") if p
                )

    def load(self, context):
        return AttentionPlugin(context)
