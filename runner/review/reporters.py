"""Diagnostics as text: the plain list, JSON, and GitHub Actions workflow commands."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from runner.diagnostics import Diagnostic
from runner.secrets import scrub
from runner.textsafety import escape_controls, escape_json_text


def _unstyled(role: str, text: str) -> str:
    return text


def line(d: Diagnostic, style: Callable[[str, str], str] = _unstyled) -> str:
    """``path:line:col: severity: message [CODE]``; ``style(role, text)`` may colour the location,
    the severity and the code (the CLI passes one for terminals)."""
    # One line per finding, whatever a hostile file name or value holds: control characters
    # are escaped before any colour is added.
    where = escape_controls(scrub(d.where), keep_newlines=False)
    message = escape_controls(scrub(d.message), keep_newlines=False)
    return f"{style('location', where)}: {style(d.severity, d.severity)}: {message} " + style(
        "code", f"[{d.code}]"
    )


def plain(diagnostics: Iterable[Diagnostic], style: Callable[[str, str], str] = _unstyled) -> str:
    return "".join(line(d, style) + "\n" for d in diagnostics)


def json_item(d: Diagnostic) -> dict[str, Any]:
    """One diagnostic as the JSON object every command's ``-o json`` uses."""
    return {
        "file": d.file,
        "line": d.line,
        "col": d.col,
        "end_line": d.end_line,
        "end_col": d.end_col,
        "severity": d.severity,
        "code": d.code,
        "message": scrub(d.message),
        "json_path": d.json_path,
        "origin": d.origin,
    }


def as_json(diagnostics: Iterable[Diagnostic]) -> str:
    rows = [json_item(d) for d in diagnostics]
    return escape_json_text(json.dumps(rows, indent=2, ensure_ascii=False)) + "\n"


def escape_data(text: str) -> str:
    """A workflow command's message: %, CR and LF would end or corrupt the command."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command property value: also ':' and ',' which separate properties."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github(diagnostics: Iterable[Diagnostic]) -> str:
    """One ``::error``/``::warning`` annotation per diagnostic, then the plain list: GitHub
    shows only the first ten annotations of each kind per step, and the log keeps them all."""
    diagnostics = list(diagnostics)
    lines: list[str] = []
    for d in diagnostics:
        props: list[tuple[str, object]] = []
        if d.file is not None:
            props.append(("file", d.file))
            if d.line is not None:
                props += [("line", d.line), ("col", d.col or 1)]
                if d.end_line is not None:
                    props += [("endLine", d.end_line), ("endColumn", d.end_col or 1)]
        props.append(("title", f"callprofile {d.code}"))
        message = d.message if d.file is not None or not d.origin else f"{d.origin}: {d.message}"
        head = ",".join(f"{k}={escape_property(str(v))}" for k, v in props)
        lines.append(f"::{d.severity} {head}::{escape_controls(escape_data(scrub(message)))}\n")
    return "".join(lines) + plain(diagnostics)


FORMATS = {"text": plain, "json": as_json, "github": github}
