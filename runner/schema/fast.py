"""A small validator for the JSON Schema keywords callprofile's own schemas use.

It only answers "valid?" and is used as a fast path: when it says a document is valid, nothing
else runs; in every other case the caller asks jsonschema, which gives the exact errors. That
keeps ``jsonschema`` (about 40 ms to import) and its per-keyword overhead off the common path of
``render``, ``run`` and ``validate``. Anything it is not certain about (an unknown keyword,
numbers of mixed types in an enum) raises ``Unsure``, so the caller falls back; a property test
checks it never accepts what jsonschema rejects.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

# Keywords that only annotate: they never change whether a document is valid.
_ANNOTATIONS = frozenset(
    {
        "$schema",
        "$id",
        "$comment",
        "title",
        "description",
        "default",
        "examples",
        "writeOnly",
        "readOnly",
        "x-refused",
        "x-sensitive",
    }
)
_SCALARS = (str, bool, type(None))


class Unsure(Exception):
    """The schema or the value needs jsonschema's answer."""


@cache
def _regex(pattern: str) -> re.Pattern[str]:
    # As in schema_errors: a final '$' means the end of the text (ECMA-262), not "before a
    # final newline" (Python).
    anchored = pattern[:-1] + r"\Z" if pattern.endswith("$") else pattern
    return re.compile(anchored)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _has_type(value: Any, wanted: str) -> bool:
    if wanted == "string":
        return isinstance(value, str)
    if wanted == "object":
        return isinstance(value, dict)
    if wanted == "array":
        return isinstance(value, list)
    if wanted == "boolean":
        return isinstance(value, bool)
    if wanted == "null":
        return value is None
    if wanted == "number":
        return _is_number(value)
    if wanted == "integer":
        # As in the full validator (schema/errors.py): 3.0 is not an integer.
        return isinstance(value, int) and not isinstance(value, bool)
    raise Unsure


def _in_enum(value: Any, options: list[Any]) -> bool:
    if isinstance(value, _SCALARS):
        return any(type(o) is type(value) and o == value for o in options)
    if _is_number(value):
        if any(_is_number(o) and type(o) is not type(value) for o in options):
            raise Unsure
        return any(type(o) is type(value) and o == value for o in options)
    if any(isinstance(o, (dict, list)) for o in options):
        raise Unsure
    return False


def is_valid(schema: Any, value: Any) -> bool:
    """True when ``value`` is valid against ``schema``. Raises Unsure when it cannot tell."""
    if schema is True or schema == {}:
        return True
    if schema is False:
        return False
    if not isinstance(schema, dict):
        raise Unsure
    for keyword, arg in schema.items():
        if keyword in _ANNOTATIONS:
            continue
        if not _keyword(keyword, arg, schema, value):
            return False
    return True


def _keyword(keyword: str, arg: Any, schema: dict[str, Any], value: Any) -> bool:
    if keyword == "type":
        if isinstance(arg, list):
            return any(_has_type(value, t) for t in arg)
        return _has_type(value, arg)
    if keyword == "properties":
        if not isinstance(value, dict):
            return True
        return all(is_valid(arg[k], v) for k, v in value.items() if k in arg)
    if keyword == "additionalProperties":
        if not isinstance(value, dict):
            return True
        if "patternProperties" in schema:
            raise Unsure
        known = schema.get("properties", {})
        return all(is_valid(arg, v) for k, v in value.items() if k not in known)
    if keyword == "required":
        return not isinstance(value, dict) or all(k in value for k in arg)
    if keyword == "enum":
        return _in_enum(value, arg)
    if keyword == "pattern":
        return not isinstance(value, str) or _regex(arg).search(value) is not None
    if keyword == "maxLength":
        return not isinstance(value, str) or len(value) <= arg
    if keyword == "minLength":
        return not isinstance(value, str) or len(value) >= arg
    if keyword == "minimum":
        return not _is_number(value) or value >= arg
    if keyword == "maximum":
        return not _is_number(value) or value <= arg
    if keyword == "items":
        if not isinstance(value, list):
            return True
        if not isinstance(arg, dict):
            raise Unsure
        return all(is_valid(arg, item) for item in value)
    if keyword == "uniqueItems":
        if not arg or not isinstance(value, list):
            return True
        if not all(isinstance(item, str) for item in value):
            raise Unsure
        return len(set(value)) == len(value)
    if keyword == "propertyNames":
        return not isinstance(value, dict) or all(is_valid(arg, k) for k in value)
    if keyword == "not":
        return not is_valid(arg, value)
    if keyword == "anyOf":
        unsure = False
        for branch in arg:
            try:
                if is_valid(branch, value):
                    return True
            except Unsure:
                unsure = True
        if unsure:
            raise Unsure
        return False
    raise Unsure


def check(schema: Any, value: Any) -> bool:
    """True only when ``value`` is certainly valid; False means "ask jsonschema"."""
    try:
        return is_valid(schema, value)
    except (Unsure, RecursionError):
        return False
