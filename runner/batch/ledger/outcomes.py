"""The ledger's outcome tables and operations, written once for both backends.

Tables (the same in SQLite and PostgreSQL):
  ``callbacks``  every distinct callback (by ``key``), as received and verified; the evidence.
  ``outcomes``   one folded record per call_sid (``runner.outcomes.record.fold``).
  ``unmatched``  call_sids that callbacks named but no row holds (yet): kept, matched later.

Each operation takes a :class:`Db`: the backend's open transaction (``q`` runs one statement
written with ``%s`` placeholders, ``event`` writes to the batch's event log). The backends open
the transactions and decide how durable they are; the SQL here is the common subset of both.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from runner.outcomes.callbacks import Callback
from runner.outcomes.record import TERMINAL, CallRecord, classify, fold

# Placed rows still waiting for a final status.
_FINAL = ", ".join(f"'{s}'" for s in sorted(TERMINAL))
RECORD_FIELDS = (
    "status",
    "answered_by",
    "answered_by_detail",
    "duration",
    "attestation",
    "initiated_at",
    "answered_at",
    "ended_at",
    "status_at",
    "sequence",
    "hangup_cause",
    "account_sid",
    "callbacks",
)
_OUTCOME_COLUMNS = """
    call_sid TEXT PRIMARY KEY,
    status TEXT,
    answered_by TEXT,
    answered_by_detail TEXT,
    duration INTEGER,
    attestation TEXT,
    initiated_at TEXT,
    answered_at TEXT,
    ended_at TEXT,
    status_at TEXT,
    sequence BIGINT,
    hangup_cause TEXT,
    account_sid TEXT,
    callbacks INTEGER NOT NULL,
    first_seen TEXT NOT NULL,
    updated_at TEXT NOT NULL
"""
_UNMATCHED_COLUMNS = """
    call_sid TEXT PRIMARY KEY,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    callbacks INTEGER NOT NULL
