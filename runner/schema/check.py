"""Check one profile (or values) file against the profile schema, at exact file positions."""

from __future__ import annotations

from runner import codes
from runner.diagnostics import Diagnostic
from runner.profiles.source import Source
from runner.schema import errors as schema_errors
from runner.schema import files as schemas

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

_YAML_TYPE_WORDS = {bool: "a boolean", int: "an integer", float: "a number"}
VALUES_FILE_KEYS = ("connection_id", "call")
# ``render -o json`` wraps the values in the JSON output document; read back with -f, those
# keys are the document's, not values.
RENDER_DOCUMENT_KEYS = ("schema_version", "command", "exit_code", "diagnostics", "notes")


def values_data(data: dict[str, Any]) -> dict[str, Any]:
    """A values file's data, without the keys of a ``render -o json`` document around it."""
    if data.get("command") == "render" and "schema_version" in data:
        return {k: v for k, v in data.items() if k not in RENDER_DOCUMENT_KEYS}
    return data


def check_source(source: Source, *, values_file: bool = False) -> list[Diagnostic]:
    """Schema problems in one file. ``values_file``: an ``-f`` overlay, which may hold only
    ``connection_id`` and ``call``."""
    data = source.data
    if not isinstance(data, dict):
        what = "empty" if data is None else f"{schema_errors.json_type(data)}, not a mapping"
        return [
            source.diag(
                (), f"a profile must be a YAML mapping; this file is {what}", codes.NOT_MAPPING
            )
        ]
    found: list[Diagnostic] = []
    if values_file:
        data = values_data(data)
        for key in data:
            if key not in VALUES_FILE_KEYS:
                hint = schema_errors.did_you_mean(key, list(VALUES_FILE_KEYS))
                found.append(
                    source.diag(
                        (key,),
                        f"a values file may set only connection_id and call, not {key!r}{hint}",
                        codes.UNKNOWN_FIELD,
                        at_key=True,
                    )
                )
        data = {k: v for k, v in data.items() if k in VALUES_FILE_KEYS}
    yaml11 = _yaml11_numbers(source)
    placed = [(p.path, _place(source, p)) for p in schema_errors.problems(schemas.PROFILE, data)]
    # Where text is wanted, "quote it" (CP102) already says all; elsewhere the YAML 1.1 form is
    # the problem, whatever the schema says about the number it became.
    quoted = {path for path, d in placed if d.code == codes.UNQUOTED}
    found.extend(d for path, d in placed if path not in yaml11 or path in quoted)
    found.extend(d for path, d in yaml11.items() if path not in quoted)
    return found


CODE_YAML11 = codes.YAML11_NUMBER


def _yaml11_numbers(source: Source) -> dict[tuple[str | int, ...], Diagnostic]:
    """Numbers written in a form only YAML 1.1 reads as a number (``030`` and ``010`` octal,
    ``1:00`` base 60, ``0b101``, ``1_000``): PyYAML sends 24, 8 and 60, while YAML 1.2, JSON and
    most people read 30, 10 and a time. Refused at the value, whatever the field."""
    found: dict[tuple[str | int, ...], Diagnostic] = {}
    for path, span in source.spans.items():
        plain = span.plain_text
        if plain is None:
            continue
        value: object = source.data
        for part in path:
            value = value[part]  # type: ignore[index]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        digits = plain.lstrip("+-")
        octal = isinstance(value, int) and len(digits) > 1 and digits[0] == "0"
        octal = octal and digits[1] not in "xX"
        if octal or ":" in digits or "_" in digits or digits[:2].lower() == "0b":
            found[path] = source.diag(
                path,
                f"YAML 1.1 reads {plain} as the number {value!r}, unlike YAML 1.2 and JSON "
                f'(octal, base 60, binary or digit separators): quote it ("{plain}") or write '
                "the decimal",
                CODE_YAML11,
            )
    return found


def _place(source: Source, problem: schema_errors.Problem) -> Diagnostic:
    span = source.spans.get(problem.path)
    if (
        problem.expected_type == "string"
        and span is not None
        and span.plain_text is not None
        and not problem.at_key
    ):
        value = source.data
        for part in problem.path:
            value = value[part]
        word = _YAML_TYPE_WORDS.get(type(value), "a non-string value")
        return source.diag(
            problem.path,
            f"YAML read the unquoted value {span.plain_text} as {word} ({value!r}); "
            f'quote it: "{span.plain_text}"',
            codes.UNQUOTED,
        )
    return source.diag(problem.path, problem.message, problem.code, at_key=problem.at_key)
