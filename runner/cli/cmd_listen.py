from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import click

from runner.cli.errors import CliExit
from runner.cli.output import error
from runner.cli.serving import wait_until_stopped
from runner.exitcodes import ExitCode

KEY_HELP = (
    "Your account's Ed25519 public key, base64 as Mission Control shows it (Keys & "
    "Credentials) (env: TELNYX_PUBLIC_KEY)."
)
NO_VERIFY_HELP = "Accept unsigned callbacks (loopback hosts only; for local tests)."


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8788,
    show_default=True,
    help="Port to listen on (0: any free port).",
)
@click.option(
    "--ledger",
    metavar="PATH|URL",
    help="Record callbacks against this batch ledger's rows: a file (created if missing) or "
    "the runners' postgresql:// database.",
)
@click.option("--public-key", envvar="TELNYX_PUBLIC_KEY", metavar="KEY", help=KEY_HELP)
@click.option("--no-verify", is_flag=True, help=NO_VERIFY_HELP)
@click.option(
    "--log",
    "log_path",
    type=click.Path(dir_okay=False),
    help="Append one JSON line per request (refused ones included, bodies never) to FILE.",
)
@click.option("--quiet", is_flag=True, help="Print only refused requests and the summary.")
def listen(
    host: str,
    port: int,
    ledger: str | None,
    public_key: str | None,
    no_verify: bool,
    log_path: str | None,
    quiet: bool,
) -> None:
    """Receive Telnyx status and AMD callbacks, verify them, record them in a ledger.

    Point the profile's StatusCallback and AsyncAmdStatusCallback (method POST) at this
    address, through a tunnel or proxy that reaches it. Every callback must carry a valid
    telnyx-signature-ed25519 over its timestamp and raw body; anything else gets 403 and is not
    recorded. Stop with Ctrl-C.
    """
    receiver = open_receiver(
        host=host,
        port=port,
        ledger=ledger,
        public_key=public_key,
        no_verify=no_verify,
        log_path=log_path,
        quiet=quiet,
    )
    click.echo(f"callprofile listen: listening on {receiver.url}")
    try:
        wait_until_stopped()
    finally:
        receiver.stop()
        receiver.journal.close()
    summary = receiver.journal.summary(receiver.still_unmatched)
    click.echo(f"callprofile listen: stopped: {summary}", err=True)


def open_receiver(
    *,
    host: str,
    port: int,
    ledger: str | None,
    public_key: str | None,
    no_verify: bool,
    log_path: str | None,
    quiet: bool,
    printer: Callable[[dict[str, Any]], None] | None = None,
) -> Any:
    """Check the options, open the ledger and the log, and start a receiver (fail closed:
    without a key it does not start, unless --no-verify on a loopback host)."""
    from runner import codes
    from runner.outcomes.receiver import Receiver
    from runner.outcomes.verify import PublicKeyError, Verifier, load_public_key, public_key_text
    from runner.sandbox.server import is_loopback_host

    verifier = None
    if no_verify:
        if not is_loopback_host(host):
            raise click.BadParameter(
                f"--no-verify is accepted only on a loopback host, not {host}: anyone who can "
                f"reach the port could write call outcomes [{codes.NO_VERIFY_REMOTE}]",
                param_hint="--no-verify",
            )
        click.echo(
            "callprofile listen: WARNING: signature verification is OFF (--no-verify): any "
            f"local process can write call outcomes [{codes.VERIFY_OFF}]",
            err=True,
        )
    elif not public_key:
        error(
            "no public key to verify callbacks with: pass --public-key or set TELNYX_PUBLIC_KEY "
            "(Mission Control, Keys & Credentials, Public Key); refusing to start, since a "
            "receiver that does not verify would record forged callbacks (--no-verify exists "
            f"for local tests on loopback) [{codes.NO_PUBLIC_KEY}]",
            codes.NO_PUBLIC_KEY,
        )
        raise CliExit(ExitCode.USAGE)
    else:
        try:
            key = load_public_key(public_key)
        except PublicKeyError as exc:
            raise click.BadParameter(
                f"{exc} [{codes.BAD_PUBLIC_KEY}]", param_hint="--public-key / TELNYX_PUBLIC_KEY"
            ) from None
        verifier = Verifier(key)
        click.echo(
            f"callprofile listen: verifying Ed25519 signatures with key {public_key_text(key)}",
            err=True,
        )
    writer = _writer(ledger) if ledger else None
    try:
        journal = _journal(log_path, printer or _printer(quiet))
    except BaseException:
        if writer is not None:
            writer.stop()
        raise
    receiver = Receiver(host=host, port=port, verifier=verifier, writer=writer, journal=journal)
    try:
        receiver.start()
    except OSError as exc:
        receiver.stop()
        journal.close()
        error(f"cannot listen on {host}:{port} ({exc.strerror or exc})")
        raise CliExit(ExitCode.INVALID) from None
    if ledger:
        click.echo(f"callprofile listen: recording callbacks in {ledger}", err=True)
    return receiver


def _writer(path: str) -> Any:
    from runner.cli.ledger_errors import open_or_exit
    from runner.outcomes.writer import Writer

    book = open_or_exit(path)

    def ledger_error(text: str) -> None:
        click.echo(f"callprofile listen: ledger error: {text}", err=True)

    return Writer(book, on_error=ledger_error)


