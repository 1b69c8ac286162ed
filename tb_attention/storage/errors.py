"""Errors of reading logged attention (the server maps each to one HTTP status)."""


class NotFound(LookupError):
    """A run, tag, step, kind or layer that is not in the logdir (HTTP 404)."""
