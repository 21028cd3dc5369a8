"""The one walk over nested mappings and lists (profile documents, request bodies, records).

Two shapes cover every use: ``leaves`` reads (secret collection, template collection, flattening
for diffs, provenance), ``rebuild`` copies while deciding node by node (redaction, null
stripping, masking). Paths are tuples of keys and list indexes, as everywhere in callprofile.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

Path = tuple[str | int, ...]

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

    Visit = Callable[[Path, Any], Any]


class _Mark:
    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name


DESCEND = _Mark("DESCEND")  # rebuild: keep this node, visiting what is inside it
DROP = _Mark("DROP")  # rebuild: leave this node out of its mapping or list


def leaves(value: Any, path: Path = (), *, lists: bool = True) -> Iterator[tuple[Path, Any]]:
    """Every leaf under ``value`` as ``(path, leaf)``, depth first in order. Mappings are always
    entered; lists too unless ``lists`` is false (then a list is one value, as when merging).
    An empty mapping or list is a leaf."""
    if isinstance(value, dict) and value:
        for key, child in value.items():
            yield from leaves(child, (*path, key), lists=lists)
    elif lists and isinstance(value, list) and value:
        for index, child in enumerate(value):
            yield from leaves(child, (*path, index), lists=lists)
    else:
        yield path, value


def rebuild(value: Any, visit: Visit, path: Path = ()) -> Any:
    """A copy of ``value`` in which ``visit(path, node)`` decides every node: ``DESCEND`` keeps
    it (a container is copied with its children visited), ``DROP`` leaves it out of its parent,
    anything else replaces it whole. The input is never changed."""
    decided = visit(path, value)
    if decided is not DESCEND:
        return decided
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for key, child in value.items():
            kept = rebuild(child, visit, (*path, key))
            if kept is not DROP:
                out[key] = kept
        return out
    if isinstance(value, list):
        items = (rebuild(child, visit, (*path, i)) for i, child in enumerate(value))
        return [item for item in items if item is not DROP]
    return value
