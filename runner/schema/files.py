"""Find, load and walk the JSON Schemas shipped with callprofile.

In a wheel the schemas are copied into the package (``runner/_schemas``); in a source checkout or an
editable install they are read from the top-level ``schemas/`` directory, so editors, other
repositories and the package all use one copy.
"""

from __future__ import annotations

import json
from functools import cache, lru_cache
from pathlib import Path

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

REQUEST = "ai-call-request.schema.json"
PROFILE = "profile.schema.json"

_PACKAGE_DIR = Path(__file__).resolve().parent.parent


def schemas_dir() -> Path:
    for candidate in (_PACKAGE_DIR / "_schemas", _PACKAGE_DIR.parent / "schemas"):
        if (candidate / REQUEST).is_file():
            return candidate
    raise FileNotFoundError(
        f"callprofile's schemas are missing (looked in {_PACKAGE_DIR / '_schemas'} and "
        f"{_PACKAGE_DIR.parent / 'schemas'}); reinstall the package"
    )


def schema_text(name: str) -> str:
    return (schemas_dir() / name).read_text(encoding="utf-8")


@cache
def load(name: str) -> dict[str, Any]:
    return json.loads(schema_text(name))


def request_schema() -> dict[str, Any]:
    return load(REQUEST)


def request_fields() -> list[str]:
    """Every field the endpoint accepts, in the schema's order (refused fields excluded)."""
    props = request_schema()["properties"]
    return [name for name, sub in props.items() if "x-refused" not in sub]


def sub_schema(schema: dict[str, Any], path: tuple[str | int, ...]) -> dict[str, Any] | None:
    """The schema that applies at ``path`` inside an instance of ``schema``, or None if unknown."""
    node: dict[str, Any] | None = schema
    for part in path:
        if node is None:
            return None
        if isinstance(part, int):
            items = node.get("items")
            node = items if isinstance(items, dict) else None
            continue
        props = node.get("properties", {})
        if part in props:
            node = props[part]
        elif isinstance(node.get("additionalProperties"), dict):
            node = node["additionalProperties"]
        else:
            return None
    return node


def schema_type(schema: dict[str, Any] | None) -> str | None:
    """The JSON type a schema node wants: 'string', 'integer', ... ('string' for string enums)."""
    if schema is None:
        return None
    declared = schema.get("type")
    if isinstance(declared, str):
        return declared
    enum = schema.get("enum")
    if enum and all(isinstance(v, str) for v in enum):
        return "string"
    return None


@lru_cache(maxsize=4096)
def is_sensitive(path: tuple[str | int, ...]) -> bool:
    """True when the request schema marks the field at ``path`` (or an ancestor) sensitive.
    Cached: a batch asks about the same few paths for every row."""
    node: dict[str, Any] | None = request_schema()
    for part in path:
        node = sub_schema(node, (part,)) if node is not None else None
        if node is not None and node.get("x-sensitive"):
            return True
    return False


@cache
def sensitive_fields() -> frozenset[str]:
    """The request fields that are, or may contain, a sensitive value."""
    return frozenset(f for f in request_schema()["properties"] if holds_sensitive(f))


@cache
def holds_sensitive(field: str) -> bool:
    """True when the request field ``field`` is, or may contain, a sensitive value."""
    node = request_schema()["properties"].get(field)
    if node is None:
        return is_sensitive((field,))
    return "x-sensitive" in json.dumps(node) or is_sensitive((field,))
