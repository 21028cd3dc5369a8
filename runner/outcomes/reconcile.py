"""Settle ``unknown`` rows from the source of truth: Telnyx's own list of calls.

A row is ``unknown`` when its POST may have reached Telnyx but no trustworthy answer came back
(a timeout, a 5xx, a crash between the claim and the answer). Telnyx's create call has no
idempotency key, so looking the call up is the only honest way to decide. For each such row:

* exactly one call to the row's number (from the row's From, when known) that started at or
  after the claim: the row is ``placed`` with that call_sid;
* none, and the claim is older than the safety margin (the list is eventually consistent):
  ``not-placed``, which ``--redial-unknown`` calls again;
* none, but inside the margin: the row stays ``unknown`` (look again later);
* more than one: reported, recorded as ``placed`` (the earliest), never redialled.

Every decision, with the query and the calls found, is written to the ledger's event log.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from runner import codes
from runner.outcomes.calls_api import FoundCall, Listing, LookupError_

DEFAULT_MARGIN = timedelta(minutes=10)
# Telnyx's clock and ours may differ a little; a call "started" slightly before the claim is
# still ours (nothing else of this batch called the number then).
CLOCK_SKEW = timedelta(seconds=60)

PLACED = "placed"
NOT_PLACED = "not-placed"
SEVERAL = "several"
WAIT = "wait"
FAILED = "lookup-failed"


@dataclass
class Decision:
    batch_id: str
    row_no: int
    e164: str
    verdict: str  # placed | not-placed | several | wait | lookup-failed
    message: str
    call_sid: str | None = None
    found: list[FoundCall] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)
    code: str | None = None
    applied: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "batch": self.batch_id,
            "row": self.row_no,
            "to": self.e164,
            "verdict": self.verdict,
            "call_sid": self.call_sid,
            "message": self.message,
            "code": self.code,
            "applied": self.applied,
            "found": [c.as_dict() for c in self.found],
        }


def parse_stamp(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _digits(number: str) -> str:
    return "".join(c for c in number if c.isdigit())


def matches(call: FoundCall, row: dict[str, Any], claimed: datetime) -> bool:
    """Whether ``call`` can be the one the row's POST placed."""
    if _digits(call.to) != _digits(row["e164"] or ""):
        return False
    if row.get("from_e164") and _digits(call.from_) != _digits(row["from_e164"]):
        return False
    started = parse_stamp(call.start_time) or parse_stamp(call.created)
    # A call whose start is not given cannot be ruled out: counting it errs towards "placed"
    # (never towards a second call).
    return started is None or started >= claimed - CLOCK_SKEW


def decide(row: dict[str, Any], listing: Listing, now: datetime, margin: timedelta) -> Decision:
    """The verdict for one unknown row, from the calls Telnyx listed (pure: no I/O)."""
    claimed = parse_stamp(row.get("sent_at")) or now
    found = sorted(
        (c for c in listing.calls if matches(c, row, claimed)),
        key=lambda c: (c.start_time or c.created or "", c.sid),
    )
    found = list({c.sid: c for c in found}.values())  # a call on two pages counts once
    age = now - claimed
    evidence: dict[str, Any] = {
        "query": listing.query,
        "pages": listing.pages,
        "complete": listing.complete,
        "claimed_at": row.get("sent_at"),
        "checked_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "margin_s": int(margin.total_seconds()),
        "found": [c.as_dict() for c in found],
    }
    base = Decision(row["batch_id"], int(row["row_no"]), row["e164"] or "", "", "")
    base.found, base.evidence = found, evidence
    if len(found) == 1:
        call = found[0]
        base.verdict, base.call_sid = PLACED, call.sid
        base.message = (
            f"placed: Telnyx lists call {call.sid} ({call.status or 'status not given'}, "
            f"started {call.start_time or call.created or 'at an unlisted time'})"
        )
    elif len(found) > 1:
        base.verdict, base.call_sid, base.code = SEVERAL, found[0].sid, codes.SEVERAL_CALLS
        base.message = (
            f"{len(found)} calls to this number since the claim ("
            + ", ".join(c.sid for c in found)
            + f"): recorded as placed ({found[0].sid}); never redialled; check them"
        )
    elif not listing.complete:
        base.verdict, base.code = WAIT, codes.LOOKUP_FAILED
        base.message = "the call list has more pages than callprofile reads; left unknown"
    elif age >= margin:
        base.verdict = NOT_PLACED
        base.message = (
            f"not placed: no call to this number in Telnyx's call list {_minutes(age)} after "
            "the claim; call it again with --redial-unknown"
        )
    else:
        later = (claimed + margin).strftime("%H:%M:%SZ")
        base.verdict, base.code = WAIT, codes.LOOKUP_TOO_RECENT
        base.message = (
            f"no call listed yet, but the claim is only {_minutes(age)} old and the list may "
            f"lag (margin {_minutes(margin)}); left unknown: run again after {later}"
        )
    return base


def _minutes(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 120:
        return f"{seconds}s"
    return f"{seconds // 60}m"


def apply(ledger: Any, decision: Decision) -> bool:
    """Write the decision (and its evidence) to the ledger; True if the row changed."""
    kind = f"reconcile-{decision.verdict}"
    evidence = {**decision.evidence, "verdict": decision.verdict, "message": decision.message}
    if decision.verdict in (PLACED, SEVERAL):
        return bool(
            ledger.settle_unknown(
                decision.batch_id,
                decision.row_no,
                "placed",
                call_sid=decision.call_sid,
                reason=f"batch-reconcile: {decision.message}",
                kind=kind,
                evidence=evidence,
            )
        )
    if decision.verdict == NOT_PLACED:
        return bool(
            ledger.settle_unknown(
                decision.batch_id,
                decision.row_no,
                "not-placed",
                call_sid=None,
                reason=f"batch-reconcile: {decision.message}",
                kind=kind,
                evidence=evidence,
            )
        )
    ledger.note_row(decision.batch_id, decision.row_no, kind, evidence)
    return False


def reconcile_rows(
    ledger: Any,
    rows: list[dict[str, Any]],
    lookup: Callable[[dict[str, Any]], Listing],
    *,
    now: Callable[[], datetime],
    margin: timedelta = DEFAULT_MARGIN,
    dry_run: bool = False,
    on_decision: Callable[[Decision], None] = lambda d: None,
) -> tuple[list[Decision], LookupError_ | None]:
    """Decide (and unless ``dry_run``, record) each unknown row. Stops at the first lookup that
    Telnyx refuses outright (a bad key or account fails every row alike); returns the
    decisions and that error."""
    decisions: list[Decision] = []
    for row in rows:
        try:
            listing = lookup(row)
        except LookupError_ as exc:
            decision = Decision(
                row["batch_id"],
                int(row["row_no"]),
                row["e164"] or "",
                FAILED,
                f"could not look the call up: {exc.message}; left unknown",
                code=codes.LOOKUP_FAILED,
                evidence={"error": exc.message, "http_status": exc.http_status},
            )
            if not dry_run:
                apply(ledger, decision)
            decisions.append(decision)
            on_decision(decision)
            if exc.kind == "rejected":
                return decisions, exc
            continue
        decision = decide(row, listing, now(), margin)
        if not dry_run:
            decision.applied = apply(ledger, decision)
        decisions.append(decision)
        on_decision(decision)
    return decisions, None
