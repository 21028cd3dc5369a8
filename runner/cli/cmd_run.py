from __future__ import annotations

import os
import time
from collections.abc import Callable
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

import click

from runner.cli import sandbox_options as local
from runner.cli.document import CODE_USAGE, emit, output_option
from runner.cli.document import base as document_base
from runner.cli.errors import CliExit
from runner.cli.options import (
    OrderedCommand,
    complete,
    override_options,
    overrides_from,
    sending_options,
    store_from,
)
from runner.cli.output import error
from runner.cli.sandbox_options import sandbox_options
from runner.exitcodes import ExitCode

if TYPE_CHECKING:
    from runner.flow.request import Request
    from runner.send.submit import Result

# Testing seam: the function that waits between attempts. Tests replace it (monkeypatch) to
# run retries instantly and to act at the moment of a retry. It is a module attribute on
# purpose, not an environment variable or a flag: nothing outside the process can shorten a
# wait Telnyx asked for.
wait: Callable[[float], None] = time.sleep


@click.command(cls=OrderedCommand)
@click.argument("name", shell_complete=complete("profile_names"))
@override_options
@click.option("--dry-run", is_flag=True, help="Print the exact HTTP request; send nothing.")
@sandbox_options
@output_option("text", "json")
@sending_options
@click.pass_context
def run(
    ctx: click.Context,
    name: str,
    dry_run: bool,
    sandbox: bool,
    sandbox_script: str | None,
    sandbox_log: str | None,
    base_url: str | None,
    output: str,
    timeout: float,
    max_retries: int,
    show_secrets: bool,
    **params: object,
) -> None:
    """Validate profile NAME with the overrides, then place the call.

    Only failures that provably never reached Telnyx (connection refused, DNS failure, connect
    or pool timeout) and 429 answers are retried. A read timeout, a dropped connection or a 5xx
    is reported as "outcome unknown" (exit 5) and never sent again.

    Example: callprofile run appointment-reminder --to +13125550123 --var customer_name=Ada
    """
    from runner import secrets
    from runner.flow.compose import compose
    from runner.send import submit

    document_base({"status": "not-sent"})
    local.check_usage(
        ctx,
        sandbox=sandbox,
        script=sandbox_script,
        log=sandbox_log,
        dry_run=dry_run,
        base_url=base_url,
    )

    overrides = overrides_from(ctx, params)
    if sandbox_log:
        _refuse_overwriting_inputs(ctx, sandbox_log, sandbox_script, overrides)
    default_connection = os.environ.get("TELNYX_CONNECTION_ID") or ("sandbox" if sandbox else None)
    request = compose(
        store_from(ctx),
        name,
        overrides,
        default_connection_id=default_connection,
    ).request()
    secrets.remember(*request.secret_values())
    base = base_url or submit.DEFAULT_BASE_URL
    key = secrets.api_key()
    if dry_run:
        if output == "json":
            prepared = submit.prepare(
                request.shown_connection_id(show_secrets),
                request.body,
                base_url=base,
                api_key=key or "",
            )
            shown_request = _request_json(prepared, request, show_secrets)
            emit(ExitCode.OK, {"status": "dry-run", "request": shown_request}, reveal=show_secrets)
            raise CliExit(ExitCode.OK)
        from runner.cli.answers import dry_run_text

        click.echo(dry_run_text(request, base, key, show_secrets), nl=False)
        return

    steps = local.steps(sandbox_script) if sandbox else []
    if not sandbox:
        from runner.send import gate

        try:
            gate.admit(
                base,
                key,
                key_hint=", or add --sandbox to try the profile against a local sandbox",
            )
        except gate.GateClosed as closed:
            usage = closed.code == ExitCode.USAGE
            error(closed.message, CODE_USAGE if usage else closed.diagnostic)
            raise CliExit(closed.code) from None

    with ExitStack() as stack:
        if sandbox:
            server = stack.enter_context(
                local.running(steps, sandbox_log, _print_sandbox_record, request.secret_values())
            )
            base, key = server.base_url, local.SANDBOX_KEY
        prepared = submit.prepare(
            request.connection_id, request.body, base_url=base, api_key=key or ""
        )
        document_base({"status": "unknown"})  # from here on a failure may follow a sent POST
        client = submit.make_client(submit.Timeouts(read=timeout))
        try:
            result = submit.send(
                prepared,
                client=client,
                max_retries=max_retries,
                sleep=wait,
                on_retry=lambda reason, delay: click.echo(
                    f"retrying in {delay:.1f}s: {reason}", err=True
                ),
            )
        finally:
            client.close()
    from runner.cli import pipes

    pipes.settled(result.exit_code)  # a closed pipe while reporting keeps this code
    report(result, request, output)
    raise CliExit(result.exit_code)


def _refuse_overwriting_inputs(
    ctx: click.Context, log: str, script: str | None, overrides: Any
) -> None:
    """--sandbox-log appends to its file: it may not be a file this command reads."""
    from runner import overwrite

    inputs = [("--sandbox-script", script or "")]
    inputs += [("-f", p) for p in overrides.values_files]
    inputs += [("--vars-file", p) for p in overrides.vars_files]
    inputs += overwrite.profile_files(str(store_from(ctx).root))
    hit = overwrite.clash(log, inputs)
    if hit:
        raise click.UsageError(f"--sandbox-log {log} is {hit}; nothing was written")


