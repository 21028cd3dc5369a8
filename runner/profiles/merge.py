"""Merge layers of profile data, recording which layer set every value.

Rules (docs/guide/overrides.md, "How values merge"): mappings merge key by key, recursively; lists
and scalars replace; an explicit ``null`` removes the key. A value of a different kind replaces the
old one whole (a mapping replaced by a scalar leaves nothing of the mapping, and the reverse).
Inputs are never mutated.
"""

from __future__ import annotations

from runner.profiles.source import Source
from runner.record import Record
from runner.treewalk import DESCEND, DROP, leaves, rebuild

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any, Literal

Path = tuple[str | int, ...]


class Layer(Record):
    """One source of values: a file, or a command-line flag. Each layer is itself: equal only
    to itself (provenance tells layers apart even when two hold the same values)."""

    __slots__ = ("data", "kind", "label", "source")
    label: str
    data: dict[str, Any]
    kind: Literal["file", "flag"]
    source: Source | None

    def __init__(
        self,
        label: str,
        data: dict[str, Any],
        kind: Literal["file", "flag"] = "file",
        source: Source | None = None,
    ) -> None:
        self._set(label=label, data=data, kind=kind, source=source)

    __eq__ = object.__eq__
    __hash__ = object.__hash__

    @property
    def is_template(self) -> bool:
        """Strings from files are templates; values from flags and rows are data."""
        return self.kind == "file"

    def where(self, path: Path) -> str:
        if self.source is not None:
            span = self.source.span(path)
            if span is not None:
                exact = tuple(path) in self.source.spans
                line, col = span.line, span.col
                if not exact and span.key_line is not None:
                    line, col = span.key_line, span.key_col or 1
                return f"{self.source.file}:{line}:{col}"
            return self.source.file
        return self.label

    def position(self, path: Path) -> tuple[str, int | None, int | None]:
        if self.source is None:
            return (self.label, None, None)
        span = self.source.span(path)
        if span is None:
            return (self.source.file, None, None)
        return (self.source.file, span.line, span.col)


Provenance = dict[Path, list[Layer]]


def strip_nulls(value: Any) -> Any:
    """A copy of ``value`` whose mappings have no null-valued keys (null means "absent");
    a null inside a list stays (a list replaces whole)."""

    return rebuild(value, _drop_null_keys)


def _drop_null_keys(path: Path, node: Any) -> Any:
    # Mapping keys are text; list positions are ints. Only a mapping's null means "absent".
    if node is None and path and isinstance(path[-1], str):
        return DROP
    return DESCEND


def merge(base: dict[str, Any], layer: Layer, provenance: Provenance) -> dict[str, Any]:
    """``base`` with ``layer`` applied on top. Updates ``provenance`` in place."""
    return _merge(base, layer.data, layer, (), provenance)


def place(
    document: dict[str, Any], path: tuple[str, str], layer: Layer, provenance: Provenance
) -> dict[str, Any]:
    """``merge(document, layer, provenance)`` for a layer that sets one text value at a
    two-part ``path`` (a call's ``("call", "To")``): the same result, without walking."""
    top, key = path
    value = layer.data.get(top, {}).get(key)
    parent = document.get(top)
    if not (isinstance(value, str) and isinstance(parent, dict)) or isinstance(
        parent.get(key), dict
    ):
        return merge(document, layer, provenance)
    # The value replaced is a leaf (not a mapping): its provenance is this one entry.
    previous = provenance.pop(path, [])
    out = dict(document)
    out[top] = {**parent, key: value}
    provenance[path] = [*previous, layer]
    return out


def _merge(
    base: dict[str, Any], over: dict[str, Any], layer: Layer, path: Path, prov: Provenance
) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        here = (*path, key)
        if value is None:
            _forget(prov, here, out.pop(key, None))
            continue
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value, layer, here, prov)
            continue
        previous = _forget(prov, here, out.get(key))
        out[key] = strip_nulls(value)
        _record(out[key], layer, here, prov, previous)
    return out


def _forget(prov: Provenance, path: Path, old: Any) -> list[Layer]:
    """Drop the provenance of ``path`` and everything under it; return the layers it had.

    Provenance is recorded only at leaves (a non-mapping or an empty mapping), so the entries under
    ``path`` are exactly the leaves of the value being replaced: walking that value keeps the cost
    proportional to what is replaced, not to everything merged so far.
    """
    if not isinstance(old, dict):
        # One leaf (the common case): its list as it is. It holds no layer twice (each merge
        # adds its own layer once, and lists of several leaves are joined without repeats), so
        # it needs no pass over every layer that set this value before.
        return prov.pop(path, [])
    dropped: list[Layer] = []
    for known, _ in leaves(old, path, lists=False):
        dropped.extend(prov.pop(known, ()))
    return _unique(dropped)


def _unique(layers: list[Layer]) -> list[Layer]:
    """``layers`` without repeats, first occurrence kept. A set of identities, not ``in`` on
    the list: a value overridden by each of L layers would otherwise cost L^2 per merge."""
    if len(set(map(id, layers))) == len(layers):  # the usual case, checked at C speed
        return layers
    seen: set[int] = set()
    out: list[Layer] = []
    for layer in layers:
        if id(layer) not in seen:
            seen.add(id(layer))
            out.append(layer)
    return out


def _record(value: Any, layer: Layer, path: Path, prov: Provenance, previous: list[Layer]) -> None:
    for known, _ in leaves(value, path, lists=False):
        prov[known] = [*previous, layer]


def origin_of(prov: Provenance, path: Path) -> tuple[Layer, Path] | None:
    """The layer that set the value at ``path`` (or the nearest enclosing recorded value)."""
    probe = tuple(path)
    while probe:
        layers = prov.get(probe)
        if layers:
            return layers[-1], tuple(path)
        probe = probe[:-1]
    # A mapping has no entry of its own; its first recorded descendant tells where it was set.
    for known, layers in prov.items():
        if known[: len(path)] == tuple(path) and layers:
            return layers[-1], tuple(path)
    return None
