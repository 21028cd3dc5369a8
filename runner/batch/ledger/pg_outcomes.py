"""The PostgreSQL ledger's call outcomes (the SQL is shared with SQLite in ``outcomes``).

A mixin of ``postgres.PostgresLedger``, which owns the session. Storing callbacks may be
repeated after a lost connection: a repeated insert is recognised by its key (a duplicate), so
nothing is recorded twice; settling a row is guarded by its ``unknown`` state the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from runner.batch.ledger import outcomes as sql
from runner.batch.ledger.outcomes import OutcomeCounts
from runner.batch.ledger.pgconn import Session
from runner.outcomes.callbacks import Callback
from runner.outcomes.record import CallRecord


class _Db:
    """``outcomes.Db`` over one cursor of the session's transaction."""

    def __init__(self, ledger: PgOutcomes, cursor: Any):
        self.ledger = ledger
        self.cursor = cursor

    def q(self, statement: str, params: tuple[Any, ...] = ()) -> Any:
        self.cursor.execute(statement, params)
        return self.cursor

    def event(self, batch_id: str, row_no: int | None, kind: str, detail: str) -> None:
        self.ledger._event(self.cursor, batch_id, row_no, kind, detail)


class PgOutcomes:
    session: Session
    _stamp: Callable[[], str]
    _event: Callable[..., None]

    def _read(self, work: Callable[[_Db], Any]) -> Any:
        return self.session.run(lambda c: work(_Db(self, c)), durable=False)

    def record_callbacks(self, items: Iterable[Callback]) -> list[str]:
        batch = list(items)
        now = self._stamp()
        result: list[str] = self.session.run(
            lambda c: sql.record_callbacks(_Db(self, c), batch, now)
        )
        return result

    def match_unmatched(self) -> list[tuple[str, str, int]]:
        if not self._read(sql.any_matchable):
            return []
        found: list[tuple[str, str, int]] = self.session.run(
            lambda c: sql.match_unmatched(_Db(self, c)), durable=False
        )
        return found

    def outcome(self, call_sid: str) -> CallRecord | None:
        record: CallRecord | None = self._read(lambda db: sql.outcome(db, call_sid))
        return record

    def outcome_counts(self, batch_id: str) -> OutcomeCounts:
        counts: OutcomeCounts = self._read(lambda db: sql.outcome_counts(db, batch_id))
        return counts

    def report_rows(self, batch_id: str) -> Iterator[dict[str, Any]]:
        def work(db: _Db) -> tuple[list[str], list[tuple[Any, ...]]]:
            cursor = db.q(sql.REPORT_QUERY, (batch_id,))
            return [d[0] for d in cursor.description], cursor.fetchall()

        names, values = self._read(work)
        yield from sql.report_rows(names, values)

    def unmatched_count(self) -> int:
        return int(self._read(sql.unmatched_count))

    def still_unmatched(self, call_sids: Iterable[str]) -> int:
        wanted = list(call_sids)
        return int(self._read(lambda db: sql.still_unmatched(db, wanted)))

    def account_sids(self) -> list[str]:
        found: list[str] = self._read(sql.account_sids)
        return found

    def awaiting_outcomes(self, batch_id: str) -> int:
        return int(self._read(lambda db: sql.awaiting_outcomes(db, batch_id)))

    def unknown_rows(
        self, batch_id: str, states: tuple[str, ...] = ("unknown",)
    ) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self._read(lambda db: sql.unknown_rows(db, batch_id, states))
        return found

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
        now = self._stamp()
        settled: bool = self.session.run(
            lambda c: sql.settle_unknown(
                _Db(self, c),
                batch_id,
                row_no,
                state,
                call_sid=call_sid,
                reason=reason,
                kind=kind,
                evidence=evidence,
                now=now,
            )
        )
        return settled

    def note_row(self, batch_id: str, row_no: int, kind: str, evidence: dict[str, Any]) -> None:
        detail = json.dumps(evidence, sort_keys=True)
        self.session.run(lambda c: self._event(c, batch_id, row_no, kind, detail), durable=False)
