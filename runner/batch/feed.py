"""The main thread's part of a run: read the contacts file, record each row, reserve the rows
this runner will dial and hand them to the workers.

Order for every row (see ``engine``): read -> resolve and validate -> record ``pending`` (or
``skipped`` with the reason) -> guardrails (do-not-call, calling window) -> reserve (a chunk at a
time when several runners share the ledger; ``sharing``) -> a worker. After the pass, a shared
ledger's rows that no live runner holds any more are adopted and dialled too.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from runner.batch import contacts as contacts_mod
from runner.batch import sharing
from runner.batch.dnc import DoNotCall
from runner.batch.ledger import CLAIMABLE, Ledger, LedgerUnavailable
from runner.batch.phone import mask
from runner.batch.rows import Prepared, RowInvalid, prepare_row
from runner.batch.window import check

if TYPE_CHECKING:
    from runner.batch.engine import Options, _Run

TICK = 0.25  # seconds between checks of Ctrl-C and progress while the main thread waits


def rows(opts: Options) -> Iterator[contacts_mod.Row]:
    return contacts_mod.read_rows(opts.contacts, opts.to_column)


def drive(ledger: Ledger, state: _Run, dnc: DoNotCall | None) -> str:
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
        while not offer(state, job):
            if stopper.hard.is_set():
                return False
            hooks.on_progress(state.progress)
        return not stopper.hard.is_set()

    def admit(row: contacts_mod.Row) -> Prepared | None:
        job = admit_row(ledger, state, row, dnc)
        hooks.on_progress(state.progress)
        return job

    size = sharing.chunk_size(ledger, opts.concurrency, opts.max_calls)
    try:
        chunk: list[Prepared] = []
        going = True
        for row in rows(opts):
            if stopper.stopping:
                going = False
                break
            state.count("scanned")
            job = admit(row)
            if job is None:
                continue
            chunk.append(job)
            if len(chunk) >= size:
                going = sharing.dispatch(ledger, batch, state.runner, chunk, hand_over)
                chunk = []
                if not going:
                    break
        if going and sharing.dispatch(ledger, batch, state.runner, chunk, hand_over):
            sharing.sweep(
                ledger,
                batch,
                state.runner,
                rows=lambda: rows(opts),
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
            while not offer(state, None):
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


def offer(state: _Run, job: Prepared | None) -> bool:
    try:
        state.jobs.put(job, timeout=TICK)
        return True
    except queue.Full:
        return False


def admit_row(
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
        state.tell(row.line, "invalid", str(exc), exc.diagnostics)
        return None
    if known is None:
        first = ledger.add_pending(batch, row.line, job.e164)
        if first is not None:
            state.count("skipped")
            state.count("done")
            state.tell(
                row.line, "duplicate", f"{mask(job.e164)} is also on row {first}; called once"
            )
            return None
    if dnc is not None and job.e164 in dnc:
        ledger.skip(batch, row.line, "dnc", f"on the do-not-call list {dnc.path}")
        state.count("skipped")
        state.count("done")
        state.tell(row.line, "dnc", f"{mask(job.e164)} is on the do-not-call list")
        return None
    if opts.window is not None:
        verdict = check(opts.window, job.e164, hooks.now(), job.zone)
        if not verdict.callable:
            ledger.defer(batch, row.line, verdict.reason)
            state.count("deferred")
            state.count("done")
            state.tell(row.line, "deferred", verdict.reason)
            return None
    return job
