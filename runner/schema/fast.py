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
from collections.abc import Callable
from functools import cache

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

    Check = Callable[[Any], bool]

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


# One JSON type: the common case, checked without a loop (the same answers as _has_type).
_TYPE_CHECKS: dict[str, Check] = {
    "string": lambda value: isinstance(value, str),
    "object": lambda value: isinstance(value, dict),
    "array": lambda value: isinstance(value, list),
    "boolean": lambda value: isinstance(value, bool),
    "null": lambda value: value is None,
    "number": _is_number,
    "integer": lambda value: _has_type(value, "integer"),
}


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


_compiled: dict[int, tuple[Any, Check]] = {}
_MAX_COMPILED = 4096


def is_valid(schema: Any, value: Any) -> bool:
    """True when ``value`` is valid against ``schema``. Raises Unsure when it cannot tell."""
    return compiled(schema)(value)


def compiled(schema: Any) -> Check:
    """``schema`` turned once into a function of the value (a batch checks every row against
    the same schema). Kept by identity for as long as the schema object lives here."""
    found = _compiled.get(id(schema))
    if found is not None and found[0] is schema:
        return found[1]
    check_value = _compile(schema)
    if len(_compiled) >= _MAX_COMPILED:
        _compiled.clear()
    _compiled[id(schema)] = (schema, check_value)
    return check_value


def _always(value: Any) -> bool:
    return True


def _never(value: Any) -> bool:
    return False


def _unsure(value: Any) -> bool:
    raise Unsure


def _compile(schema: Any) -> Check:
    if schema is True or schema == {}:
        return _always
    if schema is False:
        return _never
    if not isinstance(schema, dict):
        return _unsure
    checks = [
        _keyword(keyword, arg, schema)
        for keyword, arg in schema.items()
        if keyword not in _ANNOTATIONS
    ]
    if not checks:
        return _always
    combined = checks[0]
    for check_one in checks[1:]:
        combined = _both(combined, check_one)
    return combined


def _both(first: Check, second: Check) -> Check:
    return lambda value: first(value) and second(value)


def _keyword(keyword: str, arg: Any, schema: dict[str, Any]) -> Check:
    """The check for one keyword; each says True for values of the kinds it does not judge."""
    if keyword == "type":
        if isinstance(arg, str) and arg in _TYPE_CHECKS:
            return _TYPE_CHECKS[arg]
        wanted = arg if isinstance(arg, list) else [arg]
        return lambda value: any(_has_type(value, t) for t in wanted)
    if keyword == "properties":
        props = {name: compiled(sub) for name, sub in arg.items()}

        def properties(value: Any) -> bool:
            if isinstance(value, dict):
                for name, item in value.items():
                    sub = props.get(name)
                    if sub is not None and not sub(item):
                        return False
            return True

        return properties
    if keyword == "additionalProperties":
        if "patternProperties" in schema:
            return lambda value: isinstance(value, dict) and _unsure(value)
        extra = compiled(arg)
        known = schema.get("properties", {})

        def additional(value: Any) -> bool:
            if isinstance(value, dict):
                for name, item in value.items():
                    if name not in known and not extra(item):
                        return False
            return True

        return additional
    if keyword == "required":
        return lambda value: not isinstance(value, dict) or all(k in value for k in arg)
    if keyword == "enum":
        return lambda value: _in_enum(value, arg)
    if keyword == "pattern":
        search = _regex(arg).search
        return lambda value: not isinstance(value, str) or search(value) is not None
    if keyword == "maxLength":
        return lambda value: not isinstance(value, str) or len(value) <= arg
    if keyword == "minLength":
        return lambda value: not isinstance(value, str) or len(value) >= arg
    if keyword == "minimum":
        return lambda value: not _is_number(value) or value >= arg
    if keyword == "maximum":
        return lambda value: not _is_number(value) or value <= arg
    if keyword == "items":
        if not isinstance(arg, dict):
            return lambda value: not isinstance(value, list) or _unsure(value)
        item_check = compiled(arg)
        return lambda value: not isinstance(value, list) or all(item_check(i) for i in value)
    if keyword == "uniqueItems":
        if not arg:
            return _always
        return _unique
    if keyword == "propertyNames":
        name_check = compiled(arg)
        return lambda value: not isinstance(value, dict) or all(name_check(k) for k in value)
    if keyword == "not":
        inner = compiled(arg)
        return lambda value: not inner(value)
    if keyword == "anyOf":
        return _any_of([compiled(branch) for branch in arg])
    return _unsure


def _unique(value: Any) -> bool:
    if not isinstance(value, list):
        return True
    if not all(isinstance(item, str) for item in value):
        raise Unsure
    return len(set(value)) == len(value)


def _any_of(branches: list[Check]) -> Check:
    def any_of(value: Any) -> bool:
        unsure = False
        for branch in branches:
            try:
                if branch(value):
                    return True
            except Unsure:
                unsure = True
        if unsure:
            raise Unsure
        return False

    return any_of


def check(schema: Any, value: Any) -> bool:
    """True only when ``value`` is certainly valid; False means "ask jsonschema"."""
    try:
        return is_valid(schema, value)
    except (Unsure, RecursionError):
        return False


_OBJECT_KEYWORDS = frozenset({"type", "properties", "required", "additionalProperties"})
_IMMUTABLE = (str, int, float, bool, type(None))
_MISSING = object()
_plans: dict[int, tuple[Any, tuple[tuple[str, ...], dict[str, Check], Check] | None]] = {}


def _object_plan(schema: Any) -> tuple[tuple[str, ...], dict[str, Check], Check] | None:
    """(required fields, each property's check, the check for other fields) for a plain object
    schema, else None."""
    found = _plans.get(id(schema))
    if found is not None and found[0] is schema:
        return found[1]
    plan = None
    if (
        isinstance(schema, dict)
        and schema.get("type") == "object"
        and set(schema) - _ANNOTATIONS <= _OBJECT_KEYWORDS
    ):
        properties = schema.get("properties", {})
        plan = (
            tuple(schema.get("required", ())),
            {name: compiled(sub) for name, sub in properties.items()},
            compiled(schema.get("additionalProperties", True)),
        )
    if len(_plans) >= _MAX_COMPILED:
        _plans.clear()
    _plans[id(schema)] = (schema, plan)
    return plan


def field_checks(schema: Any) -> tuple[tuple[str, ...], Callable[[str], Check]] | None:
    """For a plain object schema: its required fields, and the check of each field by name
    (``check_fields`` is: every required field present, each field's check true; a check may
    raise Unsure). None for another kind of schema."""
    plan = _object_plan(schema)
    if plan is None:
        return None
    required, properties, extra = plan
    return required, lambda name: properties.get(name, extra)


def check_fields(schema: Any, value: Any, known: dict[str, Any]) -> bool:
    """``check(schema, value)`` for an object schema, remembering valid fields in ``known``:
    a field whose value *is* the text or number already found valid there (the same
    immutable object, as in every call of one composed profile) is not checked again.
    Containers are always checked: they could have changed since."""
    plan = _object_plan(schema)
    if plan is None or not isinstance(value, dict):
        return check(schema, value)
    required, properties, extra = plan
    if any(field not in value for field in required):
        return False
    try:
        for field, item in value.items():
            if known.get(field, _MISSING) is item:
                continue
            if not properties.get(field, extra)(item):
                return False
            if isinstance(item, _IMMUTABLE):
                known[field] = item
    except (Unsure, RecursionError):
        return False
    return True
