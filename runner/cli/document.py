"""The output contract: with ``-o json``, exactly one JSON document on stdout, whatever happens.

Every reporting command takes ``-o/--output``; with ``json`` it prints one object on stdout
(human text goes to stderr) that always carries the common keys below, also when the command
fails, is refused, or is a dry run. The command's own keys (``call_sid``, ``fields``,
``profiles``...) come beside them. ``docs/reference/json-output.md`` documents the shape;
``SCHEMA_VERSION`` changes only when a key is removed or changes meaning.

    {"schema_version": 1, "command": "run", "exit_code": 0, ..., "diagnostics": [], "notes": []}

Commands call :func:`emit` once; the root group calls :func:`fallback` when a command ends in
an error before it emitted (a usage error after parsing, a profile error, a crash), so the
document is still there. A long list (a batch dry run's calls) is streamed with :class:`Stream`,
which the fallback also closes, so even an interrupted stream is one valid document.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import click

from runner import codes
from runner.diagnostics import Diagnostic

SCHEMA_VERSION = 1
OUTPUT = "callprofile.output"
COMMAND = "callprofile.command"
EMITTED = "callprofile.emitted"
NOTES = "callprofile.notes"
PROBLEMS = "callprofile.problems"
STREAM = "callprofile.stream"
BASE = "callprofile.base"

# Diagnostic codes for what is not a profile problem, so a JSON document always says why.
CODE_USAGE = codes.USAGE
CODE_INTERNAL = codes.INTERNAL
CODE_CANNOT = codes.CANNOT_PROCEED
CODE_INTERRUPTED = codes.INTERRUPTED


def output_option(
    *choices: str, default: str = "text", aliases: tuple[str, ...] = (), help: str | None = None
) -> Any:
    """``-o/--output`` (plus ``aliases``, e.g. ``--format``). Eager, so a usage error in a
    later option still knows that a JSON document is wanted."""
    return click.option(
        "-o",
        "--output",
        *aliases,
        "output",
        type=click.Choice(list(choices)),
        default=default,
        show_default=True,
        is_eager=True,
        callback=_remember,
        help=help or "Output format; json: one JSON document on stdout, text on stderr.",
    )


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    ctx.meta[OUTPUT] = value
    ctx.meta[COMMAND] = ctx.info_name
    return value


def wants_json(ctx: click.Context | None = None) -> bool:
    ctx = ctx or click.get_current_context(silent=True)
    return ctx is not None and ctx.meta.get(OUTPUT) == "json"


def note(text: str, ctx: click.Context | None = None, show: bool = True) -> None:
    """A ``note:`` line on stderr (unless not ``show``), kept for the document's ``notes``."""
    if show:
        click.echo(f"note: {text}", err=True)
    ctx = ctx or click.get_current_context(silent=True)
    if ctx is not None:
        ctx.meta.setdefault(NOTES, []).append(text)


def problem(message: str, code: str = CODE_CANNOT, origin: str | None = None) -> None:
    """Keep a problem printed as free text (``output.error``) for the JSON document."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.meta.setdefault(PROBLEMS, []).append(Diagnostic(message, code, origin=origin))


def base(payload: dict[str, Any]) -> None:
    """Keys the document carries even if the command fails from here on (e.g. run's status:
    "not-sent" before the POST, "unknown" once it may have left)."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.meta[BASE] = dict(payload)


def diagnostic(d: Diagnostic) -> dict[str, Any]:
    """One diagnostic as JSON: the same item validate prints."""
    from runner.review.reporters import json_item

    return json_item(d)


def _common(ctx: click.Context) -> dict[str, Any]:
    return {"schema_version": SCHEMA_VERSION, "command": ctx.meta.get(COMMAND, ctx.info_name)}


def _tail(ctx: click.Context, exit_code: int, diagnostics: Iterable[Diagnostic]) -> dict[str, Any]:
    found = [*ctx.meta.get(PROBLEMS, []), *diagnostics]
    return {
        "exit_code": int(exit_code),
        "diagnostics": [diagnostic(d) for d in found],
        "notes": list(ctx.meta.get(NOTES, [])),
    }


def _dumps(data: Any, indent: int | None = 2, reveal: bool = False) -> str:
    """JSON text with every known secret masked; ``reveal`` (--show-secrets) masks only the
    API key, which is never shown."""
    from runner.textsafety import escape_json_text

    # Characters json.dumps leaves raw (C1 controls, bidi overrides) are escaped: the same
    # document, which no server's or profile's text can use to drive a terminal.
    text = escape_json_text(json.dumps(data, indent=indent, ensure_ascii=False, default=str))
    from runner.secrets import shown

    return shown(text, reveal)


def emit(
    exit_code: int,
    payload: dict[str, Any] | None = None,
    diagnostics: Iterable[Diagnostic] = (),
    ctx: click.Context | None = None,
    reveal: bool = False,
) -> None:
    """Print the command's one document (only the first call prints)."""
    ctx = ctx or click.get_current_context()
    if ctx.meta.get(EMITTED):
        return
    ctx.meta[EMITTED] = True
    doc = {
        **_common(ctx),
        **ctx.meta.get(BASE, {}),
        **(payload or {}),
        **_tail(ctx, exit_code, diagnostics),
    }
    click.echo(_dumps(doc, reveal=reveal))


class Stream:
    """One document whose list ``key`` is written item by item (memory stays flat)."""

    def __init__(
        self,
        key: str,
        head: dict[str, Any],
        ctx: click.Context | None = None,
        reveal: bool = False,
    ):
        self.ctx = ctx or click.get_current_context()
        self.reveal = reveal
        self.key = key
        self.count = 0
        self.open = True
        self.ctx.meta[EMITTED] = True
        self.ctx.meta[STREAM] = self
        start = _dumps({**_common(self.ctx), **head}, indent=None)
        click.echo(f"{start[:-1]}, {json.dumps(key)}: [", nl=False)

    def item(self, data: Any) -> None:
        text = _dumps(data, indent=None, reveal=self.reveal)
        click.echo(("," if self.count else "") + "\n  " + text, nl=False)
        self.count += 1

    def end(
        self,
        exit_code: int,
        tail: dict[str, Any] | None = None,
        diagnostics: Iterable[Diagnostic] = (),
    ) -> None:
        if not self.open:
            return
        self.open = False
        rest = {**(tail or {}), **_tail(self.ctx, exit_code, diagnostics)}
        body = _dumps(rest, indent=None)[1:]  # the keys after the list, then the closing brace
        click.echo(f"\n], {body}")


def fallback(ctx: click.Context, exit_code: int, diagnostics: Iterable[Diagnostic] = ()) -> None:
    """The document for a command that ended before emitting its own (or mid-stream)."""
    if not wants_json(ctx):
        return
    stream = ctx.meta.get(STREAM)
    if isinstance(stream, Stream) and stream.open:
        stream.end(exit_code, diagnostics=diagnostics)
        return
    emit(exit_code, {}, diagnostics, ctx=ctx)
