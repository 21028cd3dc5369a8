"""Run a batch: stream the contacts, validate each row, claim it durably, place the call.

Order for every row (README, "The ledger"): read -> resolve and validate -> record ``pending``
(or ``skipped`` with the reason) -> guardrails (do-not-call, calling window) -> a token from the
shared bucket -> claim (``dialing``, on disk) -> POST -> record the answer. The main thread reads
the file and hands rows to a few worker threads through a small queue, so memory stays flat.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from runner.batch import contacts as contacts_mod
from runner.batch.budget import Budget
from runner.batch.dnc import DoNotCall
from runner.batch.identity import batch_id as make_batch_id
from runner.batch.ledger import CLAIMABLE, Ledger, LedgerError, utc_now
from runner.batch.lock import BatchLock, Busy
from runner.batch.pacing import DEFAULT_RATE, TokenBucket
from runner.batch.phone import mask
from runner.batch.report import Summary, summarise, write_csv
from runner.batch.rows import Prepared, RowInvalid, prepare_row
from runner.batch.stopping import Stopper
from runner.batch.window import Window, check
from runner.diagnostics import Diagnostic
from runner.profiles.overrides import Overrides
from runner.profiles.store import Store

TICK = 0.25  # seconds between checks of Ctrl-C and progress while the main thread waits
KILL_HOOK = "CALLPROFILE_TEST_KILL_AFTER"  # tests only: "claim:N" or "answer:N"


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
    base_url: str = "https://api.telnyx.com/v2"
    api_key: str = ""
    timeout: float = 15.0
    max_retries: int = 2
    report: str | None = None

    @property
    def ledger_path(self) -> str:
        return self.ledger or default_ledger(self.contacts)


def default_ledger(contacts: str) -> str:
    return f"{contacts}.ledger.db"


@dataclass
class RowEvent:
    """Something the user should see about one row (printed by the CLI)."""

    row: int
    kind: str  # invalid | duplicate | dnc | repeat | deferred | failed | unknown | redial
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
    sleep: Callable[[float], object] | None = None  # waits between retries (default: Ctrl-C-able)
    client: Any = None  # an httpx.Client
    stopper: Stopper = field(default_factory=Stopper)
    on_row: Callable[[RowEvent], None] = lambda event: None
    on_progress: Callable[[Progress], None] = lambda progress: None
    on_dry_run: Callable[[int, str, Any], None] = lambda row, e164, request: None
    on_notice: Callable[[str], None] = lambda text: None


@dataclass
class Outcome:
    summary: Summary | None  # None for a dry run
    dry_run: dict[str, int] = field(default_factory=dict)
    stopped: str = ""  # why the run stopped early, if it did
    stop_code: int | None = None  # the exit code that reason calls for

    def exit_code(self) -> int:
        from runner.exitcodes import ExitCode

        if self.summary is not None:
            code = self.summary.exit_code()
            if self.stop_code is not None and code in (ExitCode.OK, ExitCode.UNREACHABLE):
                return self.stop_code
            return int(code)
        return int(ExitCode.INVALID if self.dry_run.get("invalid") else ExitCode.OK)


class BatchBusy(Exception):
    pass


def _kill_hook() -> tuple[str, int] | None:
    spec = os.environ.get(KILL_HOOK)
    if not spec or ":" not in spec:
        return None
    point, _, count = spec.partition(":")
    return (point, int(count)) if count.isdigit() else None


class _Run:
    """State shared by the main thread and the workers for one run."""

    def __init__(self, store: Store, opts: Options, hooks: Hooks, batch: str, total: int):
        self.store = store
        self.opts = opts
        self.hooks = hooks
        self.batch = batch
        self.progress = Progress(total)
        self.lock = threading.Lock()
        self.inflight: set[int] = set()
        self.budget = Budget(opts.max_calls)
        self.limiter = hooks.limiter or TokenBucket(opts.rate, wait=hooks.stopper.hard.wait)
        # The limiter paces claims; the gate paces the POSTs themselves. A claim is a synced
        # commit, and one slow fsync (100+ ms on a busy disk) holds every worker's claim: without
        # the gate, the rows claimed meanwhile would all be sent at once, a burst above the rate.
        self.gate = hooks.gate or self.limiter.twin()
        self.jobs: queue.Queue[Prepared | None] = queue.Queue(maxsize=max(2, opts.concurrency * 2))
        self.kill = _kill_hook()
        self.claims = 0
        self.answers = 0
        self.error: BaseException | None = None

    def count(self, name: str, by: int = 1) -> None:
        with self.lock:
            setattr(self.progress, name, getattr(self.progress, name) + by)

    # --- workers ---------------------------------------------------------------------------

    def worker(self, ledger: Ledger) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                return
            try:
                self._dial(ledger, job)
            except BaseException as exc:
                self.error = exc
                self.hooks.stopper.stop("internal error")
                return

    def _dial(self, ledger: Ledger, job: Prepared) -> None:
        stopper = self.hooks.stopper
        if stopper.stopping or not self.limiter.acquire(cancelled=lambda: stopper.stopping):
            self.budget.release()
            return
        if self.opts.window is not None:
            verdict = check(self.opts.window, job.e164, self.hooks.now(), job.zone)
            if not verdict.callable:
                ledger.defer(self.batch, job.row, verdict.reason)
                self.count("deferred")
                self.count("done")
                self.budget.release()
                self.hooks.on_row(RowEvent(job.row, "deferred", verdict.reason))
                return
        caller = job.request.body.get("From")
        claim = ledger.claim(
            self.batch, job.row, self.opts.min_interval, caller if isinstance(caller, str) else None
        )
        if claim.outcome != "claimed":
            self.budget.release()
            if claim.outcome == "repeat":
                self.count("skipped")
                self.count("done")
                self.hooks.on_row(RowEvent(job.row, "repeat", claim.reason))
            return
        if not self.gate.acquire(cancelled=lambda: stopper.stopping) or stopper.stopping:
            # Stopped while this row was being claimed: it was not sent, so it may wait.
            ledger.finish(self.batch, job.row, "pending", reason="stopped before sending")
            self.budget.release()
            return
        with self.lock:
            self.inflight.add(job.row)
            self.claims += 1
            claims = self.claims
        self._maybe_die("claim", claims)
        result = self._send(job)
        with self.lock:
            self.answers += 1
            answers = self.answers
        self._maybe_die("answer", answers)
        if self._record(ledger, job, result):
            self.count("done")
        with self.lock:
            self.inflight.discard(job.row)

    def _send(self, job: Prepared) -> Any:
        from runner.send import submit

        hard = self.hooks.stopper.hard

        def pause_everyone(seconds: float) -> None:
            self.limiter.pause(seconds)
            self.gate.pause(seconds)  # rows already claimed wait too
            self.hooks.on_notice(f"Telnyx answered 429: pausing every worker for {seconds:.1f}s")
            self.limiter.acquire(cancelled=hard.is_set)
            self.gate.acquire(cancelled=hard.is_set)

        prepared = submit.prepare(
            job.request.connection_id,
            job.request.body,
            base_url=self.opts.base_url,
            api_key=self.opts.api_key,
        )
        return submit.send(
            prepared,
            client=self.hooks.client,
            max_retries=self.opts.max_retries,
            sleep=self.hooks.sleep or hard.wait,
            wait_for_rate_limit=pause_everyone,
        )

    def _record(self, ledger: Ledger, job: Prepared, result: Any) -> bool:
        """Write the answer for a claimed row; True if the row is settled (not pending again)."""
        from runner.secrets import scrub

        row = job.row
        message = scrub(result.message)
        self.count("sent")
        if result.status == "placed":
            ledger.finish(
                self.batch, row, "placed", call_sid=result.call_sid, http_status=result.http_status
            )
            self.budget.spent()
            self.count("placed")
            return True
        elif result.status == "unknown":
            ledger.finish(
                self.batch, row, "unknown", reason=message, http_status=result.http_status
            )
            self.budget.spent()
            self.count("unknown")
            self.hooks.on_row(RowEvent(row, "unknown", message))
            return True
        elif result.status == "rejected" and result.http_status == 401:
            # A bad API key fails every row alike: nothing was placed, so keep the row.
            ledger.finish(
                self.batch, row, "pending", reason=message, http_status=result.http_status
            )
            self.budget.release()
            self.hooks.stopper.stop("Telnyx refused the API key (401); nothing was placed", code=4)
            return False
        elif result.status == "rejected":
            code = result.errors[0].code if result.errors else None
            detail = "; ".join(
                f"{e.code or '?'} {e.title or ''}: {e.detail or ''}".strip(": ")
                for e in result.errors
            )
            reason = scrub(f"{message}: {detail}" if detail else message)
            ledger.finish(
                self.batch,
                row,
                "failed",
                reason=reason,
                http_status=result.http_status,
                error_code=code,
            )
            self.budget.release()
            self.count("failed")
            self.hooks.on_row(RowEvent(row, "failed", reason))
            return True
        else:  # unreachable: provably never reached Telnyx, so the row may be sent later
            ledger.finish(
                self.batch, row, "pending", reason=message, http_status=result.http_status
            )
            self.budget.release()
            self.hooks.stopper.stop(f"{message}; the row stays pending")
            return False

    def _maybe_die(self, point: str, count: int) -> None:
        # Test hook: end the process the hard way at an exact point of the protocol.
        if self.kill and self.kill[0] == point and count >= self.kill[1]:
            import signal

            os.kill(os.getpid(), signal.SIGKILL)


def _rows(opts: Options) -> Iterator[contacts_mod.Row]:
    return contacts_mod.read_rows(opts.contacts, opts.to_column)


def run(store: Store, opts: Options, hooks: Hooks | None = None) -> Outcome:
    """Run (or resume) the batch. Raises ProfileError for input that stops the whole batch
    (unreadable contacts or do-not-call file, broken profile) and BatchBusy."""
    hooks = hooks or Hooks()
    # Read the whole file once before anything is sent: a file that cannot be read to the end
    # is refused before the first call, and the count drives the progress display.
    total = contacts_mod.count_rows(opts.contacts, opts.to_column)
    dnc = DoNotCall(opts.dnc, opts.region) if opts.dnc else None
    try:
        if opts.dry_run:
            from runner.batch.dryrun import dry_run

            return dry_run(store, opts, hooks, dnc)
        batch = make_batch_id(
            store,
            opts.profile,
            opts.overrides,
            contacts_mod.digest(opts.contacts),
            to_column=opts.to_column,
            region=opts.region,
        )
        lock = BatchLock(opts.ledger_path, batch)
        try:
            lock.acquire()
        except Busy as exc:
            raise BatchBusy(
                f"batch {batch[:12]} is already running ({exc.holder}; lock {exc.path}); "
                "wait for it to finish. Nothing was sent."
            ) from None
        except OSError as exc:
            raise LedgerError(
                f"cannot create the lock file {lock.path}: {exc.strerror}; nothing was sent"
            ) from None
        try:
            return _run_locked(store, opts, hooks, batch, total, dnc)
        finally:
            lock.release()
    finally:
        if dnc is not None:
            dnc.close()


def _run_locked(
    store: Store, opts: Options, hooks: Hooks, batch: str, total: int, dnc: DoNotCall | None
) -> Outcome:
    ledger = Ledger(opts.ledger_path, now=hooks.now)
    try:
        new = ledger.open_batch(
            batch, opts.profile, opts.contacts, contacts_mod.digest(opts.contacts)
        )
        ledger.set_total(batch, total)
        if not new:
            hooks.on_notice(f"resuming batch {batch[:12]} from {opts.ledger_path}")
        recovered = ledger.recover_dialing(batch)
        if recovered:
            hooks.on_notice(
                f"{recovered} row(s) were left dialing by a run that ended; they are now "
                "unknown and will not be called again (see --redial-unknown)"
            )
        if opts.redial_unknown:
            again = ledger.redial_unknown(batch)
            if again:
                hooks.on_notice(f"--redial-unknown: {again} unknown row(s) will be called again")
        if dnc is not None:
            ledger.note(batch, "dnc", f"{dnc.path} sha256 {dnc.sha256} ({dnc.count} numbers)")
        state = _Run(store, opts, hooks, batch, total)
        stopped = _drive(ledger, state, dnc)
        summary = summarise(ledger, batch, interrupted=hooks.stopper.interrupted)
        if opts.report:
            write_csv(ledger, batch, opts.report)
        ledger.note(batch, "end", stopped or "done")
        return Outcome(summary, stopped=stopped, stop_code=hooks.stopper.code)
    finally:
        ledger.close()


def _drive(ledger: Ledger, state: _Run, dnc: DoNotCall | None) -> str:
    opts, hooks, batch = state.opts, state.hooks, state.batch
    stopper = hooks.stopper
    workers = [
        threading.Thread(target=state.worker, args=(ledger,), name=f"batch-worker-{i}", daemon=True)
        for i in range(max(1, opts.concurrency))
    ]
    for worker in workers:
        worker.start()
    try:
        for row in _rows(opts):
            if stopper.stopping:
                break
            state.count("scanned")
            job = _admit(ledger, state, row, dnc)
            hooks.on_progress(state.progress)
            if job is None:
                continue
            if not state.budget.reserve(cancelled=lambda: stopper.stopping):
                if state.budget.exhausted:
                    stopper.stop(f"--max-calls {opts.max_calls} reached")
                break
            while not _offer(state, job):
                if stopper.hard.is_set():
                    break
                hooks.on_progress(state.progress)
            if stopper.hard.is_set():
                break
    except BaseException:
        stopper.stop("stopped by an error")  # workers drop the rows still queued
        raise
    finally:
        for _ in workers:
            while not _offer(state, None):
                if stopper.hard.is_set() or not any(w.is_alive() for w in workers):
                    break
                hooks.on_progress(state.progress)
        for worker in workers:
            while worker.is_alive() and not stopper.hard.is_set():
                worker.join(TICK)
                hooks.on_progress(state.progress)
        if stopper.hard.is_set():
            with state.lock:
                stuck = sorted(state.inflight)
            ledger.abandon(
                batch,
                stuck,
                "stopped at once by a second Ctrl-C while the call was "
                "being placed; the call may have been placed",
            )
    hooks.on_progress(state.progress)
    if state.error is not None:
        raise state.error
    return stopper.reason


def _offer(state: _Run, job: Prepared | None) -> bool:
    try:
        state.jobs.put(job, timeout=TICK)
        return True
    except queue.Full:
        return False


def _admit(
    ledger: Ledger, state: _Run, row: contacts_mod.Row, dnc: DoNotCall | None
) -> Prepared | None:
    """Record a row read from the file and return it if it should be dialled now."""
    opts, hooks, batch = state.opts, state.hooks, state.batch
    known = ledger.state_of(batch, row.line)
    if known is not None and known not in CLAIMABLE:
        state.count("done")
        return None  # placed, failed, skipped or unknown in an earlier run
    try:
        job = prepare_row(state.store, opts, row)
    except RowInvalid as exc:
        if known is None:
            ledger.add_skipped(batch, row.line, exc.e164, "invalid", str(exc))
        else:
            ledger.skip(batch, row.line, "invalid", str(exc))
        state.count("skipped")
        state.count("done")
        hooks.on_row(RowEvent(row.line, "invalid", str(exc), exc.diagnostics))
        return None
    if known is None:
        first = ledger.add_pending(batch, row.line, job.e164)
        if first is not None:
            state.count("skipped")
            state.count("done")
            hooks.on_row(
                RowEvent(
                    row.line, "duplicate", f"{mask(job.e164)} is also on row {first}; called once"
                )
            )
            return None
    if dnc is not None and job.e164 in dnc:
        ledger.skip(batch, row.line, "dnc", f"on the do-not-call list {dnc.path}")
        state.count("skipped")
        state.count("done")
        hooks.on_row(RowEvent(row.line, "dnc", f"{mask(job.e164)} is on the do-not-call list"))
        return None
    if opts.window is not None:
        verdict = check(opts.window, job.e164, hooks.now(), job.zone)
        if not verdict.callable:
            ledger.defer(batch, row.line, verdict.reason)
            state.count("deferred")
            state.count("done")
            hooks.on_row(RowEvent(row.line, "deferred", verdict.reason))
            return None
    return job
