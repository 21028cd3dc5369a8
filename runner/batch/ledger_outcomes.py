"""The ledger's outcome tables and methods: callbacks, folded outcomes, unmatched calls, and
settling ``unknown`` rows from Telnyx's call list.

Kept apart from the core ledger (``runner/batch/ledger.py``) so another storage backend can port
them on their own: ``OUTCOME_SCHEMA`` holds the tables, ``migrate_rows_v2`` the one change to the
core ``rows`` table (the ``not-placed`` state and the ``from_e164`` column, written at claim
time), and :class:`OutcomesMixin` the methods, each one short transaction.

Tables:
  ``callbacks``  every distinct callback (by ``key``), as received and verified; the evidence.
  ``outcomes``   one folded record per call_sid (``runner.outcomes.record.fold``).
  ``unmatched``  call_sids that callbacks named but no row holds (yet): kept, matched later.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from runner.outcomes.callbacks import Callback
from runner.outcomes.record import CallRecord, classify, fold

OUTCOME_SCHEMA = """
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
CREATE TABLE IF NOT EXISTS outcomes (
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
    sequence INTEGER,
    hangup_cause TEXT,
    account_sid TEXT,
    callbacks INTEGER NOT NULL,
    first_seen TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS unmatched (
    call_sid TEXT PRIMARY KEY,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    callbacks INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS rows_by_call_sid ON rows (call_sid);
"""
_RECORD_FIELDS = (
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
# Columns of ``rows`` in format 1, copied as they are into format 2.
_V1_ROW_COLUMNS = (
    "batch_id, row_no, e164, owner_e164, state, skip_kind, reason, call_sid, http_status, "
    "error_code, attempts, sent_at, updated_at"
)


def run_script(db: sqlite3.Connection, script: str) -> None:
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def migrate_rows_v2(db: sqlite3.Connection, create_rows: str) -> None:
    """Format 1 -> 2 inside the caller's transaction: SQLite cannot change a CHECK constraint
    in place, so ``rows`` is rebuilt with ``create_rows`` (the new states and ``from_e164``)."""
    db.execute("ALTER TABLE rows RENAME TO rows_v1")
    # Indexes move with a renamed table; drop them so the new table gets its own.
    db.execute("DROP INDEX IF EXISTS rows_by_number")
    db.execute("DROP INDEX IF EXISTS rows_by_state")
    run_script(db, create_rows)
    db.execute(f"INSERT INTO rows ({_V1_ROW_COLUMNS}) SELECT {_V1_ROW_COLUMNS} FROM rows_v1")
    db.execute("DROP TABLE rows_v1")


@dataclass
class OutcomeCounts:
    """The placed rows of one batch by outcome category (``runner.outcomes.record.OUTCOMES``);
    ``heard`` of them had at least one callback recorded."""

    counts: dict[str, int] = field(default_factory=dict)
    heard: int = 0
    placed: int = 0


class OutcomesMixin:
    """Outcome methods of :class:`runner.batch.ledger.Ledger` (which provides these four)."""

    db: sqlite3.Connection
    _mutex: Any

    def _tx(self, durable: bool = True) -> Any:
        raise NotImplementedError

    def _stamp(self) -> str:
        raise NotImplementedError

    def _event(self, batch_id: str, row_no: int | None, kind: str, detail: str = "") -> None:
        raise NotImplementedError

    def has_outcomes(self) -> bool:
        """False for a format-1 ledger opened read-only (it has no outcome tables)."""
        with self._mutex:
            found = self.db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'outcomes'"
            ).fetchone()
        return found is not None

    # --- recording callbacks -------------------------------------------------------------

    def record_callbacks(self, items: Iterable[Callback]) -> list[str]:
        """Store verified callbacks in one durable transaction and refold their calls. Returns,
        per item: ``recorded`` (its call is on a row), ``unmatched`` (no row holds the call
        yet; kept), or ``duplicate`` (seen before; nothing changed)."""
        batch = list(items)
        results: list[str] = []
        with self._tx():
            now = self._stamp()
            fresh: dict[str, int] = {}
            for cb in batch:
                cursor = self.db.execute(
                    "INSERT OR IGNORE INTO callbacks (key, call_sid, received_at, kind, status, "
                    "record) VALUES (?, ?, ?, ?, ?, ?)",
                    (cb.key, cb.call_sid, now, cb.kind, cb.status, json.dumps(cb.as_dict())),
                )
                if cursor.rowcount == 0:
                    results.append("duplicate")
                else:
                    results.append(cb.call_sid)
                    fresh[cb.call_sid] = fresh.get(cb.call_sid, 0) + 1
            matched = {sid: self._refold(sid, count, now) for sid, count in fresh.items()}
        return [
            r if r == "duplicate" else ("recorded" if matched[r] else "unmatched") for r in results
        ]

    def _refold(self, call_sid: str, new: int, now: str) -> bool:
        stored = [
            Callback.from_dict(json.loads(text))
            for (text,) in self.db.execute(
                "SELECT record FROM callbacks WHERE call_sid = ?", (call_sid,)
            )
        ]
        record = fold(call_sid, stored)
        values = [getattr(record, name) for name in _RECORD_FIELDS]
        columns = ", ".join(_RECORD_FIELDS)
        updates = ", ".join(f"{name} = excluded.{name}" for name in _RECORD_FIELDS)
        self.db.execute(
            f"INSERT INTO outcomes (call_sid, {columns}, first_seen, updated_at) "
            f"VALUES (?, {', '.join('?' * len(values))}, ?, ?) "
            f"ON CONFLICT (call_sid) DO UPDATE SET {updates}, updated_at = excluded.updated_at",
            (call_sid, *values, now, now),
        )
        row = self.db.execute(
            "SELECT batch_id, row_no FROM rows WHERE call_sid = ? LIMIT 1", (call_sid,)
        ).fetchone()
        if row is None:
            self.db.execute(
                "INSERT INTO unmatched VALUES (?, ?, ?, ?) ON CONFLICT (call_sid) DO UPDATE SET "
                "last_seen = excluded.last_seen, callbacks = callbacks + excluded.callbacks",
                (call_sid, now, now, new),
            )
            return False
        self._match(call_sid, row[0], row[1])
        return True

    def _match(self, call_sid: str, batch_id: str, row_no: int) -> bool:
        cursor = self.db.execute("DELETE FROM unmatched WHERE call_sid = ?", (call_sid,))
        if cursor.rowcount:
            self._event(batch_id, row_no, "callback-matched", f"callbacks for {call_sid} matched")
        return bool(cursor.rowcount)

    def match_unmatched(self) -> list[tuple[str, str, int]]:
        """Match kept callbacks to rows that now hold their call_sid: (call_sid, batch, row).
        Writes only when there is something to match (it runs every second in a receiver)."""
        query = (
            "SELECT u.call_sid, r.batch_id, r.row_no FROM unmatched u "
            "JOIN rows r ON r.call_sid = u.call_sid"
        )
        with self._mutex:
            if not self.db.execute(query + " LIMIT 1").fetchone():
                return []
        with self._tx(durable=False):
            found = self.db.execute(query).fetchall()
            for call_sid, batch_id, row_no in found:
                self._match(call_sid, batch_id, row_no)
        return [(str(s), str(b), int(r)) for s, b, r in found]

    # --- reading outcomes ------------------------------------------------------------------

    def outcome(self, call_sid: str) -> CallRecord | None:
        if not self.has_outcomes():
            return None
        with self._mutex:
            found = self.db.execute(
                f"SELECT {', '.join(_RECORD_FIELDS)} FROM outcomes WHERE call_sid = ?",
                (call_sid,),
            ).fetchone()
        if found is None:
            return None
        return CallRecord(call_sid, **dict(zip(_RECORD_FIELDS, found, strict=True)))

    def outcome_counts(self, batch_id: str) -> OutcomeCounts:
        """What the callbacks said about the batch's placed rows."""
        out = OutcomeCounts()
        with self._mutex:
            if not self.has_outcomes():
                query = "SELECT 0, NULL, NULL, count(*) FROM rows r WHERE r.batch_id = ? AND "
                query += "r.state = 'placed'"
            else:
                query = (
                    "SELECT o.call_sid IS NOT NULL, o.status, o.answered_by, count(*) FROM rows r "
                    "LEFT JOIN outcomes o ON o.call_sid = r.call_sid WHERE r.batch_id = ? AND "
                    "r.state = 'placed' GROUP BY 1, 2, 3"
                )
            for heard, status, answered, count in self.db.execute(query, (batch_id,)):
                if count:
                    key = classify(status, answered)
                    out.counts[key] = out.counts.get(key, 0) + count
                    out.placed += count
                    out.heard += count if heard else 0
        return out

    def report_rows(self, batch_id: str) -> Any:
        """Every row of the batch with its call's outcome (None where there is none), streamed
        in row order for the CSV report."""
        columns = (
            "r.row_no, r.e164, r.state, r.skip_kind, r.reason, r.call_sid, r.http_status, "
            "r.error_code, r.attempts, r.sent_at, r.updated_at"
        )
        if self.has_outcomes():
            query = (
                f"SELECT {columns}, o.status AS call_status, o.answered_by, o.duration, "
                "o.call_sid IS NOT NULL AS heard "
                "FROM rows r LEFT JOIN outcomes o ON o.call_sid = r.call_sid "
                "WHERE r.batch_id = ? ORDER BY r.row_no"
            )
        else:
            query = (
                f"SELECT {columns}, NULL AS call_status, NULL AS answered_by, NULL AS duration, "
                "0 AS heard "
                "FROM rows r WHERE r.batch_id = ? ORDER BY r.row_no"
            )
        cursor = self.db.execute(query, (batch_id,))
        names = [d[0] for d in cursor.description]
        for values in cursor:
            row = dict(zip(names, values, strict=True))
            heard = row.pop("heard") and row["state"] == "placed"
            row["outcome"] = classify(row["call_status"], row["answered_by"]) if heard else None
            yield row

    def still_unmatched(self, call_sids: Iterable[str]) -> int:
        """How many of ``call_sids`` no row holds (their callbacks are kept as unmatched)."""
        wanted = list(call_sids)
        if not wanted or not self.has_outcomes():
            return 0
        found = 0
        with self._mutex:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ", ".join("?" * len(chunk))
                found += int(
                    self.db.execute(
                        f"SELECT count(*) FROM unmatched WHERE call_sid IN ({marks})", chunk
                    ).fetchone()[0]
                )
        return found

    def unmatched_count(self) -> int:
        if not self.has_outcomes():
            return 0
        with self._mutex:
            return int(self.db.execute("SELECT count(*) FROM unmatched").fetchone()[0])

    def account_sids(self) -> list[str]:
        """The Telnyx account ids that recorded callbacks named."""
        if not self.has_outcomes():
            return []
        with self._mutex:
            return [
                str(r[0])
                for r in self.db.execute(
                    "SELECT DISTINCT account_sid FROM outcomes WHERE account_sid IS NOT NULL "
                    "ORDER BY 1"
                )
            ]

    # --- reconciling unknown rows -----------------------------------------------------------

    def unknown_rows(
        self, batch_id: str, states: tuple[str, ...] = ("unknown",)
    ) -> list[dict[str, Any]]:
        marks = ", ".join("?" * len(states))
        with self._mutex:
            cursor = self.db.execute(
                "SELECT batch_id, row_no, e164, from_e164, sent_at, reason FROM rows "
                f"WHERE batch_id = ? AND state IN ({marks}) ORDER BY row_no",
                (batch_id, *states),
            )
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, values, strict=True)) for values in cursor]

    def settle_unknown(
        self,
        batch_id: str,
        row_no: int,
        state: str,
        *,
        call_sid: str | None,
        reason: str,
        kind: str,
        evidence: dict[str, Any],
    ) -> bool:
        """Move an ``unknown`` row to ``placed`` or ``not-placed``, logging the evidence in the
        same transaction. False if the row is no longer unknown."""
        if state not in ("placed", "not-placed"):
            raise ValueError(f"an unknown row cannot be settled as {state}")
        with self._tx():
            cursor = self.db.execute(
                "UPDATE rows SET state = ?, call_sid = ?, reason = ?, updated_at = ? "
                "WHERE batch_id = ? AND row_no = ? AND state = 'unknown'",
                (state, call_sid, reason, self._stamp(), batch_id, row_no),
            )
            if not cursor.rowcount:
                return False
            self._event(batch_id, row_no, kind, json.dumps(evidence, sort_keys=True))
            if call_sid:
                self._match(call_sid, batch_id, row_no)
        return True

    def note_row(self, batch_id: str, row_no: int, kind: str, evidence: dict[str, Any]) -> None:
        """Log a decision that changes no state (e.g. too recent to decide)."""
        with self._tx(durable=False):
            self._event(batch_id, row_no, kind, json.dumps(evidence, sort_keys=True))

    def awaiting_outcomes(self, batch_id: str) -> int:
        """Placed rows of the batch whose call has no final status yet."""
        if not self.has_outcomes():
            return 0
        with self._mutex:
            return int(
                self.db.execute(
                    "SELECT count(*) FROM rows r LEFT JOIN outcomes o ON o.call_sid = r.call_sid "
                    "WHERE r.batch_id = ? AND r.state = 'placed' AND (o.status IS NULL OR "
                    "o.status NOT IN ('completed', 'busy', 'no-answer', 'failed', 'canceled'))",
                    (batch_id,),
                ).fetchone()[0]
            )
