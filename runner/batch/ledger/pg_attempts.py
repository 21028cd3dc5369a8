"""The PostgreSQL ledger's attempts and retry claims (the SQL is shared with SQLite in
``attempts``).

A mixin of ``postgres.PostgresLedger``, which owns the session. A retry claim is never repeated
after a lost connection (like a first claim, see ``pgconn``): it may have committed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from runner.batch.ledger import attempts as sql
from runner.batch.ledger.base import Claim
from runner.batch.ledger.pg_outcomes import _Db
from runner.batch.ledger.pgconn import Session


def _db(ledger: Any, cursor: Any) -> _Db:
    return _Db(ledger, cursor)  # the same session and event log as the outcomes mixin


class PgAttempts:
    session: Session
    _now: Callable[[], Any]

    def retry_candidates(self, batch_id: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.session.run(
            lambda c: sql.candidates(_db(self, c), batch_id),
            durable=False,
        )
        return found

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
        def work(c: Any) -> Claim:
            if runner:
                c.execute(
                    "SELECT 1 FROM runners WHERE runner = %s AND ended_at IS NULL "
                    "AND lease_until > clock_timestamp()",
                    (runner,),
                )
                if c.fetchone() is None:
                    return Claim("lapsed", "this runner's lease ran out (no heartbeat in time)")
            c.execute(
                "SELECT e164 FROM rows WHERE batch_id = %s AND row_no = %s", (batch_id, row_no)
            )
            number = c.fetchone()
            if number is None:
                return Claim("gone")
            if cap is not None:
                # Claims of one number take turns (as in PgRows.claim), so two runners cannot
                # both pass the cap.
                c.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (number[0],))
            return sql.claim_retry(
                _db(self, c),
                batch_id,
                row_no,
                attempt,
                call_sid,
                cap,
                now=self._now(),
                caller=caller,
                lock=" FOR UPDATE",
                extra_set=", runner = coalesce(%s, runner)",
                extra_values=(runner or None,),
            )

        return self.session.run(work, retry=False)

    def attempts(self, batch_id: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.session.run(
            lambda c: sql.attempts(_db(self, c), batch_id),
            durable=False,
        )
        return found
