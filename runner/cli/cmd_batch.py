from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import click

from runner.batch.pacing import MAX_RATE
from runner.cli import sandbox_options as local
from runner.cli.cmd_listen import listen_options
from runner.cli.document import CODE_USAGE, output_option
from runner.cli.errors import CliExit
from runner.cli.options import (
    OrderedCommand,
    complete,
    concurrency_option,
    override_options,
    overrides_from,
    redial_unknown_option,
    report_option,
    sending_options,
    store_from,
)
from runner.cli.output import error
from runner.cli.sandbox_options import sandbox_options
from runner.exitcodes import ExitCode

if TYPE_CHECKING:
    from runner.batch.model import Options
    from runner.batch.window import Window
    from runner.profiles.store import Store

MAX_SAFE_RATE = 25.0  # burst 1 + 5 s x 25 = 126 dials, under Telnyx's default 150 per 5 s
# Testing seam, like cmd_run.wait: the clock the batch is paced by and the wait used for pacing,
# 429 pauses and retries. Tests replace both with a fake clock, so a Retry-After costs no real
# time. ``wait`` None: waits that a second Ctrl-C cuts short.
clock: Callable[[], float] = time.monotonic
wait: Callable[[float], object] | None = None
# Testing seam: the wall clock of the ledger's stamps, calling windows and retry schedules, so a
# test can move a batch hours ahead (campaign.retry's ``after``) without waiting.
now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)  # noqa: E731
MAX_INTERVAL_DAYS = 3650  # ten years: the ledger's clock arithmetic stays in range
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str, param_hint: str = "--min-interval") -> timedelta:
    match = _DURATION.match(text)
    if not match:
        raise click.BadParameter(
            f"{text!r} is not a duration like 24h, 90m, 1d or 0", param_hint=param_hint
        )
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds > MAX_INTERVAL_DAYS * 86400:
        raise click.BadParameter(
            f"{text!r} is longer than {MAX_INTERVAL_DAYS} days", param_hint="--min-interval"
        )
    return timedelta(seconds=seconds)


def parse_window(text: str | None) -> Window | None:
    if text is None:
        return None
    from runner.batch.window import Window, WindowError

    try:
        return Window.parse(text)
    except WindowError as exc:
        raise click.BadParameter(str(exc), param_hint="--window") from None


