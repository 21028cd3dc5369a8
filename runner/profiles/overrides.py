"""Per-call overrides: values files, ``--set``/``--set-json``, ``--to``/``--from``/
``--connection-id``, and variable values (``--vars-file``, ``--var``). Each becomes data;
none is ever a template.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from runner import codes
from runner.diagnostics import Diagnostic, ProfileError
from runner.profiles.merge import Layer
from runner.profiles.source import load_file
from runner.schema import errors as schema_errors
from runner.schema import files as schemas
from runner.schema.check import check_source
from runner.schema.coerce import CoercionError, coerce_text, target_type

CODE_FLAG = codes.BAD_OVERRIDE
CODE_NUMBER = codes.NUMBER_OUT_OF_RANGE

SetKind = Literal["set", "set-json"]


@dataclass
class Overrides:
    """Everything a caller can put on top of a profile, in the order it applies."""

    values_files: list[str] = field(default_factory=list)
    sets: list[tuple[SetKind, str]] = field(default_factory=list)  # ("set", "Timeout=60")
    to: str | None = None
    from_: str | None = None
    connection_id: str | None = None
    vars_files: list[str] = field(default_factory=list)
    vars: list[str] = field(default_factory=list)  # "NAME=VALUE"


def _flag_error(flag: str, message: str, code: str = CODE_FLAG) -> ProfileError:
    return ProfileError([Diagnostic(message, code, origin=flag)])


def _split(flag: str, text: str) -> tuple[str, str]:
    name, eq, value = text.partition("=")
    if not eq or not name:
        shown = _short(text)
        raise _flag_error(f"{flag} {shown}", f"{flag} takes NAME=VALUE, got {shown!r}")
    return name.strip(), value


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def flag_label(flag: str, name: str, raw: str) -> str:
    """How a --set/--set-json flag is named in messages and provenance. The value is shown only
    for a known field that is not secret: a typo in a secret field's name must not echo the
    secret, and a huge value is shortened."""
    parts = tuple(name.split("."))
    known = parts[0] in schemas.request_fields() and all(parts)
    if not known or schemas.is_sensitive(parts):
        return f"{flag} {name}=***"
    return f"{flag} {name}={_short(raw)}"


def _field_path(flag: str, label: str, name: str) -> tuple[str, ...]:
    parts = tuple(name.split("."))
    fields = schemas.request_fields()
    if parts[0] not in fields:
        refused = schemas.request_schema()["properties"].get(parts[0], {}).get("x-refused")
        if refused:
            raise _flag_error(label, refused)
        raise _flag_error(
            label,
            f"unknown field {parts[0]!r}{schema_errors.did_you_mean(parts[0], fields)}",
        )
    if any(not p for p in parts):
        raise _flag_error(label, f"{name!r} is not a field path (FIELD or FIELD.key)")
    return parts


def _nest(parts: tuple[str, ...], value: Any) -> dict[str, Any]:
    out: Any = value
    for part in reversed(parts):
        out = {part: out}
    return out


def set_layer(kind: SetKind, text: str) -> Layer:
    flag = f"--{kind}"
    name, raw = _split(flag, text)
    label = flag_label(flag, name, raw)
    parts = _field_path(flag, label, name)
    if kind == "set-json":
        value = parse_json_value(raw, label)
    else:
        wanted = target_type(parts)
        sub = schemas.sub_schema(schemas.request_schema(), parts)
        if sub is None:
            raise _flag_error(label, f"{name!r} is not a field of the request")
        if wanted in ("array", "object"):
            raise _flag_error(
                label, f"{name} is {'a list' if wanted == 'array' else 'a mapping'}; use --set-json"
            )
        try:
            value = coerce_text(raw, wanted)
        except CoercionError as exc:
            raise _flag_error(label, f"{name} wants {wanted}: {exc}") from None
    return Layer(label, {"call": _nest(parts, value)}, kind="flag")


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


def parse_json_value(raw: str, label: str) -> Any:
    """``raw`` as strict JSON: no NaN or Infinity, no out-of-range numbers, no repeated keys.
    Integers stay integers (``10``), and ``1e1`` stays a number the schema then judges."""
    try:
        return json.loads(
            raw,
            parse_int=_json_int,
            parse_float=_json_float,
            parse_constant=_json_constant,
            object_pairs_hook=_json_object,
        )
    except _JsonRefused as exc:
        raise _flag_error(label, str(exc), CODE_NUMBER) from None
    except json.JSONDecodeError as exc:
        raise _flag_error(label, f"value is not valid JSON ({exc.msg})") from None
    except (ValueError, RecursionError) as exc:
        raise _flag_error(label, f"value is not valid JSON ({type(exc).__name__})") from None


def layers(overrides: Overrides) -> list[Layer]:
    """The override layers, lowest first (after the profile's own)."""
    out: list[Layer] = []
    for path in overrides.values_files:
        source = load_file(path)
        problems = check_source(source, values_file=True)
        if any(p.severity == "error" for p in problems):
            raise ProfileError(problems)
        out.append(Layer(source.file, dict(source.data), kind="file", source=source))
    for kind, text in overrides.sets:
        out.append(set_layer(kind, text))
    for flag, key, value in (
        ("--to", "To", overrides.to),
        ("--from", "From", overrides.from_),
    ):
        if value is not None:
            out.append(Layer(flag, {"call": {key: value}}, kind="flag"))
    if overrides.connection_id is not None:
        out.append(
            Layer("--connection-id", {"connection_id": overrides.connection_id}, kind="flag")
        )
    return out


@dataclass
class VariableValue:
    value: str
    origin: str  # "--var NAME=..." or "vars.yaml:3:7"


def variable_values(overrides: Overrides) -> dict[str, VariableValue]:
    """Values given for variables, later sources winning: vars files in order, then --var."""
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
                raise ProfileError(
                    [
                        source.diag(
                            (name,),
                            f"variable {name!r} must be text, not a list/mapping",
                            CODE_FLAG,
                        )
                    ]
                )
            if value is None:
                continue
            # Variables are text: keep what was written, so `amount: 12.50` stays "12.50".
            text = span.plain_text if span is not None and span.plain_text else str(value)
            where = f"{source.file}:{span.line}:{span.col}" if span else source.file
            found[name] = VariableValue(text, where)
    for item in overrides.vars:
        name, value = _split("--var", item)
        found[name] = VariableValue(value, f"--var {name}=...")
    return found
