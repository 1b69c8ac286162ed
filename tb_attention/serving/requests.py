"""What each data route is asked (docs/http_api.md), as one typed, frozen request object per
route. A field is read from the query parameter of its own name (`parse`), never by position,
and a value the route cannot take is refused when the object is made (BadRequest, HTTP 400)."""

import dataclasses
from typing import Optional, Tuple

from tb_attention.serving import http
from tb_attention.serving.errors import BadRequest

INDEX_MAX = 2**31  # layers, heads, query rows and positions
METHODS = ("rollout", "flow")  # of /relevance


def _text(request, name):
    return http.string_arg(request, name)


def _kind(request, name):
    return request.args.get(name) or None  # "kind=" is the record's first kind, as no kind


def _raw(request, name):
    return request.args.get(name)


def _step(request, name):
    return http.int_arg(request, name)


def _index(request, name):
    return http.int_arg(request, name, maximum=INDEX_MAX)


def _optional_step(request, name):
    return None if request.args.get(name) is None else _step(request, name)


def _optional_index(request, name):
    return None if request.args.get(name) is None else _index(request, name)


def _index_list(request, name):
    values = http.int_list_arg(request, name, maximum=INDEX_MAX)
    return None if values is None else tuple(values)


def _param(parse, default=dataclasses.MISSING):
    """A request field read from the query parameter of its name by `parse(request, name)`."""
    return dataclasses.field(default=default, metadata={"parse": parse})


def parse(request_class, request):
    """A `request_class` object from a werkzeug request: each field from its own parameter."""
    return request_class(**{f.name: f.metadata["parse"](request, f.name) for f in dataclasses.fields(request_class)})


def _check_choice(name, value, choices):
    if value is not None and value not in choices:
        raise BadRequest("%s must be %s, got %r" % (name, " or ".join(choices), value[:40]))


@dataclasses.dataclass(frozen=True)
class TagsRequest:
    """/tags: every run and its attention tags."""


@dataclasses.dataclass(frozen=True)
class StepsRequest:
    """/steps: every step of one (run, tag)."""

    run: str = _param(_text)
    tag: str = _param(_text)


@dataclasses.dataclass(frozen=True)
class LayerRequest:
    """/layer: one layer of one step, the given heads (default all), whole or as query rows
    [q_start, q_end), as stored, their mean (`reduce="mean"`), the weight each sparse row kept
    (`form="kept"`) or the entries each sparse row kept (`form="sparse"`)."""

    run: str = _param(_text)
    tag: str = _param(_text)
    step: int = _param(_step)
    layer: int = _param(_index)
    kind: Optional[str] = _param(_kind, None)
    heads: Optional[Tuple[int, ...]] = _param(_index_list, None)
    form: Optional[str] = _param(_raw, None)  # "dense" (default), "kept" or "sparse"
    reduce: Optional[str] = _param(_raw, None)  # "mean"
    q_start: Optional[int] = _param(_optional_index, None)
    q_end: Optional[int] = _param(_optional_index, None)

    def __post_init__(self):
        _check_choice("reduce", self.reduce, ("mean",))
        _check_choice("form", self.form, ("dense", "kept", "sparse"))
        if self.form == "sparse" and self.reduce:
            raise BadRequest("form=sparse sends each head's kept entries: it takes no reduce (ask reduce=mean alone)")


@dataclasses.dataclass(frozen=True)
class StepRequest:
    """One step of one (run, tag), as one kind (/thumbnails: every head of every layer of it,
    max-pooled)."""

    run: str = _param(_text)
    tag: str = _param(_text)
    step: int = _param(_step)
    kind: Optional[str] = _param(_kind, None)


@dataclasses.dataclass(frozen=True)
class RolloutRequest(StepRequest):
    """/rollout: attention rollout of one step up to each layer, or only up to `layer`."""

    layer: Optional[int] = _param(_optional_index, None)


@dataclasses.dataclass(frozen=True)
class SeriesRequest:
    """/patterns: every step of one (run, tag), as one kind."""

    run: str = _param(_text)
    tag: str = _param(_text)
    kind: Optional[str] = _param(_kind, None)


@dataclasses.dataclass(frozen=True)
class ImportanceRequest:
    """/importance: every step of a run's head-importance tag `tag` (default: its first), the rows
    of attention `kind` (default: self-attention, or an encoder-decoder model's encoder)."""

    run: str = _param(_text)
    tag: Optional[str] = _param(_raw, None)
    kind: Optional[str] = _param(_kind, None)


