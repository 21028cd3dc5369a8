"""Per-call overrides as data: values files, request fields set by the caller, the numbers, the
connection id, and variable values. None is ever a template.

The command line parses its flags into these values (``runner/cli/flags.py``); a library caller
builds them directly. Every value carries an ``origin``: how messages name where it came from
(the command line passes the flag as typed, e.g. ``--set Timeout=60``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from runner import codes
from runner.diagnostics import ProfileError
from runner.profiles.merge import Layer
from runner.profiles.source import load_file
from runner.schema import errors as schema_errors
from runner.schema import files as schemas
from runner.schema.check import check_source, values_data
from runner.schema.coerce import CoercionError, coerce_text, target_type

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

FieldPath = tuple[str, ...]


@dataclass(frozen=True)
class SetValue:
    """One request field set by the caller, already typed: ``SetValue(("Timeout",), 60)``."""

    path: FieldPath  # into the request body: ("Timeout",), ("AIAssistantDynamicVariables", "x")
    value: Any
    origin: str | None = None  # e.g. "--set Timeout=60"; default "set Timeout"

    @property
    def label(self) -> str:
        return self.origin or f"set {'.'.join(self.path)}"


@dataclass(frozen=True)
class VariableValue:
    """A value given for one of the profile's variables."""

    name: str
    value: str
    origin: str | None = None  # e.g. "--var name=..." or "vars.yaml:3:7"; default "variable NAME"

    @property
    def label(self) -> str:
        return self.origin or f"variable {self.name}"


# How messages name ``to``, ``from_`` and ``connection_id`` when the caller gives no origin.
DEFAULT_ORIGINS = {"to": "To", "from_": "From", "connection_id": "connection_id"}


@dataclass
class Overrides:
    """Everything a caller can put on top of a profile, in the order it applies: values files,
    then ``sets`` in order, then ``to``, ``from_`` and ``connection_id``. Variable values: vars
    files in order, then ``vars`` (later wins)."""

    values_files: list[str] = field(default_factory=list)
    sets: list[SetValue] = field(default_factory=list)
    to: str | None = None
    from_: str | None = None
    connection_id: str | None = None
    vars_files: list[str] = field(default_factory=list)
    vars: list[VariableValue] = field(default_factory=list)
    # How messages name to/from_/connection_id, e.g. {"to": "--to"} (see DEFAULT_ORIGINS).
    origins: dict[str, str] = field(default_factory=dict)

    def origin(self, name: str) -> str:
        return self.origins.get(name) or DEFAULT_ORIGINS[name]


class FieldError(ValueError):
    """A field path or a value that cannot set a request field. ``needs_json``: the field is a
    list or a mapping, which text cannot give."""

    def __init__(self, message: str, *, needs_json: bool = False):
        super().__init__(message)
        self.message = message
        self.needs_json = needs_json


def field_path(name: str) -> FieldPath:
    """``name`` ("Timeout", "AIAssistantDynamicVariables.x") as a path into the request body.
    Raises FieldError for a field the endpoint does not have or refuses."""
    parts = tuple(name.split("."))
    fields = schemas.request_fields()
    if parts[0] not in fields:
        refused = schemas.request_schema()["properties"].get(parts[0], {}).get("x-refused")
        if refused:
            raise FieldError(refused)
        raise FieldError(
            f"unknown field {parts[0]!r}{schema_errors.did_you_mean(parts[0], fields)}"
        )
    if any(not p for p in parts):
        raise FieldError(f"{name!r} is not a field path (FIELD or FIELD.key)")
    return parts


def typed_value(path: FieldPath, text: str) -> Any:
    """``text`` as the type the request schema wants at ``path``. Raises FieldError."""
    name = ".".join(path)
    if schemas.sub_schema(schemas.request_schema(), path) is None:
        raise FieldError(f"{name!r} is not a field of the request")
    wanted = target_type(path)
    if wanted in ("array", "object"):
        kind = "a list" if wanted == "array" else "a mapping"
        raise FieldError(f"{name} is {kind}", needs_json=True)
    try:
        return coerce_text(text, wanted)
    except CoercionError as exc:
        raise FieldError(f"{name} wants {wanted}: {exc}") from None