"""
SQLITE_TABLES = f"""
CREATE TABLE IF NOT EXISTS callbacks (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    call_sid TEXT NOT NULL,
    received_at TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS callbacks_by_sid ON callbacks (call_sid);
CREATE TABLE IF NOT EXISTS outcomes ({_OUTCOME_COLUMNS});
CREATE TABLE IF NOT EXISTS unmatched ({_UNMATCHED_COLUMNS});
CREATE INDEX IF NOT EXISTS rows_by_call_sid ON rows (call_sid);
"""
POSTGRES_TABLES = (
    """CREATE TABLE callbacks (
        id bigserial PRIMARY KEY,
        key text NOT NULL UNIQUE,
        call_sid text NOT NULL,
        received_at text NOT NULL,
        kind text NOT NULL,
        status text,
        record text NOT NULL
    )""",
    "CREATE INDEX callbacks_by_sid ON callbacks (call_sid)",
    f"CREATE TABLE outcomes ({_OUTCOME_COLUMNS})",
    f"CREATE TABLE unmatched ({_UNMATCHED_COLUMNS})",
    "CREATE INDEX rows_by_call_sid ON rows (call_sid)",
)

# The per-call tables that belong to a batch through its rows' call_sids, with the columns
# batch-migrate copies and the key it reads them in order of (``unmatched`` belongs to no row).
MOVED: dict[str, tuple[tuple[str, ...], str]] = {
    "callbacks": (("key", "call_sid", "received_at", "kind", "status", "record"), "id"),
    "outcomes": (("call_sid", *RECORD_FIELDS, "first_seen", "updated_at"), "call_sid"),
    # The batch's earlier attempts (attempts.py), read in (row, attempt) order.
    "attempts": (
        (
            "batch_id",
            "row_no",
            "attempt",
            "call_sid",
            "state",
            "sent_at",
            "ended_at",
            "reason",
            "from_e164",
        ),
        "CAST(row_no AS BIGINT) * 1000000 + attempt",
    ),
}
# How each moved table is limited to the batch (default: OF_BATCH, through its calls).
MOVED_WHERE = {"attempts": "batch_id = %s"}
# The calls of a batch: its rows' current ones and those of their earlier attempts.
OF_BATCH = (
    "call_sid IN (SELECT c FROM (SELECT batch_id AS b, call_sid AS c FROM rows UNION ALL "
    "SELECT batch_id, call_sid FROM attempts) calls WHERE b = %s AND c IS NOT NULL)"
)


@dataclass
class OutcomeCounts:
    """The placed rows of one batch by outcome category (``runner.outcomes.record.OUTCOMES``);
    ``heard`` of them had at least one callback recorded."""

    counts: dict[str, int] = field(default_factory=dict)
    heard: int = 0
    placed: int = 0


class Db(Protocol):
    def q(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        """Run one statement (``%s`` placeholders); a cursor (fetchone, fetchall, rowcount)."""

    def event(self, batch_id: str, row_no: int | None, kind: str, detail: str) -> None: ...


# ---------------------------------------------------------------------------- callbacks


def record_callbacks(db: Db, items: Iterable[Callback], now: str) -> list[str]:
    """Store callbacks and refold their calls; per item ``recorded`` (its call is on a row),
    ``unmatched`` (no row holds the call yet; kept) or ``duplicate`` (seen before)."""
    results: list[str] = []
    fresh: dict[str, int] = {}
    for cb in items:
        cursor = db.q(
            "INSERT INTO callbacks (key, call_sid, received_at, kind, status, record) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (key) DO NOTHING",
            (cb.key, cb.call_sid, now, cb.kind, cb.status, json.dumps(cb.as_dict())),
        )
        if cursor.rowcount == 0:
            results.append("duplicate")
        else:
            results.append(cb.call_sid)
            fresh[cb.call_sid] = fresh.get(cb.call_sid, 0) + 1
    matched = {sid: _refold(db, sid, count, now) for sid, count in fresh.items()}
    return [r if r == "duplicate" else ("recorded" if matched[r] else "unmatched") for r in results]


def _refold(db: Db, call_sid: str, new: int, now: str) -> bool:
    stored = [
        Callback.from_dict(json.loads(text))
        for (text,) in db.q(
            "SELECT record FROM callbacks WHERE call_sid = %s", (call_sid,)
        ).fetchall()
    ]
    record = fold(call_sid, stored)
    values = [getattr(record, name) for name in RECORD_FIELDS]
    columns = ", ".join(RECORD_FIELDS)
    updates = ", ".join(f"{name} = excluded.{name}" for name in RECORD_FIELDS)
    db.q(
        f"INSERT INTO outcomes (call_sid, {columns}, first_seen, updated_at) "
        f"VALUES (%s, {', '.join(['%s'] * len(values))}, %s, %s) "
        f"ON CONFLICT (call_sid) DO UPDATE SET {updates}, updated_at = excluded.updated_at",
        (call_sid, *values, now, now),
    )
    # The row holds the call as its current attempt, or held it before a retry (attempts).
    row = db.q(
        "SELECT batch_id, row_no FROM rows WHERE call_sid = %s UNION ALL "
        "SELECT batch_id, row_no FROM attempts WHERE call_sid = %s LIMIT 1",
        (call_sid, call_sid),
    ).fetchone()
    if row is None:
        db.q(
            "INSERT INTO unmatched (call_sid, first_seen, last_seen, callbacks) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (call_sid) DO UPDATE SET "
            "last_seen = excluded.last_seen, callbacks = unmatched.callbacks + excluded.callbacks",
            (call_sid, now, now, new),
        )
        return False
    match(db, call_sid, row[0], row[1])
    return True


def match(db: Db, call_sid: str, batch_id: str, row_no: int) -> bool:
    """Forget that ``call_sid`` was unmatched, now that a row holds it (logged on the row)."""
    cursor = db.q("DELETE FROM unmatched WHERE call_sid = %s", (call_sid,))
    if cursor.rowcount:
        db.event(batch_id, row_no, "callback-matched", f"callbacks for {call_sid} matched")
    return bool(cursor.rowcount)


_MATCHABLE = (
    "SELECT u.call_sid, r.batch_id, r.row_no FROM unmatched u "
    "JOIN rows r ON r.call_sid = u.call_sid UNION ALL "
    "SELECT u.call_sid, a.batch_id, a.row_no FROM unmatched u "
    "JOIN attempts a ON a.call_sid = u.call_sid"
)


def any_matchable(db: Db) -> bool:
    return db.q(f"SELECT 1 FROM ({_MATCHABLE}) m LIMIT 1").fetchone() is not None


def match_unmatched(db: Db) -> list[tuple[str, str, int]]:
    found = db.q(_MATCHABLE).fetchall()
    for call_sid, batch_id, row_no in found:
        match(db, call_sid, batch_id, row_no)
    return [(str(s), str(b), int(r)) for s, b, r in found]


# ---------------------------------------------------------------------------- reading


def outcome(db: Db, call_sid: str) -> CallRecord | None:
    found = db.q(
        f"SELECT {', '.join(RECORD_FIELDS)} FROM outcomes WHERE call_sid = %s", (call_sid,)
    ).fetchone()
    if found is None:
        return None
    return CallRecord(call_sid, **dict(zip(RECORD_FIELDS, found, strict=True)))


def outcome_counts(db: Db, batch_id: str) -> OutcomeCounts:
    out = OutcomeCounts()
    rows = db.q(
        "SELECT o.call_sid IS NOT NULL, o.status, o.answered_by, count(*) FROM rows r "
        "LEFT JOIN outcomes o ON o.call_sid = r.call_sid WHERE r.batch_id = %s AND "
        "r.state = 'placed' GROUP BY 1, 2, 3",
        (batch_id,),
    ).fetchall()
    for heard, status, answered, count in rows:
        if count:
            key = classify(status, answered)
            out.counts[key] = out.counts.get(key, 0) + count
            out.placed += count
            out.heard += count if heard else 0
    return out


REPORT_QUERY = (
    "SELECT r.row_no, r.e164, r.state, r.skip_kind, r.reason, r.call_sid, r.http_status, "
    "r.error_code, r.attempts, r.sent_at, r.updated_at, o.status AS call_status, o.answered_by, "
    "o.duration, o.call_sid IS NOT NULL AS heard FROM rows r LEFT JOIN outcomes o "
    "ON o.call_sid = r.call_sid WHERE r.batch_id = %s ORDER BY r.row_no"
)


def report_rows(names: list[str], values: Iterable[tuple[Any, ...]]) -> Iterator[dict[str, Any]]:
    """REPORT_QUERY's rows as the report's dicts (the outcome category only where heard)."""
    for value in values:
        row = dict(zip(names, value, strict=True))
        heard = row.pop("heard") and row["state"] == "placed"
        row["outcome"] = classify(row["call_status"], row["answered_by"]) if heard else None
        yield row


def still_unmatched(db: Db, call_sids: Iterable[str]) -> int:
    wanted = list(call_sids)
    found = 0
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        marks = ", ".join(["%s"] * len(chunk))
        found += int(
            db.q(
                f"SELECT count(*) FROM unmatched WHERE call_sid IN ({marks})", tuple(chunk)
            ).fetchone()[0]
        )
    return found


def unmatched_count(db: Db) -> int:
    return int(db.q("SELECT count(*) FROM unmatched").fetchone()[0])


def account_sids(db: Db) -> list[str]:
    return [
        str(r[0])
        for r in db.q(
            "SELECT DISTINCT account_sid FROM outcomes WHERE account_sid IS NOT NULL ORDER BY 1"
        ).fetchall()
    ]


def awaiting_outcomes(db: Db, batch_id: str) -> int:
    return int(
        db.q(
            "SELECT count(*) FROM rows r LEFT JOIN outcomes o ON o.call_sid = r.call_sid "
            "WHERE r.batch_id = %s AND r.state = 'placed' AND (o.status IS NULL OR "
            f"o.status NOT IN ({_FINAL}))",
            (batch_id,),
        ).fetchone()[0]
    )


# ---------------------------------------------------------------------------- reconciling


def unknown_rows(db: Db, batch_id: str, states: tuple[str, ...]) -> list[dict[str, Any]]:
    marks = ", ".join(["%s"] * len(states))
    cursor = db.q(
        "SELECT batch_id, row_no, e164, from_e164, sent_at, reason FROM rows "
        f"WHERE batch_id = %s AND state IN ({marks}) ORDER BY row_no",
        (batch_id, *states),
    )
    names = ["batch_id", "row_no", "e164", "from_e164", "sent_at", "reason"]
    return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]


def settle_unknown(
    db: Db,
    batch_id: str,
    row_no: int,
    state: str,
    *,
    call_sid: str | None,
    reason: str,
    kind: str,
    evidence: dict[str, Any],
    now: str,
) -> bool:
    """``unknown`` -> ``placed`` or ``not-placed``, with the evidence in the event log."""
    if state not in ("placed", "not-placed"):
        raise ValueError(f"an unknown row cannot be settled as {state}")
    cursor = db.q(
        "UPDATE rows SET state = %s, call_sid = %s, reason = %s, updated_at = %s "
        "WHERE batch_id = %s AND row_no = %s AND state = 'unknown'",
        (state, call_sid, reason, now, batch_id, row_no),
    )
    if not cursor.rowcount:
        return False
    db.event(batch_id, row_no, kind, json.dumps(evidence, sort_keys=True))
    if call_sid:
        match(db, call_sid, batch_id, row_no)
    return True
