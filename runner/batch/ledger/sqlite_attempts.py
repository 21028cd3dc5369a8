"""The SQLite ledger's attempts and retry claims (the SQL is shared with PostgreSQL in
``attempts``).

A mixin of ``sqlite.SqliteLedger``, which owns the connection, the mutex and the transactions.
A ledger of format 1 or 2 opened read-only has no attempts table: each row's current attempt is
all it records.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from runner.batch.ledger import attempts as sql
from runner.batch.ledger.base import Claim
from runner.batch.ledger.sqlite_outcomes import _Db
from runner.batch.ledger.sqlite_rows import locked


class SqliteAttempts:
    db: sqlite3.Connection
    _mutex: threading.RLock
    _tx: Callable[..., Any]
    _now: Callable[[], datetime]
    _outcome_tables: Callable[[], bool]

    def _db(self) -> _Db:
        return _Db(self)  # type: ignore[arg-type]

    def _attempts_table(self) -> bool:
        with self._mutex:
            found = self.db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'attempts'"
            ).fetchone()
        return found is not None

    @locked
    def retry_candidates(self, batch_id: str) -> list[dict[str, Any]]:
        if not self._outcome_tables():
            return []
        return sql.candidates(self._db(), batch_id)

    @locked
    def claim_retry(
        self,
        batch_id: str,
        row_no: int,
        attempt: int,
        call_sid: str,
        cap: tuple[int, str] | None = None,
        *,
        runner: str = "",
        caller: str | None = None,
    ) -> Claim:
        # Under SQLite's write lock, like a first claim: the checks and the claim are one
        # durable transaction.
        with self._tx():
            return sql.claim_retry(
                self._db(), batch_id, row_no, attempt, call_sid, cap, now=self._now(), caller=caller
            )

    @locked
    def attempts(self, batch_id: str) -> list[dict[str, Any]]:
        if self._attempts_table():
            return sql.attempts(self._db(), batch_id)
        # An older ledger read as it is: the current attempts alone.
        cursor = self.db.execute(
            "SELECT row_no, attempts, call_sid, state, sent_at, e164 FROM rows WHERE batch_id = ? "
            "AND attempts > 1 AND sent_at IS NOT NULL ORDER BY row_no",
            (batch_id,),
        )
        names = ["row_no", "attempt", "call_sid", "state", "sent_at", "e164"]
        return [{**dict(zip(names, r, strict=True)), "outcome": None} for r in cursor]