MAX_JSON_DIGITS = 20  # an integer literal longer than this fits no field (Telnyx uses int32)


class _JsonRefused(ValueError):
    pass


def _json_int(text: str) -> int:
    digits = text.lstrip("-")
    if len(digits) > MAX_JSON_DIGITS:
        raise _JsonRefused(
            f"an integer of {len(digits)} digits is out of range for every field "
            f"(at most {MAX_JSON_DIGITS} digits)"
        )
    return int(text)


def _json_float(text: str) -> float:
    import math

    value = float(text)
    if not math.isfinite(value) or len(text) > 64:
        raise _JsonRefused(f"the number {text[:30]} is out of range")
    return value


def _json_constant(name: str) -> None:
    raise _JsonRefused(f"{name} is not a number JSON allows")


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _JsonRefused(f"the key {key!r} is given twice")
        out[key] = value
    return out


def json_value(text: str) -> Any:
    """``text`` read as strict JSON: no NaN or Infinity, no out-of-range numbers, no repeated
    keys. Integers stay integers (``10``); ``1e1`` is a number the schema then judges (an
    integer field refuses it). Raises FieldError."""
    try:
        return json.loads(
            text,
            parse_int=_json_int,
            parse_float=_json_float,
            parse_constant=_json_constant,
            object_pairs_hook=_json_object,
        )
    except _JsonRefused as exc:
        raise FieldError(f"value is not usable JSON: {exc}") from None
    except json.JSONDecodeError as exc:
        raise FieldError(f"value is not valid JSON ({exc.msg})") from None
    except ValueError as exc:
        raise FieldError(f"value is not usable JSON ({exc})") from None
    except RecursionError:
        raise FieldError("value is not usable JSON (nested too deeply)") from None


def _nest(parts: FieldPath, value: Any) -> dict[str, Any]:
    out: Any = value
    for part in reversed(parts):
        out = {part: out}
    return out


def set_layer(item: SetValue) -> Layer:
    return Layer(item.label, {"call": _nest(item.path, item.value)}, kind="flag")


def values_layer(path: str) -> Layer:
    """A values file (``-f``), read and checked (it may hold only connection_id and call)."""
    source = load_file(path)
    problems = check_source(source, values_file=True)
    if any(p.severity == "error" for p in problems):
        raise ProfileError(problems)
    return Layer(source.file, values_data(dict(source.data)), kind="file", source=source)


def layers(overrides: Overrides) -> list[Layer]:
    """The override layers, lowest first (after the profile's own). Each values file is read
    once, here."""
    out = [values_layer(path) for path in overrides.values_files]
    out.extend(set_layer(item) for item in overrides.sets)
    for name, key, value in (("to", "To", overrides.to), ("from_", "From", overrides.from_)):
        if value is not None:
            out.append(Layer(overrides.origin(name), {"call": {key: value}}, kind="flag"))
    if overrides.connection_id is not None:
        out.append(
            Layer(
                overrides.origin("connection_id"),
                {"connection_id": overrides.connection_id},
                kind="flag",
            )
        )
    return out


def variable_values(overrides: Overrides) -> dict[str, VariableValue]:
    """Values given for variables, later sources winning: vars files in order, then ``vars``."""
    found: dict[str, VariableValue] = {}
    for path in overrides.vars_files:
        source = load_file(path)
        if source.data is None:
            continue
        if not isinstance(source.data, dict):
            raise ProfileError(
                [source.diag((), "a vars file must be a mapping", codes.NOT_MAPPING)]
            )
        for name, value in source.data.items():
            span = source.spans.get((name,))
            if isinstance(value, (dict, list)):
                message = f"variable {name!r} must be text, not a list/mapping"
                raise ProfileError([source.diag((name,), message, codes.BAD_OVERRIDE)])
            if value is None:
                continue
            # Variables are text: keep what was written, so `amount: 12.50` stays "12.50".
            text = span.plain_text if span is not None and span.plain_text else str(value)
            where = f"{source.file}:{span.line}:{span.col}" if span else source.file
            found[name] = VariableValue(name, text, where)
    for item in overrides.vars:
        found[item.name] = item
    return found
