"""Admission: each row read from the contacts file is recorded in the ledger and judged by the
calling policy before it may be handed to a worker (engine.py's order: read -> resolve and
validate -> record ``pending`` (or ``skipped`` with the reason) -> the calling policy).

Rows go through a block at a time: their states in one query and the new ones recorded
``pending`` in one transaction, instead of two trips through the ledger's lock per row (which
the workers' commits hold for milliseconds at a time); what is said about each row is still
said in row order.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from runner.batch import contacts as contacts_mod
from runner.batch.dialing import Dialer
from runner.batch.ledger import CLAIMABLE, Ledger
from runner.batch.model import Prepared, RowEvent, RowInvalid
from runner.batch.rows import prepare_row
from runner.campaign.decide import RowError
from runner.campaign.guard import Guard
from runner.diagnostics import Diagnostic
from runner.phone import mask


def admitted(
    ledger: Ledger, state: Dialer, rows: Iterator[contacts_mod.Row], block: int
) -> Iterator[Prepared | None]:
    """The contacts' rows, each recorded, as its job if it should be dialled now (else None);
    read ``block`` rows at a time while the run is not stopping."""
    stopper = state.hooks.stopper
    while not stopper.stopping:
        taken = list(itertools.islice(rows, block))
        if not taken:
            return
        state.count("scanned", len(taken))
        yield from _admit_block(ledger, state, taken)


def admit(ledger: Ledger, state: Dialer, row: contacts_mod.Row) -> Prepared | None:
    """Record a row read from the file and return it if it should be dialled now."""
    return _admit_block(ledger, state, [row])[0]


def _admit_block(
    ledger: Ledger, state: Dialer, rows: list[contacts_mod.Row]
) -> list[Prepared | None]:
    """``_admit`` for several rows: their states in one query, the new ones recorded pending
    in one transaction; what is said about each row is said in row order."""
    batch = state.batch
    known = ledger.states_of(batch, [row.line for row in rows])
    prepared = [_prepare(state, row, known.get(row.line)) for row in rows]
    fresh = [
        (job.row, job.e164)
        for job in prepared
        if isinstance(job, Prepared) and job.row not in known
    ]
    duplicates = ledger.add_pending_many(batch, fresh)
    out: list[Prepared | None] = []
    for row, job in zip(rows, prepared, strict=True):
        if isinstance(job, RowInvalid):
            _invalid(ledger, state, row.line, known.get(row.line), job)
            job = None
        out.append(None if job is None else _judge(ledger, state, job, duplicates.get(job.row)))
    return out


def _prepare(
    state: Dialer, row: contacts_mod.Row, known: str | None
) -> Prepared | RowInvalid | None:
    """The row's job; or why it is invalid (recorded by the caller, in row order); or None
    when an earlier run settled it."""
    opts = state.opts
    if known is not None and known not in CLAIMABLE:
        state.count("done")
        return None  # placed, failed, skipped or unknown in an earlier run
    try:
        job = prepare_row(state.composed, opts, row)
    except RowInvalid as exc:
        return exc
    try:
        job.facts = state.guard.facts(job.e164, row.values, job.zone)
    except RowError as exc:
        where = f"{opts.contacts} row {row.line}"
        return RowInvalid([Diagnostic(str(exc), exc.code, origin=where)], job.e164)
    return job


def _judge(ledger: Ledger, state: Dialer, job: Prepared, first: int | None) -> Prepared | None:
    """The rest of a row's admission, once it is recorded: ``first`` is the row that already
    holds its number (a duplicate), if any."""
    opts, hooks, batch = state.opts, state.hooks, state.batch
    line = job.row
    if first is not None:
        state.count("skipped")
        state.count("done")
        hooks.on_row(
            RowEvent(line, "duplicate", f"{mask(job.e164)} is also on row {first}; called once")
        )
        return None
    assert job.facts is not None  # set by _prepare
    verdict = state.guard.judge(job.facts, hooks.now())
    if opts.only_rows is not None and line not in opts.only_rows and verdict.action != "skip":
        # apply: the plan did not call this row (its inputs are unchanged, so only a verdict
        # that depends on time can differ); it is not called now either.
        reason = "not in the plan being applied"
        ledger.skip(batch, line, "unplanned", reason)
        state.count("skipped")
        state.count("done")
        hooks.on_row(RowEvent(line, "unplanned", reason))
        return None
    if verdict.action == "skip":
        kind = Guard.skip_kind(verdict)
        ledger.skip(batch, line, kind, verdict.reason())
        state.count("skipped")
        state.count("done")
        hooks.on_row(RowEvent(line, kind, f"{mask(job.e164)}: {verdict.reason()}"))
        return None
    if verdict.action == "defer":
        ledger.defer(batch, line, verdict.reason())
        state.count("deferred")
        state.count("done")
        hooks.on_row(RowEvent(line, "deferred", verdict.reason()))
        return None
    return job


def _invalid(ledger: Ledger, state: Dialer, line: int, known: str | None, exc: RowInvalid) -> None:
    if known is None:
        # The number column as given (E.164 when valid): the report's "to" for this row.
        ledger.add_skipped(state.batch, line, exc.given, "invalid", str(exc))
    else:
        ledger.skip(state.batch, line, "invalid", str(exc))
    state.count("skipped")
    state.count("done")
    state.hooks.on_row(RowEvent(line, "invalid", str(exc), exc.diagnostics))
