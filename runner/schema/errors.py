"""Turn jsonschema errors into short, specific problems with a path.

Positions are not known here: the caller maps each problem's path to a file position (profile
files) or to the layer that set the value (the final request).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import cache

from runner import codes
from runner.record import Record
from runner.schema import files as schemas

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

    from jsonschema import ValidationError
    from jsonschema.protocols import Validator

Path = tuple[str | int, ...]

# Older names of the codes below, kept for modules written against them (the sandbox).
CODE_UNKNOWN = codes.UNKNOWN_FIELD
CODE_REFUSED = codes.REFUSED_FIELD

_JSON_TYPES = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
    type(None): "null",
}


def json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


class Problem(Record):
    """One schema violation at a path, in callprofile's words."""

    __slots__ = ("at_key", "code", "expected_type", "message", "missing", "path")
    path: Path
    message: str
    code: str
    at_key: bool
    # The JSON type the schema wanted, when the problem is a type mismatch.
    expected_type: str | None
    missing: str | None  # the required field that is absent, for "missing" problems

    def __init__(
        self,
        path: Path,
        message: str,
        code: str = codes.SCHEMA,
        at_key: bool = False,
        expected_type: str | None = None,
        missing: str | None = None,
    ) -> None:
        self._set(
            path=path,
            message=message,
            code=code,
            at_key=at_key,
            expected_type=expected_type,
            missing=missing,
        )


@cache
def _validator_class() -> type[Validator]:
    # Both shipped schemas are draft-07 (editors support it best).
    import jsonschema

    base = jsonschema.Draft7Validator
    # JSON Schema counts 10.0 as an integer; Telnyx's integer fields want the integer itself,
    # and a float sent as 10.0 (from --set-json 1e1 or YAML 10.0) is not what the profile meant.
    strict = base.TYPE_CHECKER.redefine(
        "integer", lambda checker, value: isinstance(value, int) and not isinstance(value, bool)
    )
    return jsonschema.validators.extend(
        base, {"pattern": _pattern_end_anchored}, type_checker=strict
    )


@cache
def validator(name: str) -> Validator:
    return _validator_class()(schemas.load(name))


def _pattern_end_anchored(validator: Any, pattern: str, instance: Any, schema: Any) -> Any:
    """``pattern`` as editors (ECMA-262) read it: ``$`` is the end of the text. Python's ``$``
    also matches before a final newline, which would let ``"+13125550100\n"`` through."""
    import re

    import jsonschema

    if not validator.is_type(instance, "string"):
        return
    anchored = pattern[:-1] + r"\Z" if pattern.endswith("$") else pattern
    if re.search(anchored, instance):
        return
    yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


def suggest(word: str, choices: list[str]) -> str | None:
    """The closest choice to ``word``, case-insensitively, or None when nothing is close."""
    lowered = {c.lower(): c for c in choices}
    import difflib  # only when a suggestion is needed: ~1 ms to import

    hit = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.75)
    return lowered[hit[0]] if hit else None


def did_you_mean(word: str, choices: list[str]) -> str:
    hit = suggest(word, choices)
    return f"; did you mean {hit!r}?" if hit else ""


def problems(
    schema_name: str,
    instance: Any,
    prefix: Path = (),
    hide: Callable[[Path], bool] | None = None,
    known: dict[str, Any] | None = None,
) -> list[Problem]:
    """Every schema problem in ``instance``. Values at paths where ``hide`` is true are shown
    as ``***`` so a secret never reaches a message. ``known``: fields already found valid,
    shared by calls of one composed profile (see ``fast.check_fields``)."""
    from runner.schema import fast as fastschema

    # Valid documents are the common case: answer them without importing jsonschema.
    schema = schemas.load(schema_name)
    if known is not None:
        if fastschema.check_fields(schema, instance, known):
            return []
    elif fastschema.check(schema, instance):
        return []
    found: list[Problem] = []
    top = "the profile" if schema_name == schemas.PROFILE else "the request"
    for error in validator(schema_name).iter_errors(instance):
        found.extend(_translate(error, prefix, hide or _never, top))
    return found


def _never(path: Path) -> bool:
    return False


