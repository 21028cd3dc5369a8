"""A call's outcome, folded from its callbacks: monotonic and independent of arrival order.

Telnyx documents that callbacks may be duplicated and may arrive out of order. The outcome is
therefore a function of the *set* of distinct callbacks (by ``Callback.key``), never of the order
they came in: the callbacks are sorted by a total order first (progress rank, then sequence
number, then event time, then key), so a late ``ringing`` after ``completed`` changes nothing and
any permutation or duplication of the same callbacks gives the same record.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from runner.outcomes.callbacks import Callback

# Progress ranks: a call only moves up. Every terminal status shares the top rank; between two
# terminals (which Telnyx should never send) the higher sequence number, then the later time,
# decides, so the choice is still the same for every arrival order.
RANK = {
    "initiated": 1,
    "ringing": 2,
    "in-progress": 3,
    "completed": 4,
    "busy": 4,
    "no-answer": 4,
    "failed": 4,
    "canceled": 4,
}
TERMINAL = frozenset(s for s, r in RANK.items() if r == 4)
# Between AMD verdicts for one call (DetectMessageEnd sends machine_start, then machine_end_*),
# the more specific one wins; AMD callbacks carry no sequence number or time to order them by.
_AMD_PRECEDENCE = {"unknown": 0, "human": 1, "fax": 2, "machine": 3}

# Outcome categories, as batch-status shows them, in display order.
OUTCOMES = (
    ("human", "answered by a person"),
    ("machine", "answered by a machine"),
    ("answered", "answered (no AMD result)"),
    ("no-answer", "no answer"),
    ("busy", "busy"),
    ("failed", "failed"),
    ("canceled", "canceled"),
    ("awaiting", "awaiting callback"),
)


@dataclass(frozen=True)
class CallRecord:
    call_sid: str
    status: str | None = None
    answered_by: str | None = None
    answered_by_detail: str | None = None
    duration: int | None = None
    attestation: str | None = None
    initiated_at: str | None = None
    answered_at: str | None = None
    ended_at: str | None = None
    status_at: str | None = None  # when the current status happened (the callback's time)
    sequence: int | None = None
    hangup_cause: str | None = None
    account_sid: str | None = None
    callbacks: int = 0  # distinct callbacks folded in

    @property
    def final(self) -> bool:
        return self.status in TERMINAL

    @property
    def outcome(self) -> str:
        return classify(self.status, self.answered_by)


def _order(cb: Callback) -> tuple[int, int, str, str]:
    rank = RANK.get(cb.status or "", 0)
    return (rank, -1 if cb.sequence is None else cb.sequence, cb.occurred_at or "", cb.key)


def _amd_order(cb: Callback) -> tuple[int, str, str]:
    return (_AMD_PRECEDENCE.get(cb.answered_by or "", -1), cb.answered_by_detail or "", cb.key)


def _first(values: Iterable[str | None]) -> str | None:
    found = [v for v in values if v]
    return min(found) if found else None


def _last(values: Iterable[str | None]) -> str | None:
    found = [v for v in values if v]
    return max(found) if found else None


def fold(call_sid: str, callbacks: Iterable[Callback]) -> CallRecord:
    """The record of ``call_sid`` from its callbacks (duplicates and order do not matter)."""
    distinct: dict[str, Callback] = {}
    for cb in callbacks:
        if cb.call_sid != call_sid:
            continue
        seen = distinct.get(cb.key)
        # Two different bodies under one key should not happen; keep a fixed one if they do.
        if seen is None or repr(cb) < repr(seen):
            distinct[cb.key] = cb
    ordered = sorted(distinct.values(), key=_order)
    progress = [cb for cb in ordered if cb.status is not None]
    top = progress[-1] if progress else None
    verdicts = sorted((cb for cb in ordered if cb.answered_by), key=_amd_order)
    amd = verdicts[-1] if verdicts else None
    durations = [cb.duration for cb in ordered if cb.duration is not None]
    attested = [cb.attestation for cb in ordered if cb.attestation]
    accounts = [cb.account_sid for cb in ordered if cb.account_sid]
    ended = _last(cb.ended_at for cb in ordered)
    if ended is None and top is not None and top.status in TERMINAL:
        ended = top.occurred_at
    return CallRecord(
        call_sid=call_sid,
        status=top.status if top else None,
        answered_by=amd.answered_by if amd else None,
        answered_by_detail=amd.answered_by_detail if amd else None,
        duration=max(durations) if durations else None,
        attestation=attested[-1] if attested else None,
        initiated_at=_first(cb.initiated_at or cb.started_at for cb in ordered),
        answered_at=_first(cb.answered_at for cb in ordered),
        ended_at=ended,
        status_at=top.occurred_at if top else None,
        sequence=top.sequence if top else None,
        hangup_cause=top.hangup_cause if top else None,
        account_sid=min(accounts) if accounts else None,
        callbacks=len(distinct),
    )


def classify(status: str | None, answered_by: str | None) -> str:
    """The outcome category of a call (a key of :data:`OUTCOMES`)."""
    if status == "completed":
        if answered_by == "human":
            return "human"
        if answered_by in ("machine", "fax"):
            return "machine"
        return "answered"
    if status in ("no-answer", "busy", "failed", "canceled"):
        return status
    return "awaiting"
