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


def _flag_error(flag: str, message: str) -> ProfileError:
    return ProfileError([Diagnostic(message, CODE_FLAG, origin=flag)])


def _split(flag: str, text: str) -> tuple[str, str]:
    name, eq, value = text.partition("=")
    if not eq or not name:
        raise _flag_error(f"{flag} {text}", f"{flag} takes NAME=VALUE, got {text!r}")
    return name.strip(), value


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
    parts = _field_path(flag, f"{flag} {text}", name)
    sensitive = schemas.is_sensitive(parts)
    label = f"{flag} {name}=***" if sensitive else f"{flag} {text}"
    if kind == "set-json":
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise _flag_error(label, f"value is not valid JSON ({exc.msg})") from None
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
