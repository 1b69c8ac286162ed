"""The one error of the record format."""


class FormatError(ValueError):
    """A stored record that this version cannot decode (the server answers 422)."""
