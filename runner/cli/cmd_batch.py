from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import click

from runner.cli import advice
from runner.cli.errors import CliExit
from runner.cli.options import (
    OrderedCommand,
    override_options,
    overrides_from,
    sending_options,
    store_from,
)
from runner.cli.output import error, print_diagnostics
from runner.exitcodes import ExitCode

if TYPE_CHECKING:
    from runner.batch.model import Options, Outcome, Progress, RowEvent
    from runner.batch.window import Window
    from runner.flow.request import Request

MAX_SAFE_RATE = 25.0  # burst 1 + 5 s x 25 = 126 dials, under Telnyx's default 150 per 5 s
MAX_ROW_LINES = 100  # per-row lines on stderr before the rest is left to --report
OUTPUT_BLOCK = 256  # dry-run lines written at once when stdout is not a terminal
PLAIN_EVERY = 10.0  # seconds between progress lines when stderr is not a terminal
# Testing seam, like cmd_run.wait: the clock the batch is paced by and the wait used for pacing,
# 429 pauses and retries. Tests replace both with a fake clock, so a Retry-After costs no real
# time. ``wait`` None: waits that a second Ctrl-C cuts short.
clock: Callable[[], float] = time.monotonic
wait: Callable[[float], object] | None = None
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    match = _DURATION.match(text)
    if not match:
        raise click.BadParameter(
            f"{text!r} is not a duration like 24h, 90m, 1d or 0", param_hint="--min-interval"
        )
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def parse_window(text: str | None) -> Window | None:
    if text is None:
        return None
    from runner.batch.window import Window, WindowError

    try:
        return Window.parse(text)
    except WindowError as exc:
        raise click.BadParameter(str(exc), param_hint="--window") from None


