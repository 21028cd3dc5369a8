from __future__ import annotations

import signal
import threading
from typing import Any

import click

from runner.cli.errors import CliExit
from runner.cli.output import error
from runner.exitcodes import ExitCode


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8787,
    show_default=True,
    help="Port to listen on (0: any free port).",
)
@click.option(
    "--log",
    "log_path",
    type=click.Path(dir_okay=False),
    help="Append every request and callback to this JSON-lines file (secrets masked).",
)
@click.option(
    "--script",
    "script_path",
    type=click.Path(dir_okay=False),
    help="JSON or YAML list of scripted answers, used one per call request in order.",
)
@click.option(
    "--respond",
    "responds",
    multiple=True,
    metavar="SPEC",
    help="A scripted answer in one line, after --script's (repeatable): 429,retry-after=2 | "
    "503 | 500,times=forever | stall | reset | close | html | bad-json | normal.",
)
@click.option(
    "--latency",
    type=click.FloatRange(min=0),
    default=0.0,
    help="Seconds to wait before every answer.",
)
@click.option(
    "--callback-delay",
    type=click.FloatRange(min=0),
    default=0.0,
    help="Seconds between the status callbacks of a call.",
)
@click.option(
    "--allow-remote-host",
    is_flag=True,
    help="Allow --host to be an address other than loopback (others could reach the sandbox).",
)
def sandbox(
    host: str,
    port: int,
    log_path: str | None,
    script_path: str | None,
    responds: tuple[str, ...],
    latency: float,
    callback_delay: float,
    allow_remote_host: bool,
) -> None:
    """Serve a local Telnyx-compatible POST /v2/texml/ai_calls/{connection_id}.

    Point callprofile (or any client) at it with TELNYX_BASE_URL=http://127.0.0.1:8787/v2.
    Missing or malformed bearer tokens get 401, bodies failing the request schema get 422
    with Telnyx's error codes, valid calls get 200 "queued". Status callbacks go only to
    loopback URLs. Stop with Ctrl-C.
    """
    from runner.sandbox import Sandbox, ScriptError, load_script, parse_spec
    from runner.sandbox.server import is_loopback_host

    if not allow_remote_host and not is_loopback_host(host):
        raise click.BadParameter(
            f"{host} is not a loopback address; add --allow-remote-host to listen there anyway",
            param_hint="--host",
        )
    try:
        steps = load_script(script_path) if script_path else []
        steps += [parse_spec(spec) for spec in responds]
    except ScriptError as exc:
        error(str(exc))
        raise CliExit(ExitCode.INVALID) from None
    server = Sandbox(
        host=host,
        port=port,
        script=steps,
        latency=latency,
        log_path=log_path,
        on_record=_print_record,
        callback_delay=callback_delay,
        allow_remote=allow_remote_host,
    )
    try:
        server.start()
    except OSError as exc:
        error(f"cannot listen on {host}:{port} ({exc.strerror or exc})")
        raise CliExit(ExitCode.INVALID) from None
    click.echo(f"callprofile sandbox listening on {server.url}")
    click.echo(f"  export TELNYX_BASE_URL={server.base_url}", err=True)
    stopping = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        while not stopping.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.stop(wait_for_callbacks=0.0)
    click.echo(f"stopped after {server.post_count} call request(s)", err=True)


def _print_record(record: dict[str, Any]) -> None:
    kind = record["kind"]
    if kind == "request":
        response = record.get("response") or {}
        if "fault" in response:
            answer = f"fault {response['fault']} (no answer)"
        else:
            answer = str(response.get("status", "?"))
            if response.get("call_sid"):
                answer += f" queued {response['call_sid']}"
            if response.get("errors"):
                answer += f" errors {','.join(str(c) for c in response['errors'])}"
        click.echo(f"{record['time']}  {record['method']} {record['path']} -> {answer}")
    elif kind == "callback":
        if record.get("refused"):
            refused = record["refused"]
            click.echo(f"{record['time']}  callback to {record['url']} refused: {refused}")
        else:
            outcome = record.get("status", record.get("error"))
            click.echo(
                f"{record['time']}  callback {record['event']} "
                f"(CallStatus={record['call_status']}) -> {record['url']}: {outcome}"
            )
    else:
        click.echo(f"{record['time']}  {kind}: {record.get('error', '')}")
