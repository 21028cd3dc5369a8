"""The SQLite ledger's call outcomes (the SQL is shared with PostgreSQL in ``outcomes``).

A mixin of ``sqlite.SqliteLedger``, which owns the connection, the mutex and the transactions.
A format-1 ledger opened read-only has no outcome tables: it reads as one without callbacks.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from runner.batch.ledger import outcomes as sql
from runner.batch.ledger.outcomes import OutcomeCounts
from runner.outcomes.callbacks import Callback
from runner.outcomes.record import CallRecord


class _Db:
    """``outcomes.Db`` over the SQLite connection (``%s`` placeholders become ``?``)."""

    def __init__(self, ledger: SqliteOutcomes):
        self.ledger = ledger

    def q(self, statement: str, params: tuple[Any, ...] = ()) -> Any:
        return self.ledger.db.execute(statement.replace("%s", "?"), params)

    def event(self, batch_id: str, row_no: int | None, kind: str, detail: str) -> None:
        self.ledger._event(batch_id, row_no, kind, detail)


class SqliteOutcomes:
    db: sqlite3.Connection
    _mutex: threading.RLock
    _tx: Callable[..., Any]
    _stamp: Callable[[], str]
    _event: Callable[..., None]

    def _outcome_tables(self) -> bool:
        """False for a format-1 ledger opened read-only (no outcome tables, no from_e164)."""
        with self._mutex:
            found = self.db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'outcomes'"
            ).fetchone()
        return found is not None

    def record_callbacks(self, items: Iterable[Callback]) -> list[str]:
        batch = list(items)
        with self._tx():
            return sql.record_callbacks(_Db(self), batch, self._stamp())

    def match_unmatched(self) -> list[tuple[str, str, int]]:
        with self._mutex:
            if not sql.any_matchable(_Db(self)):
                return []
        with self._tx(durable=False):
            return sql.match_unmatched(_Db(self))

    def outcome(self, call_sid: str) -> CallRecord | None:
        if not self._outcome_tables():
            return None
        with self._mutex:
            return sql.outcome(_Db(self), call_sid)

    def outcome_counts(self, batch_id: str) -> OutcomeCounts:
        with self._mutex:
            if not self._outcome_tables():
                placed = self.db.execute(
                    "SELECT count(*) FROM rows WHERE batch_id = ? AND state = 'placed'",
                    (batch_id,),
                ).fetchone()[0]
                counts = {"awaiting": int(placed)} if placed else {}
                return OutcomeCounts(counts, 0, int(placed))
            return sql.outcome_counts(_Db(self), batch_id)

    def report_rows(self, batch_id: str) -> Iterator[dict[str, Any]]:
        # Streamed like rows() (for the report; call while no run writes).
        query = sql.REPORT_QUERY
        if not self._outcome_tables():
            query = query.replace(
                "o.status AS call_status, o.answered_by, o.duration, o.call_sid IS NOT NULL AS "
                "heard FROM rows r LEFT JOIN outcomes o ON o.call_sid = r.call_sid",
                "NULL AS call_status, NULL AS answered_by, NULL AS duration, 0 AS heard "
                "FROM rows r",
            )
        cursor = self.db.execute(query.replace("%s", "?"), (batch_id,))
        names = [d[0] for d in cursor.description]
        yield from sql.report_rows(names, cursor)

    def unmatched_count(self) -> int:
        if not self._outcome_tables():
            return 0
        with self._mutex:
            return sql.unmatched_count(_Db(self))

    def still_unmatched(self, call_sids: Iterable[str]) -> int:
        if not self._outcome_tables():
            return 0
        with self._mutex:
            return sql.still_unmatched(_Db(self), call_sids)

    def account_sids(self) -> list[str]:
        if not self._outcome_tables():
            return []
        with self._mutex:
            return sql.account_sids(_Db(self))

    def awaiting_outcomes(self, batch_id: str) -> int:
        if not self._outcome_tables():
            return 0
        with self._mutex:
            return sql.awaiting_outcomes(_Db(self), batch_id)

    def unknown_rows(
        self, batch_id: str, states: tuple[str, ...] = ("unknown",)
    ) -> list[dict[str, Any]]:
        with self._mutex:
            return sql.unknown_rows(_Db(self), batch_id, states)

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
        with self._tx():
            return sql.settle_unknown(
                _Db(self),
                batch_id,
                row_no,
                state,
                call_sid=call_sid,
                reason=reason,
                kind=kind,
                evidence=evidence,
                now=self._stamp(),
            )

    def note_row(self, batch_id: str, row_no: int, kind: str, evidence: dict[str, Any]) -> None:
        import json

        with self._tx(durable=False):
            self._event(batch_id, row_no, kind, json.dumps(evidence, sort_keys=True))
