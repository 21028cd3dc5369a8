from __future__ import annotations

import json
import os

import click

from runner.cli.main import CliExit
from runner.cli.options import OrderedCommand, override_options, overrides_from, store_from
from runner.cli.output import error
from runner.exitcodes import ExitCode


@click.command(cls=OrderedCommand)
@click.argument("name")
@override_options
@click.option("--dry-run", is_flag=True, help="Print the exact HTTP request; send nothing.")
@click.option(
    "--base-url",
    envvar="TELNYX_BASE_URL",
    default=None,
    help="API base URL (env: TELNYX_BASE_URL; default https://api.telnyx.com/v2).",
)
@click.option(
    "-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=15.0,
    show_default=True,
    help="Seconds to wait for Telnyx's answer after sending.",
)
@click.option(
    "--max-retries",
    type=click.IntRange(min=0),
    default=2,
    show_default=True,
    help="Retries for failures that never reached Telnyx, and for 429 (0 disables).",
)
@click.option("--show-secrets", is_flag=True, help="With --dry-run: print secret values.")
@click.pass_context
def run(
    ctx: click.Context,
    name: str,
    dry_run: bool,
    base_url: str | None,
    output: str,
    timeout: float,
    max_retries: int,
    show_secrets: bool,
    **params: object,
) -> None:
    """Validate profile NAME with the overrides, then place the call.

    Example: callprofile run appointment-reminder --to +13125550123 --var customer_name=Ada
    """
    from runner import secrets, submit
    from runner.flow import build

    request = build(store_from(ctx), name, overrides_from(ctx, params))
    secrets.remember(*request.secret_values())
    base = base_url or os.environ.get("TELNYX_BASE_URL") or submit.DEFAULT_BASE_URL
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
    if not key:
        error("TELNYX_API_KEY is not set; export your Telnyx API key (nothing was sent)")
        raise CliExit(ExitCode.USAGE)
    prepared = submit.prepare(request.connection_id, request.body, base_url=base, api_key=key)
    client = submit.make_client(submit.Timeouts(read=timeout))
    try:
        result = submit.send(
            prepared,
            client=client,
            max_retries=max_retries,
            on_retry=lambda reason, delay: click.echo(
                f"retrying in {delay:.1f}s: {reason}", err=True
            ),
        )
    finally:
        client.close()
    report(result, request, output)
    raise CliExit(result.exit_code)


def report(result: object, request: object, output: str) -> None:
    """Print a submission result: the call on stdout, problems on stderr."""
    from runner.secrets import scrub
    from runner.submit import Result

    assert isinstance(result, Result)
    if output == "json" and result.response is not None:
        click.echo(scrub(json.dumps(result.response, indent=2, ensure_ascii=False)))
    if result.status == "placed":
        if output != "json":
            body = result.response or {}
            click.echo(
                f"{result.call_sid}  {body.get('status', 'queued')}  "
                f"{body.get('from', '')} -> {body.get('to', '')}".rstrip()
            )
        return
    click.echo(f"callprofile: {scrub(result.message)}", err=True)
    for err in result.errors:
        line = f"  {err.code or '?'} {err.title or ''}: {err.detail or ''}".rstrip(": ")
        where = _pointer_origin(err.pointer, request)
        if where:
            line += f"  [{err.pointer} set at {where}]"
        elif err.pointer:
            line += f"  [{err.pointer}]"
        click.echo(scrub(line), err=True)


def _pointer_origin(pointer: str | None, request: object) -> str | None:
    if not pointer or not pointer.startswith("/"):
        return None
    parts = tuple(p.replace("~1", "/").replace("~0", "~") for p in pointer[1:].split("/"))
    path = tuple(int(p) if p.isdigit() else p for p in parts)
    return request.origin(path)  # type: ignore[attr-defined]
