"""``--set``, ``--set-json`` and ``--var`` parsed into typed values at the command line's edge.

The core receives ``SetValue``/``VariableValue`` data, never flag text. Each value keeps its flag
as its origin (``--set Timeout=60``; a secret field's value shown as ``***``), so messages about
it name what the user typed. Pure functions: no click here, so tests and other front ends can
use them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from runner import codes
from runner.diagnostics import Diagnostic, ProfileError
from runner.profiles.overrides import (
    FieldError,
    SetValue,
    VariableValue,
    field_path,
    json_value,
    typed_value,
)
from runner.schema import files as schemas

SetKind = Literal["set", "set-json"]


def flag_error(origin: str, message: str) -> ProfileError:
    return ProfileError([Diagnostic(message, codes.BAD_OVERRIDE, origin=origin)])


def split(flag: str, text: str) -> tuple[str, str]:
    """``NAME=VALUE`` -> (NAME, VALUE)."""
    name, eq, value = text.partition("=")
    if not eq or not name:
        raise flag_error(f"{flag} {text}", f"{flag} takes NAME=VALUE, got {text!r}")
    return name.strip(), value


def parse_set(kind: SetKind, text: str) -> SetValue:
    """``--set FIELD=VALUE`` (typed by the request schema) or ``--set-json FIELD=JSON``."""
    flag = f"--{kind}"
    name, raw = split(flag, text)
    try:
        path = field_path(name)
    except FieldError as exc:
        raise flag_error(f"{flag} {text}", exc.message) from None
    label = f"{flag} {name}=***" if schemas.is_sensitive(path) else f"{flag} {text}"
    try:
        value = json_value(raw) if kind == "set-json" else typed_value(path, raw)
    except FieldError as exc:
        message = f"{exc.message}; use --set-json" if exc.needs_json else exc.message
        raise flag_error(label, message) from None
    return SetValue(path, value, label)


def parse_sets(items: Iterable[tuple[SetKind, str]]) -> list[SetValue]:
    return [parse_set(kind, text) for kind, text in items]


def parse_var(text: str) -> VariableValue:
    """``--var NAME=VALUE``: variable values are text, never typed."""
    name, value = split("--var", text)
    return VariableValue(name, value, f"--var {name}=...")
