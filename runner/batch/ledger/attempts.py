"""Every attempt of a row as its own record, and the claim of a retry; written once for both
backends (like ``outcomes``: each operation takes the backend's open transaction as a ``Db``).

A row holds its current attempt (``attempts`` is its number; ``call_sid``, ``state`` and
``sent_at`` are its own). When a row is called again (a retry earned by its outcome, or
``--redial-unknown``), the attempt it held is first copied, unchanged, into ``attempts``, in the
same transaction as the new claim: so attempt ``n`` is recorded once (the table's key), its
call_sid keeps matching its late callbacks, and a crash leaves at most the attempt in flight
unknown. ``Ledger.attempts`` reads both: the archived attempts and each row's current one.
"""

from __future__ import annotations

from typing import Any

from runner.batch.ledger.base import CALLED, DAY, Claim, cap_reason, stamp
from runner.batch.ledger.outcomes import Db
from runner.outcomes.record import TERMINAL, classify

_CALLED = ", ".join(f"'{s}'" for s in CALLED)
_COLUMNS = """
    batch_id TEXT NOT NULL,
    row_no INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    call_sid TEXT,
    state TEXT NOT NULL,
    sent_at TEXT,
    ended_at TEXT NOT NULL,
    reason TEXT,
    from_e164 TEXT,
    PRIMARY KEY (batch_id, row_no, attempt)
"""
SQLITE_TABLES = f"""
CREATE TABLE IF NOT EXISTS attempts ({_COLUMNS});
CREATE INDEX IF NOT EXISTS attempts_by_call_sid ON attempts (call_sid)
"""
POSTGRES_TABLES = (
    f"CREATE TABLE attempts ({_COLUMNS})",
    "CREATE INDEX attempts_by_call_sid ON attempts (call_sid)",
)

# Calls to a number since a time, across every batch of the ledger: each row's attempts while
# its current one is recent (counting high, the safe side), plus the archived attempts that are
# recent of rows whose current attempt is not counted (a retry that failed or was not sent).
# Parameters: (e164, since, e164, since, since).
CALLS_TO = (
    "SELECT (SELECT coalesce(sum(attempts), 0) FROM rows WHERE e164 = %s "
    f"AND state IN ({_CALLED}) AND sent_at >= %s) + (SELECT count(*) FROM attempts a "
    "JOIN rows r ON r.batch_id = a.batch_id AND r.row_no = a.row_no WHERE r.e164 = %s "
    f"AND a.state IN ({_CALLED}) AND a.sent_at >= %s "
    f"AND NOT (r.state IN ({_CALLED}) AND r.sent_at >= %s))"
)


def calls_to(db: Db, e164: str, since: str) -> int:
    return int(db.q(CALLS_TO, (e164, since, e164, since, since)).fetchone()[0])


def archive(db: Db, batch_id: str, row_no: int, now: str) -> None:
    """Copy the row's current attempt into ``attempts`` (once: a repeat changes nothing)."""
    db.q(
        "INSERT INTO attempts (batch_id, row_no, attempt, call_sid, state, sent_at, ended_at, "
        "reason, from_e164) SELECT batch_id, row_no, attempts, call_sid, state, sent_at, %s, "
        "reason, from_e164 FROM rows WHERE batch_id = %s AND row_no = %s AND attempts > 0 "
        "ON CONFLICT DO NOTHING",
        (now, batch_id, row_no),
    )


def archive_states(db: Db, batch_id: str, states: tuple[str, ...], now: str) -> None:
    """``archive`` for every row of the batch in ``states`` (``--redial-unknown``)."""
    marks = ", ".join(["%s"] * len(states))
    db.q(
        "INSERT INTO attempts (batch_id, row_no, attempt, call_sid, state, sent_at, ended_at, "
        "reason, from_e164) SELECT batch_id, row_no, attempts, call_sid, state, sent_at, %s, "
        f"reason, from_e164 FROM rows WHERE batch_id = %s AND state IN ({marks}) "
        "AND attempts > 0 ON CONFLICT DO NOTHING",
        (now, batch_id, *states),
    )


