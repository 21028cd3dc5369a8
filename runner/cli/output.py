"""Printing helpers shared by the commands."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from runner.diagnostics import Diagnostic
from runner.secrets import scrub


def color_enabled(stream: Any = None) -> bool:
    stream = stream or sys.stderr
    if os.environ.get("NO_COLOR"):
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


def print_diagnostics(diagnostics: list[Diagnostic]) -> None:
    colored = color_enabled()
    for diag in diagnostics:
        text = scrub(diag.text())
        if colored:
            tone = "red" if diag.severity == "error" else "yellow"
            text = text.replace(
                f": {diag.severity}:", ": " + click.style(diag.severity, fg=tone) + ":", 1
            )
        click.echo(text, err=True)


def error(message: str) -> None:
    click.echo(f"callprofile: error: {scrub(message)}", err=True)


def dump(data: Any, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False)
    import yaml

    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100).rstrip("\n")