@click.command(cls=OrderedCommand)
@click.argument("name", shell_complete=complete("profile_names"))
@click.option(
    "--contacts",
    required=True,
    type=click.Path(dir_okay=False),
    help="CSV (with a header row) or JSON lines: one row per call.",
)
@override_options
@click.option("--to-column", default="to", show_default=True, help="Column with the number.")
@click.option("--region", metavar="CC", help="Region for numbers without +, e.g. US.")
@click.option(
    "--ledger",
    metavar="PATH|URL",
    help="Ledger file, or a postgresql:// URL shared by several runners "
    "[default: CONTACTS.ledger.db beside the contacts file].",
)
@click.option(
    "--lease",
    type=click.FloatRange(min=1.0, max=3600.0),
    default=30.0,
    show_default=True,
    help="PostgreSQL ledger: seconds without a heartbeat before the other runners take this "
    "one for dead (its calls in flight become unknown, its other rows go to them).",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0.01, max=MAX_RATE),
    default=10.0,
    show_default=True,
    help="Calls per second, shared by all workers (over 25 only if Telnyx raised your limit).",
)
@concurrency_option
@click.option("--window", metavar="HH:MM-HH:MM", help="Calling window in the callee's local time.")
@click.option("--dnc", type=click.Path(dir_okay=False), help="Do-not-call list: E.164, one a line.")
@click.option("--max-calls", type=click.IntRange(min=1), help="Stop after N calls placed.")
@click.option(
    "--min-interval",
    default="24h",
    show_default=True,
    help="Skip a number called by another batch this recently (0 disables).",
)
@redial_unknown_option
@click.option(
    "--follow",
    is_flag=True,
    help="Keep running to place the retries the profile's campaign.retry earns, until none is "
    "left or the calling window closes.",
)
@click.option("--dry-run", is_flag=True, help="Validate every row, print what would be sent.")
@click.option(
    "--jobs",
    type=click.IntRange(min=1, max=64),
    help="--dry-run: processes that check rows of a long file [default: one per CPU].",
)
@sandbox_options
@report_option
@listen_options
@output_option("text", "json")
@sending_options
@click.pass_context
def batch(
    ctx: click.Context,
    name: str,
    contacts: str,
    to_column: str,
    region: str | None,
    ledger: str | None,
    lease: float,
    rate: float,
    concurrency: int,
    window: str | None,
    dnc: str | None,
    max_calls: int | None,
    min_interval: str,
    redial_unknown: bool,
    follow: bool,
    dry_run: bool,
    jobs: int | None,
    sandbox: bool,
    sandbox_script: str | None,
    sandbox_log: str | None,
    report: str | None,
    listen: str | None,
    listen_grace: float,
    public_key: str | None,
    no_verify: bool,
    output: str,
    base_url: str | None,
    timeout: float,
    max_retries: int,
    show_secrets: bool,
    **params: Any,
) -> None:
    """Call every contact in --contacts with profile NAME, each exactly once.

    Run the same command again to resume: rows already placed, failed or skipped are not sent
    again. Example: callprofile batch appointment-reminder --contacts today.csv --window 09:00-20:00
    """
    from runner import secrets
    from runner.batch import engine
    from runner.send import submit

    if params.get("to") is not None:
        raise click.UsageError("batch takes each number from the contacts file; drop --to")
    local.check_usage(
        ctx,
        sandbox=sandbox,
        script=sandbox_script,
        log=sandbox_log,
        dry_run=dry_run,
        base_url=base_url,
    )
    if sandbox and ledger:
        raise click.UsageError(
            "a --sandbox batch keeps its own ledger (CONTACTS.sandbox.ledger.db), so its calls "
            "never count as real ones; drop --ledger"
        )
    if jobs is not None and not dry_run:
        raise click.UsageError("--jobs applies to --dry-run only (--concurrency sets the calls)")
    overrides = overrides_from(ctx, params)
    if rate > MAX_SAFE_RATE:
        click.echo(
            f"callprofile: warning: --rate {rate:g} is above {MAX_SAFE_RATE:g}/s; Telnyx's default "
            "limit is 30 dials/s over a rolling 5 s window, so expect 429 pauses unless your "
            "limit was raised",
            err=True,
        )
    steps = local.steps(sandbox_script) if sandbox else []
    key = local.SANDBOX_KEY if sandbox else secrets.api_key()
    if not dry_run and not key:
        error(
            "TELNYX_API_KEY is not set; export your Telnyx API key, or add --sandbox to try the "
            "batch against a local sandbox (nothing was sent)",
            CODE_USAGE,
        )
        raise CliExit(ExitCode.USAGE)
    opts = engine.Options(
        profile=name,
        contacts=contacts,
        overrides=overrides,
        ledger=ledger or (sandbox_ledger(contacts) if sandbox else None),
        lease=lease,
        to_column=to_column,
        region=region.upper() if region else None,
        rate=rate,
        concurrency=concurrency,
        window=parse_window(window),
        dnc=dnc,
        max_calls=max_calls,
        min_interval=parse_duration(min_interval),
        redial_unknown=redial_unknown,
        dry_run=dry_run,
        jobs=jobs,
        base_url=base_url or os.environ.get("TELNYX_BASE_URL") or submit.DEFAULT_BASE_URL,
        api_key=key or "",
        timeout=timeout,
        max_retries=max_retries,
        report=report,
        journal=sandbox_journal() if sandbox else None,
        follow=follow,
    )
    if follow and dry_run:
        raise click.UsageError("--follow and --dry-run do not go together")
    _refuse_overwriting_inputs(ctx, opts)
    from runner.cli import cmd_listen

    cmd_listen.check_batch_usage(listen, no_verify, dry_run)
    execute(
        store_from(ctx),
        opts,
        show_secrets,
        output=output,
        sandbox_steps=steps if sandbox else None,
        sandbox_log=sandbox_log,
        listen=listen,
        listen_grace=listen_grace,
        public_key=public_key,
        no_verify=no_verify,
    )


