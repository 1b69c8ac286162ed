"""HTTP plumbing shared by every route: responses, query parameters, error codes."""

import json

import numpy as np
from tensorboard import errors as tb_errors
from werkzeug import wrappers

from tb_attention.format.errors import FormatError
from tb_attention.format.metadata import MAX_STEP
from tb_attention.serving.errors import BadRequest
from tb_attention.storage.errors import NotFound

_READ_METHODS = ("GET", "HEAD")


def response(body, status=200, content_type="application/json", headers=None):
    out = wrappers.Response(body, status=status, content_type=content_type)
    # Browsers must not sniff a JSON or binary answer into HTML; TensorBoard's own security
    # validator asks every plugin response for this header.
    out.headers["X-Content-Type-Options"] = "nosniff"
    for name, value in (headers or {}).items():
        out.headers[name] = value
    return out


def _finite(obj):
    """`obj` with every NaN/inf float as None: JSON has no such numbers."""
    if isinstance(obj, float):
        return obj if np.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def json_body(obj):
    """Compact JSON text of `obj`; NaN/inf become null."""
    try:
        return json.dumps(obj, separators=(",", ":"), allow_nan=False)
    except ValueError:
        # A wall time of NaN or inf (any tool can write one into an event file) must not turn
        # a listing into a 500; the slower cleaning pass runs only when needed.
        return json.dumps(_finite(obj), separators=(",", ":"), allow_nan=False)


def json_response(obj, status=200):
    return response(json_body(obj), status=status)


def error(status, message):
    return json_response({"error": message}, status=status)


def method_not_allowed():
    """Every route only reads; anything else is refused before it touches the data provider."""
    out = error(405, "only GET is supported")
    out.headers["Allow"] = "GET, HEAD"
    return out


def string_arg(request, name):
    value = request.args.get(name)
    if value is None:
        raise BadRequest("missing query parameter %r" % name)
    return value


def int_arg(request, name, maximum=MAX_STEP):
    raw = string_arg(request, name)
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        raise BadRequest("query parameter %r must be a non-negative integer, got %r" % (name, raw[:40]))
    value = int(raw)
    if value > maximum:
        raise BadRequest("query parameter %r is out of range: %d" % (name, value))
    return value


def route(handler):
    """A WSGI app of `handler(request) -> Response`: bad parameters -> 400, missing data -> 404,
    unreadable data -> 422, other methods -> 405; nothing a request does gives a 500."""

    def wrapped(request):
        if request.method not in _READ_METHODS:
            return method_not_allowed()
        try:
            return handler(request)
        except BadRequest as e:
            return error(400, str(e))
        except (NotFound, tb_errors.NotFoundError) as e:
            return error(404, str(e))
        except FormatError as e:
            return error(422, "stored attention record cannot be read: %s" % e)
        except tb_errors.PublicError as e:
            return error(e.http_code if 400 <= e.http_code < 500 else 400, str(e))

    wrapped.__name__ = getattr(handler, "__name__", "route")
    wrapped.__doc__ = handler.__doc__
    return wrappers.Request.application(wrapped)


def int_list_arg(request, name, maximum=2**31):
    """A comma-separated list of non-negative ints, or None when the parameter is absent."""
    raw = request.args.get(name)
    if raw is None:
        return None
    items = raw.split(",") if raw else []
    if not items or len(items) > 4096 or not all(i.isascii() and i.isdigit() and len(i) <= 10 for i in items):
        raise BadRequest("query parameter %r must be a comma-separated list of non-negative integers" % name)
    values = [int(i) for i in items]
    if max(values) > maximum:
        raise BadRequest("query parameter %r is out of range" % name)
    return values


def accepts_encoding(request, coding):
    """Whether the client takes `coding` as a Content-Encoding (RFC 9110 Accept-Encoding)."""
    for part in request.headers.get("Accept-Encoding", "").split(","):
        name, _, params = part.strip().partition(";")
        if name.strip().lower() == coding:
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False
