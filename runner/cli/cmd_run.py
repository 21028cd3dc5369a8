from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from runner.cli.errors import CliExit
from runner.cli.options import (
    OrderedCommand,
    override_options,
    overrides_from,
    sending_options,
    store_from,
)
from runner.cli.output import error
from runner.exitcodes import ExitCode

if TYPE_CHECKING:
    from runner.flow.request import Request
    from runner.send.submit import Result

# Testing seam: the function that waits between attempts. Tests replace it (monkeypatch) to
# run retries instantly and to act at the moment of a retry. It is a module attribute on
# purpose, not an environment variable or a flag: nothing outside the process can shorten a
# wait Telnyx asked for.
wait: Callable[[float], None] = time.sleep

# Sent to the sandbox instead of the real key, which never leaves for a local server.
SANDBOX_KEY = "KEY-sandbox-not-a-real-key"


@click.command(cls=OrderedCommand)
@click.argument("name")
@override_options
@click.option("--dry-run", is_flag=True, help="Print the exact HTTP request; send nothing.")
@click.option(
    "--sandbox",
    is_flag=True,
    help="Send to a local sandbox started for this run (no account, no key, no phone rings).",
)
@click.option(
    "--sandbox-script",
    type=click.Path(dir_okay=False),
    help="With --sandbox: scripted answers (JSON/YAML list) to rehearse failures.",
)
@click.option(
    "--sandbox-log",
    type=click.Path(dir_okay=False),
    help="With --sandbox: append what the sandbox received to this JSON-lines file.",
)
@click.option(
    "-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True
)
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

    if (sandbox_script or sandbox_log) and not sandbox:
        raise click.UsageError("--sandbox-script and --sandbox-log need --sandbox")
    if sandbox and dry_run:
        raise click.UsageError("--sandbox and --dry-run do not go together")
    from_command_line = (
        ctx.get_parameter_source("base_url") == click.core.ParameterSource.COMMANDLINE
    )
    if sandbox and base_url and from_command_line:
        raise click.UsageError("--sandbox and --base-url do not go together")

    default_connection = os.environ.get("TELNYX_CONNECTION_ID") or ("sandbox" if sandbox else None)
    request = compose(
        store_from(ctx),
        name,
        overrides_from(ctx, params),
        default_connection_id=default_connection,
    ).request()
    secrets.remember(*request.secret_values())
    base = base_url or submit.DEFAULT_BASE_URL
    key = secrets.api_key()
    if dry_run:
        prepared = submit.prepare(
            request.shown_connection_id(show_secrets),
            request.body,
            base_url=base,
            api_key=key or "",
        )
        shown = submit.encode_body(request.redacted_body(show_secrets))
        click.echo(prepared.text(body=shown), nl=False)
        return

    steps = _sandbox_steps(sandbox_script) if sandbox else []
    if not sandbox:
        if not key:
            error(
                "TELNYX_API_KEY is not set; export your Telnyx API key, or add --sandbox to try "
                "the profile against a local sandbox (nothing was sent)"
            )
            raise CliExit(ExitCode.USAGE)
        for problem in (submit.check_base_url(base), submit.check_api_key(key)):
            if problem:
                error(f"{problem} (nothing was sent)")
                raise CliExit(ExitCode.INVALID)

    server = None
    if sandbox:
        from runner.sandbox import Sandbox

        server = Sandbox(
            script=steps,
            log_path=sandbox_log,
            on_record=_print_sandbox_record,
            secrets=request.secret_values(),
        )
        server.start()
        base, key = server.base_url, SANDBOX_KEY
        click.echo(f"sandbox: listening on {server.url} (nothing leaves this machine)", err=True)
    try:
        prepared = submit.prepare(
            request.connection_id, request.body, base_url=base, api_key=key or ""
        )
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
    finally:
        if server is not None:
            server.stop()
            click.echo(f"sandbox: received {server.post_count} call request(s); stopped", err=True)
    report(result, request, output)
    raise CliExit(result.exit_code)


def _sandbox_steps(path: str | None) -> list[Any]:
    if not path:
        return []
    from runner.sandbox import ScriptError, load_script

    try:
        return load_script(path)
    except ScriptError as exc:
        error(f"{exc} (nothing was sent)")
        raise CliExit(ExitCode.INVALID) from None


def _print_sandbox_record(record: dict[str, Any]) -> None:
    if record["kind"] != "callback":
        return
    if record.get("refused"):
        click.echo(
            f"sandbox: status callback to {record['url']} not sent: {record['refused']}", err=True
        )
        return
    outcome = record.get("status", record.get("error"))
    click.echo(
        f"sandbox: status callback {record['event']} (CallStatus={record['call_status']}) "
        f"-> {record['url']}: {outcome}",
        err=True,
    )


def report(result: Result, request: Request, output: str) -> None:
    """Print a submission result: the call on stdout, problems on stderr (``-o json``: one
    JSON object on stdout in every case)."""
    from runner.secrets import scrub

    if output == "json":
        click.echo(scrub(json.dumps(_as_json(result, request), indent=2, ensure_ascii=False)))
    if result.status == "placed":
        if output != "json":
            body = result.response or {}
            click.echo(
                f"{result.call_sid}  {body.get('status', 'queued')}  "
                f"{body.get('from', '')} -> {body.get('to', '')}".rstrip()
            )
            if result.attempts > 1:
                click.echo(f"(placed on attempt {result.attempts})", err=True)
        return
    lines = [f"callprofile: {result.message}"]
    details = []
    if result.http_status is not None:
        details.append(f"HTTP {result.http_status}")
    if result.sent_at:
        details.append(f"sent {result.sent_at}")
    if result.request_id:
        details.append(f"request id {result.request_id}")
    if details:
        lines.append("  " + ", ".join(details))
    for err in result.errors:
        text = " ".join(p for p in (err.code, err.title) if p) or "error"
        if err.detail:
            text += f": {err.detail}"
        lines.append(f"  {text}")
        if err.pointer:
            where = _pointer_origin(err.pointer, request)
            field = _pointer_field(err.pointer)
            lines.append(
                f"    field {field}, set at {where}"
                if where
                else f"    field {field} ({err.pointer})"
            )
    if result.reply_excerpt and result.http_status is not None:
        lines.append(f"  reply (not Telnyx's JSON): {result.reply_excerpt}")
    if len(result.notes) > 1:
        lines.extend(f"  {note}" for note in result.notes)
    if result.status == "unknown":
        lines.append(
            "  look for the call (Telnyx call logs, your status callbacks) before running this "
            "again: running it again may place a second call"
        )
    click.echo(scrub("\n".join(lines)), err=True)


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
    return tuple(int(p) if p.isdigit() else p for p in parts)


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
