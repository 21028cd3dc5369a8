"""Outcome-aware retries (``campaign.retry``): after a batch's pass over its contacts, call again
the rows whose FINAL outcome is known and earns another attempt.

A row qualifies when its current attempt was placed, its final status arrived (from callbacks
that ``listen`` or ``batch --listen`` recorded, or a reconciled call), its outcome is one of
``on``, it has had fewer than ``max_attempts`` attempts in this batch, and ``after`` has passed
since the attempt was placed. A row whose outcome never arrived is never retried by this rule.
The calling policy still judges the row when its turn comes (calling hours, quiet days, the
do-not-call list), and the ledger checks the 24-hour cap in the same transaction as the retry's
own claim (``Ledger.claim_retry``), which names the attempt it supersedes: a retry is placed at
most once, whatever crashes or other runners do.

``--follow`` keeps going: it waits for the earliest due retry, or for new outcomes (the
in-process receiver wakes it at once; it also looks at the ledger every few seconds), and ends when
nothing is left that this run could still place: no retry due later, no call that could still
earn one awaiting its outcome (for at most ``OUTCOME_WAIT`` after it was placed), and rows whose
calling window closed are left for a later run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from runner.batch.model import Prepared, RowEvent, RowInvalid
from runner.batch.rows import prepare_row
from runner.campaign.decide import RowError

if TYPE_CHECKING:
    from runner.batch.contacts import Row
    from runner.batch.dialing import Dialer
    from runner.batch.ledger import Ledger
    from runner.campaign.retry import RetryRule

OUTCOME_WAIT = timedelta(minutes=15)  # how long --follow waits for a call's final status
LEDGER_POLL = 2.0  # seconds between looks at the ledger while waiting for call outcomes


@dataclass
class Schedule:
    due: dict[int, tuple[int, str]] = field(default_factory=dict)  # row -> (attempt, prev sid)
    later: datetime | None = None  # the earliest retry due later
    awaiting: datetime | None = None  # when the first outcome still awaited is given up


def schedule(
    candidates: list[dict[str, Any]], rule: RetryRule, now: datetime, held: set[int]
) -> Schedule:
    """Which rows are due for a retry now, and when the next thing worth waiting for is."""
    out = Schedule()
    for row in candidates:
        if row["row_no"] in held or row["attempt"] >= rule.max_attempts:
            continue
        sent = _utc(row["sent_at"])
        if row["outcome"] is None:
            give_up = sent + OUTCOME_WAIT
            if give_up > now:
                out.awaiting = give_up if out.awaiting is None else min(out.awaiting, give_up)
            continue
        if row["outcome"] not in rule.on:
            continue
        due = sent + rule.after
        if due <= now:
            out.due[row["row_no"]] = (row["attempt"] + 1, row["call_sid"])
        else:
            out.later = due if out.later is None else min(out.later, due)
    return out


def _utc(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


Drive = Callable[[Callable[[], Iterator[Any]], Callable[[Any], Prepared | None]], str]


def after_pass(
    ledger: Ledger,
    state: Dialer,
    rule: RetryRule | None,
    rows: Callable[[], Iterator[Row]],
    drive: Drive,
) -> str:
    """After the batch's pass over its contacts: the retries the profile's rule earns."""
    opts, hooks = state.opts, state.hooks
    if rule is None:
        if opts.follow:
            hooks.on_notice(f"--follow: profile {opts.profile} declares no campaign.retry")
        return ""
    return run(ledger, state, rule, rows, drive, follow=opts.follow, wake=hooks.wake)


def run(
    ledger: Ledger,
    state: Dialer,
    rule: RetryRule,
    rows: Callable[[], Iterator[Row]],
    drive: Drive,
    *,
    follow: bool,
    wake: threading.Event | None,
) -> str:
    """Retry rounds until none is due (or, with ``follow``, until nothing is left to wait for);
    the reason the run stopped early, or ''."""
    hooks, batch = state.hooks, state.batch
    stopper = hooks.stopper
    held: set[int] = set()  # rows this run offers no further retry (see below)
    announced = ""
    while not stopper.stopping:
        if wake is not None:
            wake.clear()
        plan = schedule(ledger.retry_candidates(batch), rule, hooks.now(), held)
        if plan.due:
            offered = dict(plan.due)
            stopped = _round(state, rows, drive, dict(plan.due))
            if stopped:
                return stopped
            # Each due attempt is offered once per run: a row still at the attempt it was
            # offered at was not placed (its window closed, the 24-hour cap, the row changed)
            # and is left for a later run.
            now_at = {
                c["row_no"]: (c["attempt"] + 1, c["call_sid"])
                for c in (ledger.retry_candidates(batch))
            }
            held.update(r for r, retry in offered.items() if now_at.get(r) == retry)
            continue
        if not follow:
            return ""
        until = min((t for t in (plan.later, plan.awaiting) if t is not None), default=None)
        if until is None:
            return ""
        seconds = max(0.0, (until - hooks.now()).total_seconds())
        if until == plan.later:
            notice = f"--follow: waiting for the next retry, due {until:%Y-%m-%dT%H:%M:%SZ}"
        else:
            notice = f"--follow: waiting for call outcomes (at most until {until:%H:%M:%SZ})"
        if notice != announced:
            hooks.on_notice(notice)
            announced = notice
        if until == plan.later and hooks.sleep is not None:
            # The batch's own wait (a test's clock moves with it): the schedule is time alone.
            hooks.sleep(seconds)
            continue
        # Outcomes come from outside, in real time: the receiver's wake-up ends the wait at
        # once; a look at the ledger every LEDGER_POLL catches the rest (a separate listen,
        # callbacks matched to their row after they arrived).
        _wait(min(seconds, LEDGER_POLL), wake, stopper.soft)
    return stopper.reason


def _round(
    state: Dialer, rows: Callable[[], Iterator[Row]], drive: Drive, due: dict[int, Any]
) -> str:
    return drive(
        lambda: (r for r in rows() if r.line in due),
        lambda row: _admit(state, row, due.pop(row.line)),
    )


def _wait(seconds: float, wake: threading.Event | None, soft: threading.Event) -> None:
    """Until ``seconds`` pass, an outcome is recorded (``wake``) or the run is stopped."""
    if wake is None:
        soft.wait(seconds)
        return
    waited = 0.0
    # Both events end the wait; neither can be waited on together, so take short turns on one.
    while waited < seconds and not wake.is_set() and not soft.is_set():
        turn = min(0.1, seconds - waited)
        wake.wait(turn)
        waited += turn


def _admit(state: Dialer, row: Row, retry: tuple[int, str]) -> Prepared | None:
    """A due row read from the contacts again, judged by the calling policy now."""
    hooks, opts = state.hooks, state.opts
    try:
        job = prepare_row(state.composed, opts, row)
        job.facts = state.guard.facts(job.e164, row.values, job.zone)
    except (RowInvalid, RowError) as exc:
        # The contacts row changed since it was called (the batch id would differ): not retried.
        hooks.on_row(RowEvent(row.line, "retry", f"not retried: {exc}"))
        return None
    verdict = state.guard.judge(job.facts, hooks.now())
    if not verdict.callable:
        hooks.on_row(RowEvent(row.line, "retry", f"attempt {retry[0]} waits: {verdict.reason()}"))
        return None
    job.retry = retry
    hooks.on_row(RowEvent(row.line, "retry", f"attempt {retry[0]} (retry)"))
    return job
