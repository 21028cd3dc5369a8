"""Printing helpers shared by the commands."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from runner.cli import advice
from runner.diagnostics import Diagnostic
from runner.secrets import scrub


def color_enabled(stream: Any = None) -> bool:
    stream = stream or sys.stderr
    if os.environ.get("NO_COLOR"):
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


def print_diagnostics(diagnostics: list[Diagnostic], where: str = advice.CALL) -> None:
    """Print ``diagnostics`` on stderr with the flags that fix them (``where``: see advice)."""
    colored = color_enabled()
    for diag in advice.advise_all(diagnostics, where):
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

    return yaml.dump(data, Dumper=_dumper(), sort_keys=False, allow_unicode=True, width=100).rstrip(
        "\n"
    )


def _dumper() -> Any:
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper: Any, value: str) -> Any:
        # PyYAML writes NEL (U+0085) raw inside single quotes, where every reader folds it into
        # a space; double quotes escape it, so render's output stays a faithful values file.
        style = '"' if "\x85" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    return Dumper
