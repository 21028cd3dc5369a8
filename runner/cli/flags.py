"""``--set``, ``--set-json`` and ``--var`` parsed into typed values at the command line's edge.

The core receives ``SetValue``/``VariableValue`` data, never flag text. Each value keeps its flag
as its origin (``--set Timeout=60``; a secret field's value shown as ``***``), so messages about
it name what the user typed. Pure functions: no click here, so tests and other front ends can
use them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from runner import codes
from runner.diagnostics import Diagnostic, ProfileError
from runner.profiles.overrides import (
    FieldError,
    Overrides,
    SetValue,
    VariableValue,
    field_path,
    json_value,
    typed_value,
)
from runner.schema import files as schemas

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Literal

    SetKind = Literal["set", "set-json"]


def flag_error(origin: str, message: str) -> ProfileError:
    return ProfileError([Diagnostic(message, codes.BAD_OVERRIDE, origin=origin)])


def split(flag: str, text: str) -> tuple[str, str]:
    """``NAME=VALUE`` -> (NAME, VALUE)."""
    name, eq, value = text.partition("=")
    if not eq or not name:
        shown = _short(text)
        raise flag_error(f"{flag} {shown}", f"{flag} takes NAME=VALUE, got {shown!r}")
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


def parse_set(kind: SetKind, text: str) -> SetValue:
    """``--set FIELD=VALUE`` (typed by the request schema) or ``--set-json FIELD=JSON``."""
    flag = f"--{kind}"
    name, raw = split(flag, text)
    label = flag_label(flag, name, raw)
    try:
        path = field_path(name)
    except FieldError as exc:
        raise flag_error(label, exc.message) from None
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


CODE_NUMBER = codes.BAD_PHONE_FLAG
# Already E.164: "+", a country code and 8 to 15 digits in all, nothing else.
_E164_DIGITS = frozenset("0123456789")


def _is_e164(value: str) -> bool:
    # The same test as re.fullmatch(r"\+[1-9][0-9]{7,14}", value), without importing re.
    digits = value[1:]
    return (
        value[:1] == "+"
        and 8 <= len(digits) <= 15
        and digits[0] != "0"
        and all(c in _E164_DIGITS for c in digits)
    )


def phone_flag(flag: str, value: str | None) -> str | None:
    """``--to``/``--from`` as E.164, by the same rule as contacts (``+1 (613) 555-0199`` is
    ``+16135550199``); a value that is no usable number is an error showing it as given.

    A value already written in E.164 is used as given (the request schema checks it):
    phonenumbers costs 30-50 ms to import, more than the rest of ``render``'s start-up."""
    if value is None or _is_e164(value):
        return value
    from runner.phone import NumberError, normalise

    try:
        return normalise(value)
    except NumberError as exc:
        raise ProfileError([Diagnostic(str(exc), CODE_NUMBER, origin=flag)]) from None


FLAG_ORIGINS = {"to": "--to", "from_": "--from", "connection_id": "--connection-id"}


def build_overrides(
    *,
    values_files: Sequence[str] = (),
    sets: Iterable[tuple[SetKind, str]] = (),
    to: str | None = None,
    from_: str | None = None,
    connection_id: str | None = None,
    vars_files: Sequence[str] = (),
    vars: Iterable[str] = (),
) -> Overrides:
    """The override flags as typed data (raises ProfileError, exit 1, for a bad value); the
    one place both command-line parsers (click's and runner.cli.fastpath) build them."""
    return Overrides(
        values_files=list(values_files),
        sets=parse_sets(sets),
        to=phone_flag("--to", to),
        from_=phone_flag("--from", from_),
        connection_id=connection_id,
        vars_files=list(vars_files),
        vars=[parse_var(text) for text in vars],
        origins=dict(FLAG_ORIGINS),
    )