def candidates(db: Db, batch_id: str) -> list[dict[str, Any]]:
    """The batch's placed rows with their current attempt and its outcome so far (``outcome``
    None while no final status arrived), for the retry schedule."""
    found = db.q(
        "SELECT r.row_no, r.e164, r.attempts, r.sent_at, r.call_sid, o.status, o.answered_by "
        "FROM rows r LEFT JOIN outcomes o ON o.call_sid = r.call_sid "
        "WHERE r.batch_id = %s AND r.state = 'placed' AND r.call_sid IS NOT NULL "
        "ORDER BY r.row_no",
        (batch_id,),
    ).fetchall()
    out = []
    for row_no, e164, attempts, sent_at, call_sid, status, answered_by in found:
        final = status in TERMINAL
        out.append(
            {
                "row_no": int(row_no),
                "e164": e164,
                "attempt": int(attempts),
                "sent_at": sent_at,
                "call_sid": call_sid,
                "outcome": classify(status, answered_by) if final else None,
            }
        )
    return out


def claim_retry(
    db: Db,
    batch_id: str,
    row_no: int,
    attempt: int,
    call_sid: str,
    cap: tuple[int, str] | None,
    *,
    now: Any,
    caller: str | None,
    lock: str = "",
    extra_set: str = "",
    extra_values: tuple[Any, ...] = (),
) -> Claim:
    """Claim attempt ``attempt`` of a placed row whose attempt ``attempt - 1`` had call
    ``call_sid``: durably ``dialing`` before the POST, like a first claim. ``gone`` when the row
    moved on (another runner or an earlier run placed this attempt already: never twice);
    ``capped`` (the row is left as it is) when the 24-hour cap is reached. ``lock`` locks the
    row (PostgreSQL); ``extra_set`` sets backend columns (the runner)."""
    found = db.q(
        "SELECT state, e164, attempts, call_sid FROM rows WHERE batch_id = %s AND row_no = %s"
        + lock,
        (batch_id, row_no),
    ).fetchone()
    if found is None or found[0] != "placed" or found[2] != attempt - 1 or found[3] != call_sid:
        return Claim("gone")
    at = stamp(now)
    if cap is not None:
        limit, rule = cap
        done = calls_to(db, found[1], stamp(now - DAY))
        if done >= limit:
            reason = cap_reason(done, limit, rule)
            db.event(batch_id, row_no, "retry-capped", reason)
            return Claim("capped", reason)
    archive(db, batch_id, row_no, at)
    db.q(
        "UPDATE rows SET state = 'dialing', reason = NULL, call_sid = NULL, http_status = NULL, "
        "error_code = NULL, attempts = attempts + 1, sent_at = %s, updated_at = %s, "
        f"from_e164 = %s{extra_set} WHERE batch_id = %s AND row_no = %s",
        (at, at, caller, *extra_values, batch_id, row_no),
    )
    db.event(batch_id, row_no, "dialing", f"attempt {attempt} (retry after {call_sid})")
    return Claim("claimed")


_ATTEMPTS = (
    "SELECT a.row_no, a.attempt, a.call_sid, a.state, a.sent_at, o.status, o.answered_by, r.e164 "
    "FROM attempts a JOIN rows r ON r.batch_id = a.batch_id AND r.row_no = a.row_no "
    "LEFT JOIN outcomes o ON o.call_sid = a.call_sid WHERE a.batch_id = %s "
    "UNION ALL "
    "SELECT r.row_no, r.attempts, r.call_sid, r.state, r.sent_at, o.status, o.answered_by, r.e164 "
    "FROM rows r LEFT JOIN outcomes o ON o.call_sid = r.call_sid WHERE r.batch_id = %s "
    "AND r.attempts > 1 AND r.sent_at IS NOT NULL ORDER BY 1, 2"
)


def attempts(db: Db, batch_id: str) -> list[dict[str, Any]]:
    """Every attempt of the batch's rows called more than once (a row called once is its own
    record), in row then attempt order: ``row_no``, ``attempt``,
    ``call_sid``, ``state`` (the ledger state of that attempt), ``sent_at`` and ``outcome``
    (a category of ``runner.outcomes.record.OUTCOMES``; ``awaiting`` for a placed call with no
    final status yet; None for an attempt that placed no call)."""
    out = []
    for row_no, attempt, call_sid, state, sent_at, status, answered_by, e164 in db.q(
        _ATTEMPTS, (batch_id, batch_id)
    ).fetchall():
        outcome = classify(status, answered_by) if state == "placed" else None
        out.append(
            {
                "row_no": int(row_no),
                "attempt": int(attempt),
                "call_sid": call_sid,
                "state": state,
                "sent_at": sent_at,
                "outcome": outcome,
                "e164": e164,
            }
        )
    return out