def _translate(
    error: ValidationError, prefix: Path, hide: Callable[[Path], bool], top: str = "the request"
) -> Iterator[Problem]:
    """``top`` names the document the schema describes, for keys unknown at its top level."""
    path: Path = prefix + tuple(error.absolute_path)

    def show(value: Any) -> str:
        return "***" if hide(path) else _short(value)

    kind = error.validator
    # jsonschema types these loosely (a schema may be a bool); ours are always mappings.
    schema: Any = error.schema
    instance: Any = error.instance
    schema_path = list(error.relative_schema_path)
    if len(schema_path) >= 2 and schema_path[-2] == "propertyNames":
        # jsonschema reports a bad key as a failure of the propertyNames sub-schema against the
        # key itself ("'to' should not be valid under {...}"); say what is wrong with the name.
        yield Problem(
            (*path, instance) if isinstance(instance, str) else path,
            f"invalid name {show(instance)}: {_property_name_reason(schema)}",
            at_key=True,
        )
        return
    if kind == "additionalProperties" and isinstance(instance, dict):
        known = list(schema.get("properties", {}))
        for key in instance:
            if key in known:
                continue
            hint = did_you_mean(key, known)
            if not path:
                where = top
            elif path[-1] == "call" and len(path) == 1:
                where = "the request"
            else:
                where = f"'{path[-1]}'"
            yield Problem(
                (*path, key),
                f"unknown field {key!r} in {where}{hint}"
                + (
                    ""
                    if hint or path[:1] == ("campaign",)
                    else " (Telnyx would silently ignore it)"
                ),
                codes.UNKNOWN_FIELD,
                at_key=True,
            )
        return
    if kind == "not" and isinstance(schema, dict) and "x-refused" in schema:
        yield Problem(path, str(schema["x-refused"]), codes.REFUSED_FIELD, at_key=True)
        return
    if kind == "anyOf":
        branches = schema.get("anyOf", [])
        # Profile fields are "the API's type, or a template, or null": report against the API's.
        if len(branches) == 3 and branches[2] == {"type": "null"} and "pattern" in branches[1]:
            sub = _validator_class()(branches[0])
            for inner in sub.iter_errors(instance):
                yield from _translate(inner, path, hide, top)
            return
        # When exactly one branch takes a value of this JSON type, its errors are the useful
        # ones: `extends: ["../x"]` is a bad name in a list, not "expected a string".
        fitting = [i for i, b in enumerate(branches) if _type_fits(b, instance)]
        if len(fitting) == 1:
            inner_errors = [e for e in error.context if e.relative_schema_path[0] == fitting[0]]
            if inner_errors:
                for inner in inner_errors:
                    yield from _translate(inner, prefix, hide, top)
                return
        import jsonschema

        best = jsonschema.exceptions.best_match(error.context)
        if best is not None:
            yield from _translate(best, prefix, hide, top)
            return
    if kind == "type":
        wanted = schema.get("type")
        wanted_text = " or ".join(wanted) if isinstance(wanted, list) else str(wanted)
        yield Problem(
            path,
            f"expected {_article(wanted_text)}, got {json_type(instance)} {show(instance)}",
            expected_type=wanted if isinstance(wanted, str) else None,
        )
        return
    if kind == "enum":
        options = schema.get("enum", [])
        text_options = [o for o in options if isinstance(o, str)]
        hint = did_you_mean(instance, text_options) if isinstance(instance, str) else ""
        yield Problem(
            path,
            f"{show(instance)} is not one of "
            f"{', '.join('null' if o is None else str(o) for o in options)}{hint}",
            expected_type="string" if text_options and not isinstance(instance, str) else None,
        )
        return
    if kind == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        yield Problem(path, f"missing required field {missing!r}", missing=missing)
        return
    if kind == "pattern":
        yield Problem(path, f"{show(instance)} {_pattern_reason(path, schema)}")
        return
    if kind in ("minimum", "maximum"):
        lo, hi = schema.get("minimum"), schema.get("maximum")
        if lo is not None and hi is not None:
            bounds = f"between {lo} and {hi}"
        elif lo is not None:
            bounds = f"at least {lo}"
        else:
            bounds = f"at most {hi}"
        yield Problem(path, f"{show(instance)} is out of range: must be {bounds}")
        return
    if kind == "maxLength":
        yield Problem(path, f"is {len(instance)} characters long; at most {error.validator_value}")
        return
    yield Problem(path, f"invalid value ({kind})" if hide(path) else error.message)


def _type_fits(branch: Any, instance: Any) -> bool:
    declared = branch.get("type") if isinstance(branch, dict) else None
    if declared is None:
        return False
    wanted = [declared] if isinstance(declared, str) else list(declared)
    actual = json_type(instance)
    return actual in wanted or (actual == "integer" and "number" in wanted)


def _property_name_reason(names: dict[str, Any]) -> str:
    reserved = names.get("not", {}).get("enum")
    text = "names start with a letter or '_' and hold letters, digits and '_'"
    if reserved:
        text += f"; {', '.join(reserved)} are reserved by the template context"
    return text


def _pattern_reason(path: Path, schema: dict[str, Any]) -> str:
    field = next((p for p in reversed(path) if isinstance(p, str)), "")
    if field in ("From", "To"):
        return "is not an E.164 number: '+', the country code and up to 15 digits in all"
    if field in ("StatusCallbackEvent", "RecordingStatusCallbackEvent"):
        return f"is not a space-separated list of allowed events ({_tokens(schema)})"
    if field == "CallerId":
        return "may hold only letters, digits, spaces and -_~!.+ (at most 128 characters)"
    if field in ("start", "end") and "hours" in path:
        return 'is not a 24-hour time like "09:00" (quote it)'
    if field == "after" and "retry" in path:
        return "is not a duration like 90s, 30m, 2h or 1d (a whole number and one unit)"
    if field == "quiet_days":
        return "is not a date like 2026-12-25"
    if schema.get("pattern", "").startswith("^[a-z0-9]"):
        return "is not a valid profile name ([a-z0-9._-] segments joined by '/')"
    return f"does not match {schema.get('pattern')!r}"


def _tokens(schema: dict[str, Any]) -> str:
    pattern = schema.get("pattern", "")
    start, end = pattern.find("("), pattern.find(")")
    return pattern[start + 1 : end].replace("|", " ") if 0 <= start < end else pattern


def _article(type_name: str) -> str:
    return ("an " if type_name[:1] in "aeiou" else "a ") + type_name


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