def _journal(path: str | None, printer: Callable[[dict[str, Any]], None]) -> Any:
    from runner.outcomes.journal import Journal

    try:
        return Journal(path, on_entry=printer)
    except OSError as exc:
        error(f"cannot open the log {path}: {exc.strerror or exc}")
        raise CliExit(ExitCode.INVALID) from None


def _printer(quiet: bool) -> Callable[[dict[str, Any]], None]:
    def show(entry: dict[str, Any]) -> None:
        if entry.get("result") in ("rejected", "error"):
            click.echo(describe(entry), err=True)
        elif not quiet:
            click.echo(describe(entry))

    return show


def describe(entry: dict[str, Any]) -> str:
    """One log entry as a line of text (control characters from the network escaped)."""
    when = str(entry.get("time", ""))[11:23]
    result = entry.get("result", "")
    if result in ("rejected", "error"):
        what = f"{entry.get('method') or '?'} {entry.get('path') or '?'}"
        where = f"{what} from {entry.get('remote')}"
        text = f"{when}  {result} {entry.get('status')} {where}: {entry.get('reason')}"
        text += f" [{entry['code']}]" if entry.get("code") else ""
    else:
        status = entry.get("call_status") or entry.get("kind")
        extra = f" answered by {entry['answered_by']}" if entry.get("answered_by") else ""
        seq = f" seq {entry['sequence']}" if entry.get("sequence") is not None else ""
        text = f"{when}  {result:<9} {entry.get('call_sid')}  {status}{extra}{seq}"
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


# ---------------------------------------------------------------------------- batch --listen


def listen_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``batch``'s options for running the receiver beside the batch."""
    decorators = [
        click.option(
            "--listen",
            metavar="[HOST:]PORT",
            help="Also receive the calls' callbacks while the batch runs (as callprofile "
            "listen, into the same ledger; host 127.0.0.1 unless given).",
        ),
        click.option(
            "--listen-grace",
            type=click.FloatRange(min=0),
            default=30.0,
            show_default=True,
            help="With --listen: seconds to keep receiving after the last call while outcomes "
            "are due.",
        ),
        click.option(
            "--public-key",
            envvar="TELNYX_PUBLIC_KEY",
            metavar="KEY",
            help="With --listen: " + KEY_HELP + " With --sandbox: the sandbox's own key.",
        ),
        click.option("--no-verify", is_flag=True, help="With --listen: " + NO_VERIFY_HELP),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def check_batch_usage(listen: str | None, no_verify: bool, dry_run: bool) -> None:
    if listen and dry_run:
        raise click.UsageError("--listen and --dry-run do not go together")
    if no_verify and not listen:
        raise click.UsageError("--no-verify applies to --listen only")


def parse_address(text: str) -> tuple[str, int]:
    """``PORT`` or ``HOST:PORT`` (``[::1]:PORT`` for IPv6), for ``batch --listen``."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]") if sep else "127.0.0.1"
    if not port.isdigit() or not 0 <= int(port) <= 65535 or (sep and not host):
        raise click.BadParameter(
            f"{text!r} is not PORT or HOST:PORT (e.g. 8788 or 127.0.0.1:8788)",
            param_hint="--listen",
        )
    return host, int(port)


def for_batch(address: str, ledger: str, public_key: str | None, no_verify: bool) -> Any:
    """``batch --listen``: a receiver on ``address`` recording into the batch's ledger."""
    host, port = parse_address(address)
    receiver = open_receiver(
        host=host,
        port=port,
        ledger=ledger,
        public_key=public_key,
        no_verify=no_verify,
        log_path=None,
        quiet=True,
    )
    click.echo(f"callprofile: receiving callbacks on {receiver.url}", err=True)
    return receiver


def stop(receiver: Any) -> None:
    receiver.stop()
    receiver.journal.close()


def outcomes_now(ledger: str, summary: Any) -> Any:
    """The batch's outcomes once the receiver has stored its last callbacks."""
    from runner.cli.ledger_errors import open_or_exit

    book = open_or_exit(ledger, readonly=True)
    try:
        return book.outcome_counts(summary.batch_id)
    finally:
        book.close()


def attempts_now(ledger: str, summary: Any) -> Any:
    """The attempts of the batch's retried rows, with the outcomes stored since the summary."""
    from runner.cli.ledger_errors import open_or_exit

    book = open_or_exit(ledger, readonly=True)
    try:
        return book.attempts(summary.batch_id)
    finally:
        book.close()


def linger(receiver: Any, summary: Any, grace: float) -> None:
    """After the batch: keep receiving while calls it placed still await their final
    callback, for at most ``grace`` seconds (Ctrl-C stops waiting). Not after a dry run or an
    interrupted batch."""
    import time

    writer = receiver.writer
    if writer is None or grace <= 0 or summary is None or summary.interrupted:
        return
    deadline = time.monotonic() + grace
    announced = False
    try:
        while time.monotonic() < deadline:
            waiting = writer.ledger.awaiting_outcomes(summary.batch_id)
            if not waiting:
                return
            if not announced:
                click.echo(
                    f"callprofile: waiting up to {grace:g}s for the final callbacks of "
                    f"{waiting} call(s) (Ctrl-C to stop waiting)",
                    err=True,
                )
                announced = True
            threading.Event().wait(0.2)
    except KeyboardInterrupt:
        click.echo("callprofile: stopped waiting for callbacks", err=True)
