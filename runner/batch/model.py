"""The batch's shared types: its options, the hooks a front end or a test may replace, the
events and progress it reports, and what a run returns. Every batch module imports these from
here, so none imports another for its types."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from runner.batch.ledger import utc_now
from runner.batch.pacing import DEFAULT_RATE, TokenBucket
from runner.batch.stopping import Stopper
from runner.batch.window import Window
from runner.diagnostics import Diagnostic
from runner.profiles.overrides import Overrides

if TYPE_CHECKING:
    import httpx

    from runner.batch.report import Summary
    from runner.campaign.verdict import Facts
    from runner.flow.request import Request
    from runner.send.submit import HttpRequest


@dataclass
class Options:
    profile: str
    contacts: str
    overrides: Overrides = field(default_factory=Overrides)
    ledger: str | None = None
    to_column: str = "to"
    region: str | None = None
    rate: float = DEFAULT_RATE
    concurrency: int = 4
    window: Window | None = None
    dnc: str | None = None
    max_calls: int | None = None
    min_interval: timedelta = timedelta(hours=24)
    redial_unknown: bool = False
    dry_run: bool = False
    jobs: int | None = None  # processes for a dry run (None: one per CPU, for long files)
    base_url: str = "https://api.telnyx.com/v2"
    api_key: str = ""
    timeout: float = 15.0
    max_retries: int = 2
    report: str | None = None
    # apply: only these rows may be dialled (the plan's), rendered as of the plan's time.
    only_rows: frozenset[int] | None = None
    render_now: datetime | None = None
    lease: float | None = None  # seconds; a shared (PostgreSQL) ledger's runner lease
    journal: str | None = None  # the journal of recent calls (default: in the state directory)
    follow: bool = False  # keep placing the retries campaign.retry earns (runner.batch.retries)

    @property
    def ledger_spec(self) -> str:
        """A SQLite file path or a postgresql:// URL. A file is named as the file it is: a
        symlink or another spelling of the same path reaches the same ledger and lock."""
        from runner.batch.ledger.spec import is_url

        if self.ledger is None:
            return default_ledger(self.contacts)
        return self.ledger if is_url(self.ledger) else os.path.realpath(self.ledger)

    @property
    def ledger_given(self) -> str:
        """The ledger as the user named it (or its default), for messages."""
        return self.ledger or f"{self.contacts}.ledger.db"


def default_ledger(contacts: str) -> str:
    """Beside the contacts file itself (a symlink's target), not beside the link."""
    return f"{os.path.realpath(contacts)}.ledger.db"


@dataclass
class RowEvent:
    """Something the user should see about one row (printed by the CLI)."""

    row: int
    kind: str  # invalid | duplicate | dnc | policy | repeat | deferred | failed | unknown | ...
    message: str
    diagnostics: list[Diagnostic] = field(default_factory=list)


@dataclass
class Progress:
    total: int
    scanned: int = 0
    done: int = 0  # rows settled, in this run or an earlier one
    placed: int = 0
    failed: int = 0
    unknown: int = 0
    skipped: int = 0
    deferred: int = 0
    sent: int = 0  # POSTs answered in this run (for the rate)


@dataclass
class Hooks:
    """Everything a test (or another front end) may replace."""

    now: Callable[[], datetime] = utc_now  # wall clock: windows and ledger stamps
    limiter: TokenBucket | None = None
    gate: TokenBucket | None = None  # paces the POSTs (default: the limiter's twin)
    # Waits between send retries and for a retry due later (--follow); default: Ctrl-C-able.
    sleep: Callable[[float], object] | None = None
    client: httpx.Client | None = None
    stopper: Stopper = field(default_factory=Stopper)
    on_row: Callable[[RowEvent], None] = lambda event: None
    on_progress: Callable[[Progress], None] = lambda progress: None
    on_dry_run: Callable[[int, str, Any], None] = lambda row, e164, request: None
    # A dry run in several processes (runner.batch.dryfan): ``dry_run_text`` turns a row's
    # request into its output line in a worker, ``on_dry_run_text`` writes that line in the
    # main process, in row order. Without both, a dry run stays in one process.
    dry_run_text: Callable[[int, str, Any], str] | None = None
    on_dry_run_text: Callable[[int, str, str], None] = lambda row, e164, text: None
    on_notice: Callable[[str], None] = lambda text: None
    wake: threading.Event | None = None  # set when a call outcome is recorded (batch --listen)


@dataclass
class Outcome:
    summary: Summary | None  # None for a dry run
    dry_run: dict[str, int] = field(default_factory=dict)
    stopped: str = ""  # why the run stopped early, if it did
    stop_code: int | None = None  # the exit code that reason calls for
    lost: str = ""  # the ledger's database was lost (no summary could be read)
    unrecorded: list[str] = field(default_factory=list)  # answers the ledger could not take

    def exit_code(self) -> int:
        from runner.exitcodes import ExitCode

        if self.lost and self.summary is None:
            return int(ExitCode.UNREACHABLE)
        if self.summary is not None:
            code = self.summary.exit_code()
            # "Not finished" from a stop (e.g. the ledger was lost) is moot when the batch is in
            # fact finished: other runners of a shared ledger completed it.
            finished = code == ExitCode.OK and self.stop_code == ExitCode.UNREACHABLE
            if self.stop_code is not None and code in (ExitCode.OK, ExitCode.UNREACHABLE):
                return int(code) if finished else self.stop_code
            return int(code)
        if self.stop_code is not None:  # a dry run stopped early (Ctrl-C)
            return self.stop_code
        return int(ExitCode.INVALID if self.dry_run.get("invalid") else ExitCode.OK)


class BatchBusy(Exception):
    pass


@dataclass
class Prepared:
    row: int
    e164: str
    zone: str | None
    request: Request
    facts: Facts | None = None  # what the calling policy knows about the callee
    http: HttpRequest | None = None  # the exact request, built before the row is claimed
    retry: tuple[int, str] | None = None  # a retry: (its attempt number, the previous call_sid)


class RowInvalid(Exception):
    def __init__(
        self, diagnostics: list[Diagnostic], e164: str | None = None, given: str | None = None
    ):
        self.diagnostics = diagnostics
        self.e164 = e164
        # What the row holds in its number column: the report shows it for a row whose number
        # is not usable, so the user can find the row and fix it.
        self.given = e164 or given
        super().__init__("; ".join(f"{d.message} [{d.code}]" for d in diagnostics))
