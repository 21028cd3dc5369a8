"""One contacts row of a dry run checked on its own: everything that does not depend on the
other rows (render, validate, the policy's facts and verdict, and in a worker process the output
line). runner.batch.dryrun settles the rest in row order.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from runner.batch.contacts import Row
from runner.batch.model import Hooks, Options, RowInvalid
from runner.batch.rows import prepare_row
from runner.campaign.decide import RowError
from runner.campaign.guard import Guard
from runner.diagnostics import Diagnostic
from runner.flow.compose import Composed
from runner.phone import mask

REFUSED = "refused"  # the row itself cannot be sent (settled before the duplicate check)
SEND = "send"
DEFERRED = "deferred"

# One checked row: (line, kind, e164, payload, diagnostics, secrets). ``kind`` is REFUSED, SEND,
# DEFERRED or the ledger's skip kind (dnc, policy, invalid); ``payload`` is the message, or for
# SEND the request (in this process) or its output line (from a worker); ``secrets`` are the
# request's secret values, which this process must remember before it prints anything after.
Checked = tuple[int, str, str, Any, list[Diagnostic], tuple[str, ...]]


def check(
    composed: Composed, opts: Options, guard: Guard, hooks: Hooks, row: Row, as_text: bool
) -> Checked:
    """Everything about one row that does not depend on the other rows."""
    try:
        job = prepare_row(composed, opts, row)
    except RowInvalid as exc:
        return (row.line, REFUSED, "", str(exc), exc.diagnostics, ())
    found = tuple(job.request.secret_values()) if as_text else ()
    try:
        facts = guard.facts(job.e164, row.values, job.zone)
    except RowError as bad:
        where = f"{opts.contacts} row {row.line}"
        diagnostics = [Diagnostic(str(bad), bad.code, origin=where)]
        return (row.line, REFUSED, job.e164, str(bad), diagnostics, found)
    verdict = guard.judge(facts, hooks.now())
    if verdict.action == "skip":
        kind = guard.skip_kind(verdict)
        return (row.line, kind, job.e164, f"{mask(job.e164)}: {verdict.reason()}", [], found)
    if verdict.action == "defer":
        return (row.line, DEFERRED, job.e164, verdict.reason(), [], found)
    if as_text:
        assert hooks.dry_run_text is not None
        return (
            row.line,
            SEND,
            job.e164,
            hooks.dry_run_text(row.line, job.e164, job.request),
            [],
            found,
        )
    return (row.line, SEND, job.e164, job.request, [], found)


def serial(
    composed: Composed, opts: Options, guard: Guard, hooks: Hooks, rows: Iterable[Row]
) -> Iterator[Checked]:
    for row in rows:
        yield check(composed, opts, guard, hooks, row, False)
