"""The errors a query can raise, each mapped to one HTTP status by `http.route`."""


class BadRequest(ValueError):
    """A request that cannot be answered as asked: a missing or malformed parameter, or two
    records that cannot be compared (HTTP 400)."""


class NotFound(LookupError):
    """A run, tag, step or layer that is not in the logdir (HTTP 404)."""
