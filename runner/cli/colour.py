"""Colour for a person at a terminal: never in files or pipes, nor with NO_COLOR or --no-color.

The core formats text through a ``style(role, text)`` function it is given and knows nothing of
terminals; this module is the one place that turns roles into click styles.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

import click

from runner.cli.global_options import no_color

Style = Callable[[str, str], str]

STYLES: dict[str, dict[str, object]] = {
    "error": {"fg": "red", "bold": True},
    "warning": {"fg": "yellow", "bold": True},
    "location": {"bold": True},
    "code": {"dim": True},
    "profile": {"bold": True},
    "added": {"fg": "green"},
    "removed": {"fg": "red"},
    "changed": {"fg": "yellow"},
}


def plain(role: str, text: str) -> str:
    return text


def enabled(err: bool = False) -> bool:
    if os.environ.get("NO_COLOR"):  # https://no-color.org: set and not empty
        return False
    if no_color(click.get_current_context(silent=True)):
        return False
    stream = sys.stderr if err else sys.stdout
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def painter(err: bool = False) -> Style:
    """``style(role, text)`` for output to stdout (or stderr with ``err``)."""
    if not enabled(err):
        return plain

    def style(role: str, text: str) -> str:
        return click.style(text, **STYLES.get(role, {}))  # type: ignore[arg-type]

    return style
