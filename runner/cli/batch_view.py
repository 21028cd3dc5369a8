"""What a batch prints: row problems and progress on stderr, the summary on stdout.

A reader that goes away mid-batch (``batch ... 2>&1 | head``) must not crash a worker between
a claim and its answer: every write is guarded, and a closed stream stops the batch the way a
first Ctrl-C does (no new calls; calls in flight finish and are recorded), so the ledger stays
consistent and every row is accounted for. A dry run has nothing in flight: it just ends.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from runner.cli import advice
from runner.cli.output import piece, print_diagnostics, safe_json
from runner.exitcodes import ExitCode

if TYPE_CHECKING:
    from runner.batch.model import Options, Outcome, Progress, RowEvent
    from runner.flow.request import Request

MAX_ROW_LINES = 100  # per-row lines on stderr before the rest is left to --report
OUTPUT_BLOCK = 256  # dry-run lines written at once when stdout is not a terminal
PLAIN_EVERY = 10.0  # seconds between progress lines when stderr is not a terminal
RATE_WINDOW = 10.0  # seconds of progress the current rate and the ETA are measured over


class View:
    """Everything the batch prints: row problems and progress on stderr, results on stdout."""

    def __init__(self, contacts: str, show_secrets: bool, opts: Options, as_json: bool = False):
        self.contacts = contacts
        self.show_secrets = show_secrets
        self.opts = opts
        self.as_json = as_json
        self.stream: Any = None  # the dry run's JSON document, streamed call by call
        self.events: list[dict[str, Any]] = []  # row events for the JSON document (capped)
        self.invalid_shown = 0  # invalid rows described on stderr in this run
        self._lock = threading.Lock()
        self.samples: deque[tuple[float, int, int]] = deque()  # (time, rows done, POSTs sent)
        self.lines = 0
        self.hidden = 0
        self.started = time.monotonic()
        self.last = self.started
        self.tty = sys.stderr.isatty() and not opts.dry_run
        self.bar: Any = None
        self.done = 0
        self.stopper: Any = None  # the batch's Stopper, set once the hooks exist
        self.closed = False  # stdout or stderr lost its reader
        self.pending: list[str] = []  # dry-run lines not written yet
        self.tty_out = sys.stdout.isatty()
        self.mask: Callable[[str], str] | None = None  # secrets.Masker, made at the first line

    def guarded(self, write: Callable[..., None]) -> Callable[..., None]:
        """``write``, made safe against a reader that went away (see the module docstring)."""

        def call(*args: Any) -> None:
            if self.closed:
                return
            try:
                write(*args)
            except BrokenPipeError:
                if self.opts.dry_run:
                    raise  # nothing in flight: the command ends quietly (exit 141)
                from runner.cli import pipes

                self.closed = True
                pipes.silence()
                if self.stopper is not None:
                    self.stopper.stop("the output was closed (a pipe's reader went away)")

        return call

    def notice(self, text: str) -> None:
        from runner.secrets import scrub

        self._err(f"callprofile: {piece(scrub(text))}")

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
        with self._lock:
            if event.kind == "invalid":
                self.invalid_shown += 1
            if self.lines >= MAX_ROW_LINES:
                self.hidden += 1
                return
            self.lines += 1
            message = event.message
            if event.diagnostics:  # with the column or flag that fixes it, as stderr says
                advised = advice.advise_all(event.diagnostics, advice.ROWS)
                message = "; ".join(f"{d.message} [{d.code}]" for d in advised)
            self.events.append({"row": event.row, "kind": event.kind, "message": scrub(message)})
        where = f"{self.contacts} row {event.row}"
        if event.kind == "invalid" and event.diagnostics:
            shown = []
            for diag in advice.advise_all(event.diagnostics, advice.ROWS):
                if diag.origin == where and diag.file is None:
                    shown.append(diag)
                else:
                    self._err(f"{where}: {piece(scrub(diag.text()))}")
            self.write_pending()
            print_diagnostics(shown, advice.ROWS)
            return
        self._err(f"{where}: {event.kind}: {piece(scrub(event.message))}")

    def dry_run(self, row: int, e164: str, request: Request) -> None:
        if self.stream is not None:
            connection_id = request.shown_connection_id(self.show_secrets)
            body = request.redacted_body(self.show_secrets)
            self.stream.item({"row": row, "to": e164, "connection_id": connection_id, "body": body})
            return
        self.dry_run_line(row, e164, self.dry_run_text(row, e164, request))

    def dry_run_text(self, row: int, e164: str, request: Request) -> str:
        """A row's output line, before masking: the part of printing a dry-run row that needs
        only the row (a worker process of a long dry run makes it; runner.batch.dryfan)."""
        connection_id = request.shown_connection_id(self.show_secrets)
        body = request.redacted_body(self.show_secrets)
        # The body's JSON is the request's own when nothing in it is hidden (encoded once).
        body_json = request.body_json() if body is request.body else None
        return safe_json(dry_run_line(row, e164, connection_id, body, body_json))

    def dry_run_line(self, row: int, e164: str, text: str) -> None:
        """Print a row's line from ``dry_run_text``, masked with every secret remembered so far
        (so in row order, in the main process)."""
        # Lines are gathered and written in blocks: click.echo flushes every line, a system
        # call per row, which costs more than building the row. A terminal gets each line,
        # and anything written to stderr first writes the lines gathered so far.
        if self.mask is None:
            from runner.secrets import Masker

            self.mask = Masker(self.show_secrets)
        self.pending.append(self.mask(text))
        if self.tty_out or len(self.pending) >= OUTPUT_BLOCK:
            self.write_pending()

    def write_pending(self) -> None:
        if self.pending:
            self.pending.append("")
            text = "\n".join(self.pending)
            self.pending.clear()
            click.echo(text, nl=False)

    def progress(self, p: Progress) -> None:
        now = time.monotonic()
        if self.tty:
            if self.bar is None:
                self.bar = click.progressbar(
                    length=max(1, p.total),
                    label="calling",
                    file=sys.stderr,
                    item_show_func=lambda text: text,
                    show_eta=False,  # our own ETA, from the recent rate, is in the status
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
        rate, eta = self._pace(p)
        return (
            f"placed {p.placed} failed {p.failed} unknown {p.unknown} skipped {p.skipped} "
            f"deferred {p.deferred} {rate:.1f}/s eta {eta}"
        )

    def _pace(self, p: Progress) -> tuple[float, str]:
        """Calls per second over the last RATE_WINDOW seconds, and the time left at the pace
        rows are settling now (rows skipped or deferred settle without a call)."""
        now = time.monotonic()
        self.samples.append((now, p.done, p.sent))
        while len(self.samples) > 2 and now - self.samples[1][0] >= RATE_WINDOW:
            self.samples.popleft()
        then, done_then, sent_then = self.samples[0]
        span = now - then
        if span <= 0:
            span = max(1e-6, now - self.started)
            done_then = sent_then = 0
        rate = (p.sent - sent_then) / span
        settling = (p.done - done_then) / span
        left = max(0, p.total - p.done)
        if not left:
            return rate, "0s"
        if settling <= 0:
            return rate, "?"
        return rate, _duration(left / settling)

    def close(self) -> None:
        self.guarded(self.write_pending)()
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None

    def finish(self, outcome: Outcome) -> None:
        if self.hidden:
            self._err(f"... {self.hidden} more row message(s); see --report or batch-status")
        code = outcome.exit_code()
        for line in outcome.unrecorded:
            # Telnyx answered, but the ledger could not take the answer: say it here, once.
            self._err(f"callprofile: not recorded in the ledger: {line}")
        if outcome.summary is None and outcome.lost:
            self._err(f"callprofile: stopped early: {outcome.lost}")
            self._err(closing(outcome, self))
            if self.as_json:
                from runner.cli.document import emit

                emit(
                    code,
                    {
                        "batch": None,
                        "stopped": outcome.lost,
                        "unrecorded": outcome.unrecorded,
                        "report": None,
                        "row_events": self.events,
                    },
                )
            return
        if outcome.summary is None:
            s = outcome.dry_run
            if outcome.stopped:
                self._err(f"callprofile: stopped early: {piece(outcome.stopped)}")
            click.echo(
                f"dry run: {s['rows']} rows: {s['send']} would be sent, {s['invalid']} invalid, "
                f"{s['duplicate']} duplicate, {s['dnc']} on the do-not-call list, "
                + (f"{s['policy']} refused by the calling policy, " if s.get("policy") else "")
                + f"{s['deferred']} outside the window now. Nothing was sent or recorded.",
                err=True,
            )
            if self.stream is not None:
                self.stream.end(code, {"counts": dict(s), "row_events": self.events})
            return
        if self.as_json:
            for line in outcome.summary.lines():
                self._err(line)
        else:
            for line in outcome.summary.lines():
                click.echo(line)
        if outcome.stopped and outcome.stopped != "done":
            self._err(f"callprofile: stopped early: {piece(outcome.stopped)}")
        self._err(closing(outcome, self))
        if self.opts.report:
            self._err(f"callprofile: report written to {self.opts.report}")
        if self.as_json:
            from runner.cli.document import emit

            emit(
                code,
                {
                    "batch": outcome.summary.as_dict(),
                    "stopped": outcome.stopped if outcome.stopped != "done" else None,
                    "unrecorded": outcome.unrecorded,
                    "report": self.opts.report,
                    "row_events": self.events,
                },
            )

    def _err(self, text: str) -> None:
        # The dry-run lines before it first: a reader of both streams sees them in order.
        self.write_pending()
        click.echo(text, err=True)


def dry_run_line(
    row: int, e164: str, connection_id: str, body: Any, body_json: str | None = None
) -> str:
    """``json.dumps({"row": row, "to": e164, "connection_id": connection_id, "body": body},
    ensure_ascii=False)``, with ``body_json`` (the body already encoded that way) spliced in
    rather than encoded again (tests/adversarial/test_dryrun_fastpaths.py)."""
    if body_json is None:
        return json.dumps(
            {"row": row, "to": e164, "connection_id": connection_id, "body": body},
            ensure_ascii=False,
        )
    to, cid = _JSON_STRING(e164), _JSON_STRING(connection_id)
    return f'{{"row": {int(row)}, "to": {to}, "connection_id": {cid}, "body": {body_json}}}'


_JSON_STRING = json.JSONEncoder(ensure_ascii=False).encode


def _duration(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def closing(outcome: Outcome, view: View | None = None) -> str:
    """The last line: what the exit code means for this run. Exit 4 has two causes, and a
    401 that stopped the batch must not be reported as rows rejected by Telnyx. "See above"
    only when this run printed the invalid rows (a resumed batch recorded them earlier)."""
    code = outcome.exit_code()
    if outcome.lost and code == ExitCode.UNREACHABLE:
        return (
            "callprofile: the ledger database was lost, so the batch is not finished; run the "
            "same command again when it is back (no row is called twice)"
        )
    if code == ExitCode.INVALID and view is not None and not view.invalid_shown:
        from runner.batch.ledger import display

        ledger = display(view.opts.ledger_given)
        return (
            "callprofile: some rows are invalid and were not called (recorded in an earlier "
            f"run: see callprofile batch-status --ledger {ledger} --report FILE.csv)"
        )
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
