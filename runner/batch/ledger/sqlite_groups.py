"""The SQLite ledger's group write: the answers and claims of one group commit in a few
statements, not several per row.

``SqliteRows.write_group`` (one transaction, one fsync) hands its rows here. What each row comes
to is what the single-row operations decide (``SqliteRows._finish_row`` and ``_claim_row``, which
the rarer cases still use: a repeat the journal found, the 24-hour cap); the common case, a
claimable row no other batch called within ``--min-interval``, is read for the whole group in
one query and written with one statement for all of them (each statement is a trip through
SQLite that lets other threads take the interpreter, and the workers wait for this commit).
The group's rows are written at one time stamp: they are committed together.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from runner.batch.ledger.base import CALLED, CLAIMABLE, Claim, stamp
from runner.batch.ledger.groups import ClaimAsk, Finish

# Telnyx's answer for a claimed row (each row of a group here, one row in sqlite_rows.py).
FINISH = (
    "UPDATE rows SET state = ?, reason = ?, call_sid = ?, http_status = ?, error_code = ?, "
    "updated_at = ? WHERE batch_id = ? AND row_no = ? AND state IN ('dialing', 'unknown')"
)
_DIAL = (
    "UPDATE rows SET state = 'dialing', reason = NULL, attempts = attempts + 1, sent_at = ?, "
    "updated_at = ?, from_e164 = ? WHERE batch_id = ? AND row_no IN ({marks})"
)
_EVENTS = "INSERT INTO events (batch_id, row_no, at, kind, detail) VALUES {values}"
_MARKS_LIMIT = 150  # rows per statement: 5 values a row, under SQLite's limit of variables


def finish_values(batch_id: str, f: Finish, at: str) -> tuple[Any, ...]:
    """The values of ``FINISH`` for one answer."""
    return (f.state, f.reason, f.call_sid, f.http_status, f.error_code, at, batch_id, f.row_no)


def write_group(
    ledger: Any, batch_id: str, finishes: list[Finish], claims: list[ClaimAsk]
) -> list[Claim]:
    """In the caller's write transaction: ``finishes`` first, then ``claims``, in order; each
    event in the order the single-row operations would write it."""
    db = ledger.db
    now = ledger._now()
    at = stamp(now)
    events: list[tuple[Any, ...]] = []
    if finishes:
        db.executemany(FINISH, [finish_values(batch_id, f, at) for f in finishes])
        events += [
            (batch_id, f.row_no, at, f.state, f.call_sid or f.reason or "") for f in finishes
        ]
    if not claims:
        _events(db, events)
        return []
    simple = [a for a in claims if a.repeat is None and a.cap is None]
    found = _states(db, batch_id, [a.row_no for a in simple])
    earlier = _earlier(db, batch_id, claims, found, now)
    out: list[Claim] = []
    dials: list[tuple[str | None, int]] = []  # (caller, row)
    for ask in claims:
        state_e164 = found.get(ask.row_no)
        if (
            ask.repeat is not None
            or ask.cap is not None
            or (state_e164 is not None and state_e164[1] in earlier)
        ):
            # The single-row path decides and writes these; what came before goes first.
            _flush(db, dials, events, batch_id, at)
            out.append(ledger._claim_row(batch_id, ask))
            continue
        if state_e164 is None or state_e164[0] not in CLAIMABLE:
            out.append(Claim("gone"))
            continue
        dials.append((ask.caller, ask.row_no))
        events.append((batch_id, ask.row_no, at, "dialing", ""))
        out.append(Claim("claimed"))
    _flush(db, dials, events, batch_id, at)
    return out


def _flush(
    db: Any,
    dials: list[tuple[str | None, int]],
    events: list[tuple[Any, ...]],
    batch_id: str,
    at: str,
) -> None:
    """Mark ``dials`` dialing (one statement per caller number) and write ``events``."""
    callers: dict[str | None, list[int]] = {}
    for caller, row_no in dials:
        callers.setdefault(caller, []).append(row_no)
    for caller, rows in callers.items():
        for start in range(0, len(rows), _MARKS_LIMIT):
            part = rows[start : start + _MARKS_LIMIT]
            db.execute(
                _DIAL.format(marks=", ".join("?" * len(part))), (at, at, caller, batch_id, *part)
            )
    dials.clear()
    _events(db, events)


def _events(db: Any, events: list[tuple[Any, ...]]) -> None:
    """One INSERT for many events (in order: the table numbers them as they come)."""
    for start in range(0, len(events), _MARKS_LIMIT):
        part = events[start : start + _MARKS_LIMIT]
        values = ", ".join(["(?, ?, ?, ?, ?)"] * len(part))
        db.execute(_EVENTS.format(values=values), [v for event in part for v in event])
    events.clear()


def _states(db: Any, batch_id: str, rows: list[int]) -> dict[int, tuple[str, str]]:
    """Each row's state and number."""
    found: dict[int, tuple[str, str]] = {}
    for start in range(0, len(rows), _MARKS_LIMIT):
        part = rows[start : start + _MARKS_LIMIT]
        marks = ", ".join("?" * len(part))
        for row_no, state, e164 in db.execute(
            f"SELECT row_no, state, e164 FROM rows WHERE batch_id = ? AND row_no IN ({marks})",
            (batch_id, *part),
        ):
            found[row_no] = (state, e164)
    return found


def _earlier(
    db: Any,
    batch_id: str,
    claims: list[ClaimAsk],
    found: dict[int, tuple[str, str]],
    now: Any,
) -> set[str]:
    """The numbers among the claimable rows that another batch called within the claim's
    ``--min-interval`` (those rows take the single-row path, which says so)."""
    windows: dict[timedelta, list[str]] = {}
    for ask in claims:
        got = found.get(ask.row_no)
        if got is None or got[0] not in CLAIMABLE:
            continue
        if ask.min_interval is not None and ask.min_interval > timedelta(0):
            windows.setdefault(ask.min_interval, []).append(got[1])
    hits: set[str] = set()
    for window, numbers in windows.items():
        for start in range(0, len(numbers), _MARKS_LIMIT):
            part = numbers[start : start + _MARKS_LIMIT]
            marks = ", ".join("?" * len(part))
            hits.update(
                e164
                for (e164,) in db.execute(
                    f"SELECT DISTINCT e164 FROM rows WHERE e164 IN ({marks}) AND batch_id != ? "
                    f"AND state IN {CALLED} AND sent_at >= ?",
                    (*part, batch_id, stamp(now - window)),
                )
            )
    return hits
