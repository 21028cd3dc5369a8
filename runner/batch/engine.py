"""Run a batch: stream the contacts, validate each row, claim it durably, place the call.

Order for every row (docs/guide/batch.md, "The ledger"): read -> resolve and validate -> record
``pending`` (or ``skipped`` with the reason) -> the calling policy (do-not-call, consent, calling
hours: runner/campaign/guard.py) -> a token from the shared bucket -> the policy again, then the
claim (``dialing``, on disk, with the 24-hour cap) -> POST -> record the answer. The main thread
reads the file and hands rows to a few worker threads through a small queue, so memory stays flat.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Callable, Iterator

from runner.batch import admission, retries, sharing
from runner.batch import contacts as contacts_mod
from runner.batch.dialing import Dialer
from runner.batch.dnc import DoNotCall
from runner.batch.dryrun import dry_run
from runner.batch.identity import batch_id as make_batch_id
from runner.batch.journal import Journal, NoJournal
from runner.batch.ledger import (
    Ledger,
    LedgerError,
    LedgerUnavailable,
    display,
    is_postgres,
    open_ledger,
)
from runner.batch.lock import BatchLock, Busy
from runner.batch.model import (
    BatchBusy,
    Hooks,
    Options,
    Outcome,
    Prepared,
    Progress,
    RowEvent,
    default_ledger,
)
from runner.batch.report import summarise, write_csv
from runner.campaign.guard import Guard
from runner.diagnostics import ProfileError
from runner.flow.compose import Composed, compose
from runner.profiles.store import Store
from runner.templates.render import unset_env

TICK = 0.25  # seconds between checks of Ctrl-C and progress while the main thread waits
ADMIT_BLOCK = 32  # contacts rows read and recorded together (a ledger this process owns)


__all__ = [
    "BatchBusy",
    "Hooks",
    "Options",
    "Outcome",
    "Progress",
    "RowEvent",
    "default_ledger",
    "run",
]


def _rows(opts: Options) -> Iterator[contacts_mod.Row]:
    return contacts_mod.read_rows(opts.contacts, opts.to_column)


def run(store: Store, opts: Options, hooks: Hooks | None = None) -> Outcome:
    """Run (or resume) the batch. Raises ProfileError for input that stops the whole batch
    (unreadable contacts or do-not-call file, broken profile) and BatchBusy.

    The profile is composed once; each row only renders it. A dry run reads the contacts file
    once. A real run reads it twice: once to the end before anything is sent (a file that
    cannot be read to the end is refused before the first call; the pass also gives the row
    count for progress and the sha256 that names the batch), then row by row to send.
    """
    hooks = hooks or Hooks()
    if not opts.dry_run:
        from runner.send import gate

        gate.admit(opts.base_url, opts.api_key)  # before anything is read, claimed or sent
    composed = compose(store, opts.profile, opts.overrides)
    # An unset env.CALLPROFILE_* would make every row fail alike, and rows recorded invalid are
    # never called again: stop the whole batch before anything is recorded.
    unset = unset_env(composed.templates, composed.env)
    if unset:
        raise ProfileError(unset)
    if opts.dry_run:
        dnc = DoNotCall(opts.dnc, opts.region) if opts.dnc else None
        try:
            return dry_run(composed, opts, hooks, _guard(store, opts, hooks, dnc))
        finally:
            if dnc is not None:
                dnc.close()
    scanned = contacts_mod.scan(opts.contacts, opts.to_column)
    assert scanned.sha256 is not None
    dnc = DoNotCall(opts.dnc, opts.region) if opts.dnc else None
    try:
        batch = make_batch_id(
            composed, scanned.sha256, to_column=opts.to_column, region=opts.region
        )
        from runner.batch.ledger import spec

        spec.check(opts.ledger_spec)
        if is_postgres(opts.ledger_spec):
            # Shared: any number of runners cooperate through the database; no file lock.
            guard = _guard(store, opts, hooks, dnc)
            return _run_locked(composed, opts, hooks, batch, scanned, guard)
        lock = BatchLock(opts.ledger_spec, batch)
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
            guard = _guard(store, opts, hooks, dnc)
            return _run_locked(composed, opts, hooks, batch, scanned, guard)
        finally:
            lock.release()
    finally:
        if dnc is not None:
            dnc.close()


def _guard(store: Store, opts: Options, hooks: Hooks, dnc: DoNotCall | None) -> Guard:
    guard = Guard.for_batch(store, opts.profile, opts.window, dnc)
    if guard.replaced:
        hooks.on_notice(f"--window {opts.window} replaces {guard.replaced} for this run")
    return guard


def _run_locked(
    composed: Composed,
    opts: Options,
    hooks: Hooks,
    batch: str,
    scanned: contacts_mod.Contacts,
    guard: Guard,
) -> Outcome:
    ledger = open_ledger(opts.ledger_spec, now=hooks.now, lease=opts.lease)
    total = scanned.count
    runner = ""
    state: Dialer | None = None
    journal: Journal | NoJournal | None = None
    try:
        journal = NoJournal() if ledger.shared else Journal(opts.journal)
        new = ledger.open_batch(batch, opts.profile, opts.contacts, scanned.sha256 or "")
        ledger.set_total(batch, total)
        if not new:
            where = ledger.location if ledger.shared else display(opts.ledger_given)
            hooks.on_notice(f"resuming batch {batch[:12]} from {where}")
        runner = ledger.join(batch, _label(), on_lost=lambda why: hooks.stopper.stop(why, code=6))
        if ledger.shared:
            others = sum(1 for r in ledger.runners(batch) if r.alive and r.runner != runner)
            hooks.on_notice(
                f"runner {runner[:8]} joined batch {batch[:12]} on {ledger.location} "
                f"({others} other runner(s) at work)"
            )
        recovered = ledger.recover_dialing(batch, runner=runner)
        if recovered:
            hooks.on_notice(
                f"{recovered} row(s) were left dialing by a run that ended; they are now "
                "unknown and will not be called again (see --redial-unknown)"
            )
        if opts.redial_unknown:
            again = ledger.redial_unknown(batch)
            if again:
                hooks.on_notice(f"--redial-unknown: {again} unknown row(s) will be called again")
        dnc = guard.dnc
        if dnc is not None:
            ledger.note(batch, "dnc", f"{dnc.path} sha256 {dnc.sha256} ({dnc.count} numbers)")
        if not guard.policy.empty:
            ledger.note(batch, "policy", _policy_note(guard))
        state = Dialer(composed, opts, hooks, batch, total, ledger, runner, guard, journal)
        stopped = _drive(ledger, state)
        if not stopped and state.error is None:
            drive = lambda rows, admit: _drive(ledger, state, rows, admit)  # noqa: E731
            stopped = retries.after_pass(ledger, state, guard.retry, lambda: _rows(opts), drive)
        try:
            summary = summarise(ledger, batch, interrupted=hooks.stopper.interrupted)
            if opts.report:
                try:
                    write_csv(ledger, batch, opts.report)
                except OSError as exc:  # a full disk: the summary still stands
                    hooks.on_notice(f"cannot write the report {opts.report}: {exc.strerror}")
            # The summary is computed; the closing note is only history.
            with contextlib.suppress(LedgerUnavailable):
                ledger.note(batch, "end", stopped or "done")
        except LedgerUnavailable as exc:
            return Outcome(
                None, stopped=stopped, stop_code=6, lost=str(exc), unrecorded=state.unrecorded
            )
        return Outcome(
            summary, stopped=stopped, stop_code=hooks.stopper.code, unrecorded=state.unrecorded
        )
    finally:
        if state is not None:
            state.close_writes()
        if runner:
            # If the database is gone, the runner's lock and lease end with this process.
            with contextlib.suppress(LedgerUnavailable):
                ledger.leave(runner, hooks.stopper.reason or "done")
        ledger.close()
        if journal is not None:
            journal.close()


def _policy_note(guard: Guard) -> str:
    import json

    return json.dumps(guard.policy.as_dict(), ensure_ascii=False, sort_keys=True)


def _label() -> str:
    import socket

    return f"{socket.gethostname()} pid {os.getpid()}"


def _drive(
    ledger: Ledger,
    state: Dialer,
    rows: Callable[[], Iterator[contacts_mod.Row]] | None = None,
    admit_row: Callable[[contacts_mod.Row], Prepared | None] | None = None,
) -> str:
    """Hand the rows to the workers and wait for them. ``rows``/``admit_row`` replace the pass
    over the contacts (a retry round: rows already placed, so not reserved or swept)."""
    opts, hooks, batch = state.opts, state.hooks, state.batch
    stopper = hooks.stopper
    workers = [
        threading.Thread(target=state.worker, args=(ledger,), name=f"batch-worker-{i}", daemon=True)
        for i in range(max(1, opts.concurrency))
    ]
    for worker in workers:
        worker.start()

    def hand_over(job: Prepared) -> bool:
        if not state.budget.reserve(cancelled=lambda: stopper.stopping):
            if state.budget.exhausted:
                stopper.stop(f"--max-calls {opts.max_calls} reached")
            return False
        while not _offer(state, job):
            if stopper.hard.is_set():
                return False
            hooks.on_progress(state.progress)
        return not stopper.hard.is_set()

    def admit(row: contacts_mod.Row) -> Prepared | None:
        job = admit_row(row) if admit_row is not None else admission.admit(ledger, state, row)
        hooks.on_progress(state.progress)
        return job

    # Rows are reserved for this runner a chunk at a time (one row unless the ledger is
    # shared); after the pass, rows no live runner holds any more are adopted (sharing).
    size = sharing.chunk_size(ledger, opts.concurrency, opts.max_calls)
    # The contacts are read and recorded a block at a time (one ledger query and one transaction
    # per block, not two trips through the SQLite ledger's lock per row); --max-calls reads no
    # further than it reaches, and a shared ledger keeps reading row by row as it always has
    # (other runners change the rows meanwhile).
    block = 1 if opts.max_calls is not None or ledger.shared else ADMIT_BLOCK
    jobs: Iterator[Prepared | None] = (
        admission.admitted(ledger, state, _rows(opts), block)
        if rows is None
        else (admit(row) for row in rows())
    )
    try:
        chunk: list[Prepared] = []
        going = True
        for job in jobs:
            if stopper.stopping:
                going = False
                break
            if rows is None:
                hooks.on_progress(state.progress)
            if job is None:
                continue
            if rows is not None:  # a retry: the row is this batch's already
                if not hand_over(job):
                    going = False
                    break
                continue
            chunk.append(job)
            if len(chunk) >= size:
                going = sharing.dispatch(ledger, batch, state.runner, chunk, hand_over)
                chunk = []
                if not going:
                    break
        dispatched = rows is None and going
        if dispatched and sharing.dispatch(ledger, batch, state.runner, chunk, hand_over):
            sharing.sweep(
                ledger,
                batch,
                state.runner,
                rows=lambda: _rows(opts),
                admit=admit,
                hand_over=hand_over,
                stopping=lambda: stopper.stopping,
                wait=stopper.soft.wait,
                chunk=size,
            )
    except LedgerUnavailable as exc:
        state.lose(exc)
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
        # The answers still queued go to disk before the summary (or the hard stop) reads it.
        state.flush_writes()
        if stopper.hard.is_set():
            with state.lock:
                stuck = sorted(state.inflight)
            try:
                ledger.abandon(
                    batch,
                    stuck,
                    "stopped at once by a second Ctrl-C while the call was "
                    "being placed; the call may have been placed",
                )
            except LedgerUnavailable as exc:
                state.lose(exc)
    hooks.on_progress(state.progress)
    if state.error is not None:
        raise state.error
    return stopper.reason


def _offer(state: Dialer, job: Prepared | None) -> bool:
    try:
        state.jobs.put(job, timeout=TICK)
        return True
    except queue.Full:
        return False
