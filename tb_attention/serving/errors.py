"""Errors of answering a request (the HTTP layer maps each to one status; storage's `NotFound`
is 404, the format's `FormatError` 422)."""


class BadRequest(ValueError):
    """A request that cannot be answered as asked: a missing or malformed parameter, or two
    records that cannot be compared (HTTP 400)."""