@dataclasses.dataclass(frozen=True)
class StepKey:
    """One logged step: (run, tag, step)."""

    run: str
    tag: str
    step: int


@dataclasses.dataclass(frozen=True)
class ChangeRequest:
    """/change: record A is (run, tag, step_a), record B (run_b, tag_b, step_b), where run_b and
    tag_b default to run and tag."""

    run: str = _param(_text)
    tag: str = _param(_text)
    step_a: int = _param(_step)
    step_b: int = _param(_step)
    run_b: Optional[str] = _param(_raw, None)
    tag_b: Optional[str] = _param(_raw, None)
    kind: Optional[str] = _param(_kind, None)

    @property
    def a(self):
        """The step of record A."""
        return StepKey(run=self.run, tag=self.tag, step=self.step_a)

    @property
    def b(self):
        """The step of record B."""
        return StepKey(
            run=self.run if self.run_b is None else self.run_b,
            tag=self.tag if self.tag_b is None else self.tag_b,
            step=self.step_b,
        )


@dataclasses.dataclass(frozen=True)
class RelevanceRequest:
    """/relevance: for every step of one (run, tag), what position `query` after `layer`
    (default the last) draws on each input token, by `method`."""

    run: str = _param(_text)
    tag: str = _param(_text)
    query: int = _param(_index)
    kind: Optional[str] = _param(_kind, None)
    layer: Optional[int] = _param(_optional_index, None)
    method: str = _param(lambda request, name: request.args.get(name) or METHODS[0], METHODS[0])

    def __post_init__(self):
        _check_choice("method", self.method, METHODS)


@dataclasses.dataclass(frozen=True)
class FormedRequest:
    """/formed: the heads that crossed a threshold between steps step_a and step_b (default the
    first and last logged)."""

    run: str = _param(_text)
    tag: str = _param(_text)
    kind: Optional[str] = _param(_kind, None)
    step_a: Optional[int] = _param(_optional_step, None)
    step_b: Optional[int] = _param(_optional_step, None)

    def __post_init__(self):
        if self.step_a is not None and self.step_b is not None and self.step_a > self.step_b:
            raise BadRequest("step_a=%d is after step_b=%d" % (self.step_a, self.step_b))


MAX_TILE_CELLS = 1 << 20  # cells per head of one /tile answer (1024 x 1024)
MAX_TILE_HEADS = 64


@dataclasses.dataclass(frozen=True)
class TileRequest:
    """/tile: the max-pooled cells of `factor` (a power of two) over query rows [q_start, q_end) x
    keys [k_start, k_end) of one layer, for the given heads (default all) or their mean."""

    run: str = _param(_text)
    tag: str = _param(_text)
    step: int = _param(_step)
    layer: int = _param(_index)
    q_start: int = _param(_index)
    q_end: int = _param(_index)
    k_start: int = _param(_index)
    k_end: int = _param(_index)
    factor: int = _param(lambda request, name: 1 if request.args.get(name) is None else _index(request, name), 1)
    kind: Optional[str] = _param(_kind, None)
    heads: Optional[Tuple[int, ...]] = _param(_index_list, None)
    reduce: Optional[str] = _param(_raw, None)  # "mean"

    def __post_init__(self):
        _check_choice("reduce", self.reduce, ("mean",))
        if self.factor < 1 or self.factor & (self.factor - 1):
            raise BadRequest("factor must be a power of two, got %d" % self.factor)
        if self.q_start >= self.q_end or self.k_start >= self.k_end:
            raise BadRequest("a tile needs q_start < q_end and k_start < k_end")
        cells = -(-(self.q_end - self.q_start) // self.factor) * -(-(self.k_end - self.k_start) // self.factor)
        if cells > MAX_TILE_CELLS:
            raise BadRequest("a tile holds at most %d cells per head; ask for a coarser factor" % MAX_TILE_CELLS)
        if self.heads is not None and len(self.heads) > MAX_TILE_HEADS:
            raise BadRequest("a tile reads at most %d heads" % MAX_TILE_HEADS)


@dataclasses.dataclass(frozen=True)
class QKRequest:
    """/qk: one head's query `query` against every key, from the stored queries and keys of one
    layer of one step (and of step_b, of run_b when given, to compare)."""

    run: str = _param(_text)
    tag: str = _param(_text)
    step: int = _param(_step)
    layer: int = _param(_index)
    head: int = _param(_index)
    query: int = _param(_index)
    kind: Optional[str] = _param(_kind, None)
    step_b: Optional[int] = _param(_optional_step, None)
    run_b: Optional[str] = _param(_raw, None)