def _print_sandbox_record(record: dict[str, Any]) -> None:
    # Callback URLs come from profiles, outcomes from receivers: escape them.
    from runner.cli.output import piece

    if record["kind"] != "callback":
        return
    url = piece(str(record.get("url", "")))
    if record.get("refused"):
        where = f" to {url}" if record.get("url") else ""
        refused = piece(str(record["refused"]))
        click.echo(f"sandbox: status callback{where} not sent: {refused}", err=True)
        return
    outcome = piece(str(record.get("status", record.get("error"))))
    # AMD callbacks carry AnsweredBy instead of a CallStatus.
    what = record.get("call_status")
    shown = f"CallStatus={what}" if what else f"AnsweredBy={record.get('answered_by')}"
    click.echo(
        f"sandbox: status callback {record['event']} ({piece(shown)}) -> {url}: {outcome}",
        err=True,
    )


def report(result: Result, request: Request, output: str) -> None:
    """Print a submission result: the call on stdout, problems on stderr (``-o json``: one
    JSON object on stdout in every case). Text from the server is scrubbed of secrets and its
    control characters escaped: a reply must not be able to rewrite the user's terminal."""
    from runner.cli.output import piece
    from runner.secrets import scrub

    # Problems first, on stderr: a closed stdout must not hide "the call may have been placed".
    if result.status != "placed":
        click.echo(scrub(_problem_text(result, request)), err=True)
    if output == "json":
        emit(result.exit_code, _as_json(result, request))
    elif result.status == "placed":
        body = result.response or {}
        line = (
            f"{piece(str(result.call_sid))}  {piece(str(body.get('status', 'queued')))}  "
            f"{piece(str(body.get('from', '')))} -> {piece(str(body.get('to', '')))}"
        )
        click.echo(scrub(line.rstrip()))
    if result.status == "placed" and result.attempts > 1:
        click.echo(f"(placed on attempt {result.attempts})", err=True)


def _problem_text(result: Any, request: Any) -> str:
    """Every piece that came from the server is escaped as one line of text."""
    from runner.cli.output import piece

    lines = [f"callprofile: {piece(result.message)}"]
    details = []
    if result.http_status is not None:
        details.append(f"HTTP {result.http_status}")
    if result.sent_at:
        details.append(f"sent {result.sent_at}")
    if result.request_id:
        details.append(f"request id {piece(result.request_id)}")
    if details:
        lines.append("  " + ", ".join(details))
    for err in result.errors:
        text = " ".join(piece(p) for p in (err.code, err.title) if p) or "error"
        if err.detail:
            text += f": {piece(err.detail)}"
        lines.append(f"  {text}")
        if err.pointer:
            where = _pointer_origin(err.pointer, request)
            field = piece(_pointer_field(err.pointer), limit=200)
            lines.append(
                f"    field {field}, set at {where}"
                if where
                else f"    field {field} ({piece(err.pointer, limit=200)})"
            )
    if result.reply_excerpt and result.http_status is not None:
        lines.append(f"  reply (not Telnyx's JSON): {piece(result.reply_excerpt)}")
    if len(result.notes) > 1:
        lines.extend(f"  {piece(note)}" for note in result.notes)
    if result.interrupted:
        lines.append("  interrupted by Ctrl-C after the request was sent")
    if result.status == "unknown":
        lines.append(
            "  look for the call (Telnyx call logs, your status callbacks) before running this "
            "again: running it again may place a second call"
        )
    return "\n".join(lines)


def _request_json(prepared: Any, request: Any, show_secrets: bool) -> dict[str, Any]:
    """The dry run's request as JSON: the key hidden, secrets as *** unless --show-secrets."""
    headers = {
        name: "Bearer ***" if name.lower() == "authorization" else value
        for name, value in prepared.headers
    }
    return {
        "method": prepared.method,
        "url": prepared.url,
        "headers": headers,
        "body": request.redacted_body(show_secrets),
    }


def _as_json(result: Any, request: Any) -> dict[str, Any]:
    return {
        "status": result.status,
        "exit_code": int(result.exit_code),
        "call_sid": result.call_sid,
        "message": result.message,
        "http_status": result.http_status,
        "sent_at": result.sent_at,
        "attempts": result.attempts,
        "request_id": result.request_id,
        "errors": [
            {
                "code": e.code,
                "title": e.title,
                "detail": e.detail,
                "pointer": e.pointer,
                "origin": _pointer_origin(e.pointer, request),
            }
            for e in result.errors
        ],
        "response": result.response,
        "reply_excerpt": result.reply_excerpt,
    }


def _pointer_path(pointer: str) -> tuple[str | int, ...]:
    # Telnyx sends JSON pointers ("/To"); accept a bare field name too.
    text = pointer[1:] if pointer.startswith("/") else pointer
    parts = [p.replace("~1", "/").replace("~0", "~") for p in text.split("/")] if text else []
    # Only a short run of ASCII digits is a list index: str.isdigit also accepts "²", and
    # int() refuses thousands of digits.
    return tuple(int(p) if p.isascii() and p.isdigit() and len(p) <= 9 else p for p in parts)


def _pointer_field(pointer: str) -> str:
    return ".".join(str(p) for p in _pointer_path(pointer)) or pointer


def _pointer_origin(pointer: str | None, request: Request) -> str | None:
    if not pointer:
        return None
    path = _pointer_path(pointer)
    # A pointer below a value the profile set (e.g. into a list) maps to the nearest set field.
    while path:
        where = request.origin(path)
        if where:
            return where
        path = path[:-1]
    return None