def execute(
    store: Store,
    opts: Options,
    show_secrets: bool,
    *,
    output: str = "text",
    sandbox_steps: list[Any] | None = None,
    sandbox_log: str | None = None,
    listen: str | None = None,
    listen_grace: float = 30.0,
    public_key: str | None = None,
    no_verify: bool = False,
) -> None:
    """Run the batch ``opts`` describes and print what happens; raises CliExit with the code.
    Shared by batch and apply (which runs a plan's rows through the same machinery).
    ``sandbox_steps``: send to a sandbox started for the run (None: to ``opts.base_url``).
    ``listen``: also receive the calls' callbacks there (see ``cmd_listen.for_batch``)."""
    from runner.batch import engine
    from runner.batch.pacing import TokenBucket
    from runner.cli import cmd_listen, pipes
    from runner.cli.batch_view import View
    from runner.send import submit
    from runner.send.gate import GateClosed

    view = View(opts.contacts, show_secrets, opts, as_json=output == "json")
    if output == "json" and opts.dry_run:
        from runner.cli.document import Stream

        head = {"dry_run": True, "profile": opts.profile, "contacts": opts.contacts}
        view.stream = Stream("calls", head, reveal=show_secrets)
    hooks = engine.Hooks(
        now=now,
        on_row=view.guarded(view.row),
        on_progress=view.guarded(view.progress),
        on_dry_run=view.guarded(view.dry_run),
        # The JSON document is written item by item from the requests: one process.
        dry_run_text=view.dry_run_text if view.stream is None else None,
        on_dry_run_text=view.guarded(view.dry_run_line),
        on_notice=view.guarded(view.notice),
    )
    view.stopper = hooks.stopper
    hooks.limiter = TokenBucket(opts.rate, clock=clock, wait=wait or hooks.stopper.hard.wait)
    hooks.sleep = wait
    client = (
        None
        if opts.dry_run
        else submit.make_client(submit.Timeouts(read=opts.timeout), opts.concurrency)
    )
    hooks.client = client
    receiver = None
    with ExitStack() as stack:
        # Registered first, so it runs last: a sandbox stops first, delivering its remaining
        # callbacks (an AMD verdict can come after the final status) while the receiver listens.
        stack.callback(lambda: cmd_listen.stop(receiver) if receiver is not None else None)
        sandbox_key = None
        if sandbox_steps is not None:
            server = stack.enter_context(local.running(sandbox_steps, sandbox_log))
            opts.base_url, sandbox_key = server.base_url, server.public_key
        if listen:
            # With --sandbox the callbacks come from the sandbox: its own key verifies them.
            key_text = sandbox_key or public_key
            receiver = cmd_listen.for_batch(listen, opts.ledger_given, key_text, no_verify)
            hooks.wake = receiver.writer.recorded if receiver.writer is not None else None
        hooks.stopper.install(view.guarded(view.interrupted))
        try:
            outcome = engine.run(store, opts, hooks)
        except GateClosed as closed:
            error(closed.message, closed.diagnostic)
            raise CliExit(closed.code) from None
        except engine.BatchBusy as exc:
            error(str(exc))
            raise CliExit(ExitCode.UNREACHABLE) from None
        except Exception as exc:
            from runner.batch.ledger import LedgerError
            from runner.cli.ledger_errors import fail

            if isinstance(exc, LedgerError):
                raise fail(exc) from None
            raise
        finally:
            hooks.stopper.restore()
            view.close()
            if client is not None and not hooks.stopper.hard.is_set():
                client.close()
        if receiver is not None:
            cmd_listen.linger(receiver, outcome.summary, listen_grace)
    if receiver is not None and outcome.summary is not None:
        # The summary was taken when the last call was answered; the outcomes came after.
        outcome.summary.outcomes = cmd_listen.outcomes_now(opts.ledger_given, outcome.summary)
        outcome.summary.retried = cmd_listen.attempts_now(opts.ledger_given, outcome.summary)
    if outcome.summary is not None:
        pipes.settled(outcome.exit_code())  # a closed pipe from here on keeps this code
    view.finish(outcome)
    if receiver is not None:
        summary = receiver.journal.summary(receiver.still_unmatched)
        click.echo(f"callprofile: callbacks: {summary}", err=True)
    raise CliExit(outcome.exit_code())


def sandbox_ledger(contacts: str) -> str:
    """A sandbox batch's ledger: never the real one, where its "placed" rows would stop the real
    batch from calling anyone (same batch id) and trip the repeat guard."""
    return f"{contacts}.sandbox.ledger.db"


def sandbox_journal() -> str:
    """A sandbox batch's journal of recent calls, apart from the real one for the same reason."""
    from runner.batch.journal import default_path

    return default_path().replace(".db", ".sandbox.db")


def _refuse_overwriting_inputs(ctx: click.Context, opts: Any) -> None:
    """--report and --ledger are written: neither may be a file the batch reads."""
    from runner import overwrite
    from runner.batch.ledger import is_postgres

    inputs = [("--contacts", opts.contacts), ("--dnc", opts.dnc or "")]
    inputs += [("-f", p) for p in opts.overrides.values_files]
    inputs += [("--vars-file", p) for p in opts.overrides.vars_files]
    inputs += overwrite.profile_files(str(store_from(ctx).root))
    shared = is_postgres(opts.ledger_spec)
    if opts.ledger and not shared:
        hit = overwrite.clash(opts.ledger, inputs)
        if hit:
            raise click.UsageError(f"--ledger {opts.ledger} is {hit}; nothing was written")
    if opts.report:
        ledger = [] if shared else overwrite.ledger_files("the ledger", opts.ledger_spec)
        hit = overwrite.clash(opts.report, [*inputs, *ledger])
        if hit:
            raise click.UsageError(
                f"--report {opts.report} is {hit}, which the report would replace; "
                "nothing was sent or written"
            )


# Each row brings its own number; --to comes with the shared override options but is refused.
for _param in batch.params:
    if isinstance(_param, click.Option) and _param.name == "to":
        _param.hidden = True