@click.command(cls=OrderedCommand)
@click.argument("name")
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
    type=click.Path(dir_okay=False),
    help="Ledger file [default: CONTACTS.ledger.db beside the contacts file].",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0.01, max=1000.0),
    default=10.0,
    show_default=True,
    help="Calls per second, shared by all workers (over 25 only if Telnyx raised your limit).",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1, max=32),
    default=4,
    show_default=True,
    help="Requests in flight at once.",
)
@click.option("--window", metavar="HH:MM-HH:MM", help="Calling window in the callee's local time.")
@click.option("--dnc", type=click.Path(dir_okay=False), help="Do-not-call list: E.164, one a line.")
@click.option("--max-calls", type=click.IntRange(min=1), help="Stop after N calls placed.")
@click.option(
    "--min-interval",
    default="24h",
    show_default=True,
    help="Skip a number called by another batch this recently (0 disables).",
)
@click.option(
    "--redial-unknown", is_flag=True, help="Call rows whose outcome is unknown again (logged)."
)
@click.option("--dry-run", is_flag=True, help="Validate every row, print what would be sent.")
@click.option("--report", type=click.Path(dir_okay=False), help="Write each row's state as CSV.")
@sending_options
@click.pass_context
def batch(
    ctx: click.Context,
    name: str,
    contacts: str,
    to_column: str,
    region: str | None,
    ledger: str | None,
    rate: float,
    concurrency: int,
    window: str | None,
    dnc: str | None,
    max_calls: int | None,
    min_interval: str,
    redial_unknown: bool,
    dry_run: bool,
    report: str | None,
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
    from runner.batch.pacing import TokenBucket
    from runner.send import submit

    if params.get("to") is not None:
        raise click.UsageError("batch takes each number from the contacts file; drop --to")
    overrides = overrides_from(ctx, params)
    if rate > MAX_SAFE_RATE:
        click.echo(
            f"callprofile: warning: --rate {rate:g} is above {MAX_SAFE_RATE:g}/s; Telnyx's default "
            "limit is 30 dials/s over a rolling 5 s window, so expect 429 pauses unless your "
            "limit was raised",
            err=True,
        )
    key = secrets.api_key()
    if not dry_run and not key:
        error("TELNYX_API_KEY is not set; export your Telnyx API key (nothing was sent)")
        raise CliExit(ExitCode.USAGE)
    opts = engine.Options(
        profile=name,
        contacts=contacts,
        overrides=overrides,
        ledger=ledger,
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
        base_url=base_url or os.environ.get("TELNYX_BASE_URL") or submit.DEFAULT_BASE_URL,
        api_key=key or "",
        timeout=timeout,
        max_retries=max_retries,
        report=report,
    )
    view = _View(contacts, show_secrets, opts)
    hooks = engine.Hooks(
        on_row=view.row,
        on_progress=view.progress,
        on_dry_run=view.dry_run,
        on_notice=view.notice,
    )
    hooks.limiter = TokenBucket(rate, clock=clock, wait=wait or hooks.stopper.hard.wait)
    hooks.sleep = wait
    client = None if dry_run else submit.make_client(submit.Timeouts(read=timeout), concurrency)
    hooks.client = client
    hooks.stopper.install(view.interrupted)
    try:
        outcome = engine.run(store_from(ctx), opts, hooks)
    except engine.BatchBusy as exc:
        error(str(exc))
        raise CliExit(ExitCode.UNREACHABLE) from None
    except Exception as exc:
        from runner.batch.ledger import LedgerError

        if isinstance(exc, LedgerError):
            error(str(exc))
            raise CliExit(ExitCode.INVALID) from None
        raise
    finally:
        hooks.stopper.restore()
        view.close()
        if client is not None and not hooks.stopper.hard.is_set():
            client.close()
    view.finish(outcome)
    raise CliExit(outcome.exit_code())


class _View:
    """Everything the batch prints: row problems and progress on stderr, results on stdout."""

    def __init__(self, contacts: str, show_secrets: bool, opts: Options):
        self.contacts = contacts
        self.show_secrets = show_secrets
        self.opts = opts
        self.lines = 0
        self.hidden = 0
        self.started = time.monotonic()
        self.last = self.started
        self.tty = sys.stderr.isatty() and not opts.dry_run
        self.bar: Any = None
        self.done = 0
        self.pending: list[str] = []
        self.tty_out = sys.stdout.isatty()

    def notice(self, text: str) -> None:
        from runner.secrets import scrub

        self._err(f"callprofile: {scrub(text)}")

    def interrupted(self, hard: bool) -> None:
        if hard:
            self._err("callprofile: stopping now; calls in flight are recorded as unknown")
        else:
            self._err(
                "callprofile: stopping: no new calls; waiting for calls in flight "
                "(Ctrl-C again to stop at once)"
            )

    def row(self, event: RowEvent) -> None:
        from runner.secrets import scrub

        if event.kind == "deferred":
            return  # counted in the summary; one line per row would drown the rest
        if self.lines >= MAX_ROW_LINES:
            self.hidden += 1
            return
        self.lines += 1
        where = f"{self.contacts} row {event.row}"
        if event.kind == "invalid" and event.diagnostics:
            shown = []
            for diag in advice.advise_all(event.diagnostics, advice.ROWS):
                if diag.origin == where and diag.file is None:
                    shown.append(diag)
                else:
                    self._err(f"{where}: {scrub(diag.text())}")
            print_diagnostics(shown, advice.ROWS)
            return
        self._err(f"{where}: {event.kind}: {scrub(event.message)}")

    def dry_run(self, row: int, e164: str, request: Request) -> None:
        from runner.secrets import scrub

        line = {
            "row": row,
            "to": e164,
            "connection_id": request.shown_connection_id(self.show_secrets),
            "body": request.redacted_body(self.show_secrets),
        }
        text = json.dumps(line, ensure_ascii=False)
        # Lines are gathered and written in blocks: click.echo flushes every line, a system
        # call per row, which costs more than building the row. A terminal gets each line.
        self.pending.append(text if self.show_secrets else scrub(text))
        if self.tty_out or len(self.pending) >= OUTPUT_BLOCK:
            self._write_pending()

    def _write_pending(self) -> None:
        if self.pending:
            self.pending.append("")
            click.echo("\n".join(self.pending), nl=False)
            self.pending.clear()

    def progress(self, p: Progress) -> None:
        now = time.monotonic()
        if self.tty:
            if self.bar is None:
                self.bar = click.progressbar(
                    length=max(1, p.total),
                    label="calling",
                    file=sys.stderr,
                    item_show_func=lambda text: text,
                    show_eta=False,
                )
                self.bar.__enter__()
            if now - self.last >= 0.2 or p.done == p.total:
                self.last = now
                self.bar.update(p.done - self.done, self._status(p))
                self.done = p.done
            return
        if now - self.last >= PLAIN_EVERY:
            self.last = now
            self._err(f"progress: {p.done}/{p.total} rows done, {self._status(p)}")

    def _status(self, p: Progress) -> str:
        elapsed = max(1e-6, time.monotonic() - self.started)
        return (
            f"placed {p.placed} failed {p.failed} unknown {p.unknown} skipped {p.skipped} "
            f"deferred {p.deferred} {p.sent / elapsed:.1f}/s"
        )

    def close(self) -> None:
        self._write_pending()
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None

    def finish(self, outcome: Outcome) -> None:
        if self.hidden:
            self._err(f"... {self.hidden} more row message(s); see --report or batch-status")
        if outcome.summary is None:
            s = outcome.dry_run
            click.echo(
                f"dry run: {s['rows']} rows: {s['send']} would be sent, {s['invalid']} invalid, "
                f"{s['duplicate']} duplicate, {s['dnc']} on the do-not-call list, "
                f"{s['deferred']} outside the window now. Nothing was sent or recorded.",
                err=True,
            )
            return
        for line in outcome.summary.lines():
            click.echo(line)
        if outcome.stopped and outcome.stopped != "done":
            self._err(f"callprofile: stopped early: {outcome.stopped}")
        self._err(closing(outcome))
        if self.opts.report:
            self._err(f"callprofile: report written to {self.opts.report}")

    def _err(self, text: str) -> None:
        click.echo(text, err=True)


def closing(outcome: Outcome) -> str:
    """The last line: what the exit code means for this run. Exit 4 has two causes, and a
    401 that stopped the batch must not be reported as rows rejected by Telnyx."""
    code = outcome.exit_code()
    failed = outcome.summary.counts.get("failed", 0) if outcome.summary is not None else 0
    if code == ExitCode.REJECTED and outcome.stop_code == ExitCode.REJECTED:
        text = (
            "callprofile: Telnyx refused the API key (401), so the batch stopped; the rows not "
            "called stay pending: fix TELNYX_API_KEY and run the same command again"
        )
        if failed:
            text += f" ({failed} row(s) were rejected by Telnyx before that and are not retried)"
        return text
    return explain(code)


def explain(code: int) -> str:
    return {
        0: "callprofile: done: every row was placed or deliberately skipped",
        1: "callprofile: some rows are invalid and were not called (fix them; see above)",
        4: "callprofile: some calls were rejected by Telnyx (failed rows are not retried)",
        5: "callprofile: some rows ended unknown: the call may have been placed; check before "
        "using --redial-unknown",
        6: "callprofile: the batch is not finished (rows pending or deferred); run the same "
        "command again later",
        130: "callprofile: interrupted; run the same command again to resume",
    }.get(code, f"callprofile: exit {code}")


# Each row brings its own number; --to comes with the shared override options but is refused.
for _param in batch.params:
    if isinstance(_param, click.Option) and _param.name == "to":
        _param.hidden = True
