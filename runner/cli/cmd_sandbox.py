from __future__ import annotations

from typing import Any

import click

from runner.cli.errors import CliExit
from runner.cli.output import error
from runner.cli.serving import wait_until_stopped
from runner.exitcodes import ExitCode


def _outcomes(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    from runner.sandbox.outcomes import OutcomeError, parse_fault_rates, parse_outcomes

    if value is None:
        return None
    try:
        return parse_outcomes(value) if param.name == "outcomes" else parse_fault_rates(value)
    except OutcomeError as exc:
        raise click.BadParameter(str(exc).split(": ", 1)[-1]) from None


def _allow(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> Any:
    from runner.sandbox.callbacks import parse_allow

    try:
        parse_allow(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


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
    help="JSON or YAML list of scripted answers, used one per call request in order "
    "(steps with 'to' apply to matching numbers).",
)
@click.option(
    "--respond",
    "responds",
    multiple=True,
    metavar="SPEC",
    help="A scripted answer in one line, after --script's (repeatable): 429,retry-after=2 | "
    "503 | 500,times=forever | stall | reset | close | html | bad-json | normal | "
    "normal,to=*0,outcome=no-answer.",
)
@click.option(
    "--latency",
    type=click.FloatRange(min=0),
    default=0.0,
    help="Seconds to wait before every answer.",
)
@click.option(
    "--outcomes",
    callback=_outcomes,
    metavar="WEIGHTS",
    help="How simulated calls end, as weights: human=60,machine=20,no-answer=10,busy=5,"
    "failed=5 (also fax, canceled). Default: every call answered by a person.",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    help="Seed for outcome and fault draws (the same seed gives the same outcome per number "
    "and attempt). Default: a fresh one, printed on start.",
)
@click.option(
    "--callback-faults",
    callback=_outcomes,
    metavar="CHANCES",
    help="Chance per call (0-1) of each callback fault: duplicate, out-of-order, "
    "bad-signature, tampered, stale-timestamp; e.g. duplicate=0.2,out-of-order=0.1.",
)
@click.option(
    "--callback-delay",
    type=click.FloatRange(min=0),
    default=0.0,
    help="Seconds between the status callbacks of a call.",
)
@click.option(
    "--signing-key",
    type=click.Path(dir_okay=False),
    help="Ed25519 private key (PEM or base64 of 32 bytes) to sign callbacks with. Default: a "
    "fresh key pair per start; its public key is printed either way.",
)
@click.option(
    "--callback-allow",
    multiple=True,
    metavar="ADDRESS",
    callback=_allow,
    help="Also send callbacks to this IP address or network (repeatable). Callbacks always "
    "may go to the host that placed the call; names are never looked up.",
)
@click.option(
    "--callback-rate",
    type=click.FloatRange(min=0.1, max=1_000_000),
    default=5000.0,
    show_default=True,
    help="Callbacks per second at most, all calls together.",
)
@click.option(
    "--callback-cap",
    type=click.IntRange(1, 10_000),
    default=32,
    show_default=True,
    help="Callbacks per call at most (the rest are refused and logged).",
)
@click.option(
    "--lookup-delay",
    type=click.FloatRange(0, 86_400),
    default=0.0,
    help="Seconds before a call shows up in GET .../Calls (Telnyx's list is eventually "
    "consistent).",
)
@click.option("--account-sid", help="The account SID lookups answer to (default: a fresh one).")
@click.option(
    "--keep-records",
    type=click.IntRange(1, 10_000_000),
    default=2_000,
    show_default=True,
    help="Records kept in memory (the --log file keeps every one).",
)
@click.option(
    "--keep-calls",
    type=click.IntRange(1, 10_000_000),
    default=10_000,
    show_default=True,
    help="Most recent calls kept for lookups.",
)
@click.option(
    "--max-connections",
    type=click.IntRange(1, 100_000),
    default=256,
    show_default=True,
    help="Connections served at once; later ones wait until one closes.",
)
@click.option(
    "--idle-timeout",
    type=click.FloatRange(min=0.01, max=86_400),
    default=60.0,
    show_default=True,
    help="Seconds a connection may sit idle (or take to send one request) before it is closed.",
)
@click.option("-q", "--quiet", is_flag=True, help="Do not print a line per request.")
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
    outcomes: dict[str, float] | None,
    seed: int | None,
    callback_faults: dict[str, float] | None,
    callback_delay: float,
    signing_key: str | None,
    callback_allow: tuple[str, ...],
    callback_rate: float,
    callback_cap: int,
    lookup_delay: float,
    account_sid: str | None,
    keep_records: int,
    keep_calls: int,
    max_connections: int,
    idle_timeout: float,
    quiet: bool,
    allow_remote_host: bool,
) -> None:
    """Serve a local Telnyx-compatible POST /v2/texml/ai_calls/{connection_id}.

    Point callprofile (or any client) at it with TELNYX_BASE_URL=http://127.0.0.1:8787/v2.
    Missing or malformed bearer tokens get 401, bodies failing the request schema get 422
    with Telnyx's error codes, valid calls get 200 "queued". Each call gets a simulated
    outcome; its status callbacks are signed with Ed25519 and go only to the host that placed
    it. GET /v2/texml/Accounts/{account_sid}/Calls lists the calls placed. Stop with Ctrl-C.
    """
    from runner.sandbox import Sandbox, ScriptError, load_script, parse_spec
    from runner.sandbox.server import is_loopback_host
    from runner.sandbox.signing import KeyFileError

    if not allow_remote_host and not is_loopback_host(host):
        raise click.BadParameter(
            f"{host} is not a loopback address; add --allow-remote-host to listen there anyway",
            param_hint="--host",
        )
    try:
        steps = load_script(script_path) if script_path else []
        steps += [parse_spec(spec) for spec in responds]
        server = Sandbox(
            host=host,
            port=port,
            script=steps,
            latency=latency,
            log_path=log_path,
            on_record=None if quiet else _print_record,
            callback_delay=callback_delay,
            allow_remote=allow_remote_host,
            outcomes=outcomes,
            seed=seed,
            callback_faults=callback_faults,
            signing_key=signing_key,
            callback_allow=callback_allow,
            callback_rate=callback_rate,
            callback_cap=callback_cap,
            lookup_delay=lookup_delay,
            account_sid=account_sid,
            keep_records=keep_records,
            keep_calls=keep_calls,
            max_connections=max_connections,
            idle_timeout=idle_timeout,
        )
    except (ScriptError, KeyFileError) as exc:
        error(str(exc))
        raise CliExit(ExitCode.INVALID) from None
    try:
        server.start()
    except OSError as exc:
        error(f"cannot listen on {host}:{port} ({exc.strerror or exc})")
        raise CliExit(ExitCode.INVALID) from None
    click.echo(f"callprofile sandbox listening on {server.url}")
    click.echo(f"public key: {server.public_key}")
    click.echo(f"account sid: {server.account_sid}")
    click.echo(f"seed: {server.seed}")
    click.echo(f"  export TELNYX_BASE_URL={server.base_url}", err=True)
    click.echo(f"  export TELNYX_PUBLIC_KEY={server.public_key}", err=True)
    try:
        wait_until_stopped()
    finally:
        server.stop(wait_for_callbacks=0.0)
    click.echo(f"stopped after {server.post_count} call request(s)", err=True)


def _print_record(record: dict[str, Any]) -> None:
    # Request paths and callback URLs come from clients and profiles: escape them.
    from runner.cli.output import piece

    kind = record["kind"]
    if kind == "request":
        response = record.get("response") or {}
        if "fault" in response:
            answer = f"fault {response['fault']} (no answer)"
        else:
            answer = str(response.get("status", "?"))
            if response.get("call_sid"):
                answer += f" queued {response['call_sid']}"
            if record.get("outcome"):
                answer += f" ({record['outcome']})"
            if response.get("errors"):
                answer += f" errors {','.join(str(c) for c in response['errors'])}"
        path = piece(str(record["path"]))
        click.echo(f"{record['time']}  {piece(str(record['method']))} {path} -> {piece(answer)}")
    elif kind == "callback":
        url = piece(str(record.get("url", "")))
        if record.get("refused"):
            where = f" to {url}" if record.get("url") else ""
            refused = piece(str(record["refused"]))
            click.echo(f"{record['time']}  callback{where} refused: {refused}")
        else:
            outcome = piece(str(record.get("status", record.get("error"))))
            what = (
                f"CallStatus={record['call_status']}"
                if "call_status" in record
                else f"AnsweredBy={record.get('answered_by')}"
            )
            fault = f" [{record['fault']}]" if record.get("fault") else ""
            click.echo(
                f"{record['time']}  callback {record['event']} ({piece(what)}){fault} "
                f"-> {url}: {outcome}"
            )
    else:
        click.echo(f"{record['time']}  {kind}: {piece(str(record.get('error', '')))}")
