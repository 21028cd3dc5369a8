"""Printing helpers shared by the commands."""

from __future__ import annotations

import click

from runner.cli import advice
from runner.cli.dumping import dump as dump
from runner.diagnostics import Diagnostic
from runner.secrets import scrub
from runner.secrets import shown as shown
from runner.textsafety import escape_controls, escape_json_text


def piece(text: str, limit: int | None = None) -> str:
    """One piece of outside text (a server's error detail, a header) for a line of output: its
    control characters, line breaks included, escaped, so it cannot start or rewrite a line."""
    shown = escape_controls(str(text), keep_newlines=False)
    if limit is not None and len(shown) > limit:
        shown = shown[: limit - 3] + "..."
    return shown


def safe(text: str) -> str:
    """Text we composed, possibly holding outside text: control characters escaped, line
    breaks kept."""
    return escape_controls(text)


def safe_json(text: str) -> str:
    """JSON for a terminal: characters json.dumps(ensure_ascii=False) leaves raw (C1
    controls, bidi overrides, lone surrogates) escaped; the document is unchanged."""
    return escape_json_text(text)


def print_diagnostics(diagnostics: list[Diagnostic], where: str = advice.CALL) -> None:
    """Print ``diagnostics`` on stderr with the flags that fix them (``where``: see advice),
    coloured on a terminal."""
    from runner.cli.colour import painter
    from runner.review.reporters import line

    style = painter(err=True)
    for diag in advice.advise_all(diagnostics, where):
        click.echo(line(diag, style), err=True)


def error(message: str, code: str | None = None) -> None:
    """A problem that is not a profile diagnostic, on stderr; kept for ``-o json`` too."""
    from runner.cli.document import CODE_CANNOT, problem

    click.echo(f"callprofile: error: {safe(scrub(message))}", err=True)
    problem(scrub(message), code or CODE_CANNOT)
