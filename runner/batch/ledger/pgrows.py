"""The PostgreSQL ledger's row changes: recording rows, claims and answers.

A mixin of ``postgres.PostgresLedger`` (which holds the session and the clock); kept apart so
each module stays one screenful of concerns. Claims are never repeated after a lost connection
(see ``pgconn``); everything else here may be.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from runner.batch.ledger.attempts import CALLS_TO
from runner.batch.ledger.base import (
    CALLED,
    CLAIMABLE,
    DAY,
    Claim,
    cap_reason,
    repeat_reason,
    stamp,
)
from runner.batch.ledger.pgconn import Session

IN_CLAIMABLE = "('pending', 'deferred')"
READ_AHEAD = 64  # row states fetched by one state_of


class PgRows:
    session: Session
    _now: Callable[[], Any]
    _ahead: dict[tuple[str, int], str | None]  # row states read ahead (state_of)

    def _stamp(self) -> str:
        return stamp(self._now())

    def _event(
        self, c: Any, batch_id: str, row_no: int | None, kind: str, detail: str = ""
    ) -> None:
        c.execute(
            "INSERT INTO events (batch_id, row_no, at, kind, detail) VALUES (%s, %s, %s, %s, %s)",
            (batch_id, row_no, self._stamp(), kind, detail),
        )

    def _change(
        self,
        c: Any,
        batch_id: str,
        row_no: int,
        sets: str,
        values: tuple[Any, ...],
        when: str,
        event: tuple[str, str],
    ) -> bool:
        """``UPDATE rows SET sets`` on the row if ``when`` holds, and its event, in one
        statement; whether the row changed."""
        c.execute(
            f"WITH changed AS (UPDATE rows SET {sets}, updated_at = %s "
            f"WHERE batch_id = %s AND row_no = %s AND {when} RETURNING row_no) "
            "INSERT INTO events (batch_id, row_no, at, kind, detail) "
            "SELECT %s, row_no, %s, %s, %s FROM changed",
            (*values, self._stamp(), batch_id, row_no, batch_id, self._stamp(), *event),
        )
        return bool(c.rowcount == 1)

    # --- rows -------------------------------------------------------------------------------

    def state_of(self, batch_id: str, row_no: int) -> str | None:
        """The row's state, read ahead: one query answers for the next ``READ_AHEAD`` row
        numbers, since the file is read in row order and every runner reads all of it. A state
        read a moment early is safe: a row that was settled stays settled during a run, and a
        row that looked new or claimable is checked again when it is recorded, reserved and
        claimed."""
        key = (batch_id, row_no)
        ahead = self._ahead
        if key in ahead:
            return ahead.pop(key)

        def work(c: Any) -> dict[tuple[str, int], str | None]:
            c.execute(
                "SELECT row_no, state FROM rows WHERE batch_id = %s AND row_no >= %s "
                "AND row_no < %s",
                (batch_id, row_no, row_no + READ_AHEAD),
            )
            found: dict[tuple[str, int], str | None] = dict.fromkeys(
                ((batch_id, n) for n in range(row_no, row_no + READ_AHEAD)), None
            )
            found.update(((batch_id, n), state) for n, state in c.fetchall())
            return found

        ahead = self.session.run(work, single=True)
        state = ahead.pop(key)
        self._ahead = ahead  # replaced whole: the main thread is the only reader
        return state

    def add_pending(self, batch_id: str, row_no: int, e164: str) -> int | None:
        now = self._stamp()

        def insert(c: Any) -> bool:
            c.execute(
                "INSERT INTO rows (batch_id, row_no, e164, owner_e164, state, updated_at) "
                "VALUES (%s, %s, %s, %s, 'pending', %s) ON CONFLICT DO NOTHING",
                (batch_id, row_no, e164, e164, now),
            )
            return bool(c.rowcount == 1)

        def duplicate(c: Any) -> int | None:
            if insert(c):
                return None
            c.execute("SELECT 1 FROM rows WHERE batch_id = %s AND row_no = %s", (batch_id, row_no))
            if c.fetchone():
                return None  # another runner recorded this row first
            c.execute(
                "SELECT row_no FROM rows WHERE batch_id = %s AND owner_e164 = %s", (batch_id, e164)
            )
            first = c.fetchone()
            if first is None:
                return None
            c.execute(
                "INSERT INTO rows (batch_id, row_no, e164, state, skip_kind, reason, updated_at) "
                "VALUES (%s, %s, %s, 'skipped', 'duplicate', %s, %s) ON CONFLICT DO NOTHING",
                (batch_id, row_no, e164, f"duplicate of row {first[0]}", now),
            )
            return int(first[0])

        # Most rows are new: one statement; a conflict (a duplicate number, or a row another
        # runner recorded first) is sorted out in a transaction.
        if self.session.run(insert, single=True):
            return None
        return self.session.run(duplicate, durable=False)

    def add_skipped(
        self, batch_id: str, row_no: int, e164: str | None, kind: str, reason: str
    ) -> None:
        self.session.run(
            lambda c: c.execute(
                "INSERT INTO rows (batch_id, row_no, e164, state, skip_kind, reason, updated_at) "
                "VALUES (%s, %s, %s, 'skipped', %s, %s, %s) ON CONFLICT DO NOTHING",
                (batch_id, row_no, e164, kind, reason, self._stamp()),
            ),
            single=True,
        )

    def skip(self, batch_id: str, row_no: int, kind: str, reason: str) -> bool:
        return self.session.run(
            lambda c: self._change(
                c,
                batch_id,
                row_no,
                "state = 'skipped', skip_kind = %s, reason = %s, runner = NULL",
                (kind, reason),
                f"state IN {IN_CLAIMABLE}",
                ("skipped", f"{kind}: {reason}"),
            ),
            single=True,
        )

    def defer(self, batch_id: str, row_no: int, reason: str) -> None:
        # Released too: a row outside the window now is for a later run, whoever runs it.
        self.session.run(
            lambda c: c.execute(
                "UPDATE rows SET state = 'deferred', reason = %s, updated_at = %s, runner = NULL "
                f"WHERE batch_id = %s AND row_no = %s AND state IN {IN_CLAIMABLE}",
                (reason, self._stamp(), batch_id, row_no),
            ),
            single=True,
        )

    def claim(
        self,
        batch_id: str,
        row_no: int,
        min_interval: timedelta | None,
        cap: tuple[int, str] | None = None,
        *,
        runner: str = "",
        caller: str | None = None,
    ) -> Claim:
        def work(c: Any) -> Claim:
            c.execute(
                "SELECT r.state, r.e164, r.runner, (x.runner IS NOT NULL) FROM rows r "
                "LEFT JOIN runners x ON x.runner = %s AND x.ended_at IS NULL "
                "AND x.lease_until > clock_timestamp() "
                "WHERE r.batch_id = %s AND r.row_no = %s FOR UPDATE OF r",
                (runner, batch_id, row_no),
            )
            found = c.fetchone()
            if found is None or found[0] not in CLAIMABLE or (runner and found[2] != runner):
                return Claim("gone")
            if runner and not found[3]:
                return Claim("lapsed", "this runner's lease ran out (no heartbeat in time)")
            now = self._now()
            repeat_guard = min_interval is not None and min_interval > timedelta(0)
            if repeat_guard or cap is not None:
                # Claims of one number (from any batch or runner) take turns, so two cannot both
                # pass the repeat check or the cap (SQLite gets the same from its single writer).
                c.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (found[1],))
            if min_interval is not None and repeat_guard:
                c.execute(
                    "SELECT batch_id, row_no, state, sent_at FROM rows WHERE e164 = %s "
                    f"AND batch_id <> %s AND state IN {CALLED} AND sent_at >= %s "
                    "ORDER BY sent_at DESC LIMIT 1",
                    (found[1], batch_id, stamp(now - min_interval)),
                )
                earlier = c.fetchone()
                if earlier is not None:
                    reason = repeat_reason(earlier[2], earlier[3], earlier[0], earlier[1])
                    self._change(
                        c,
                        batch_id,
                        row_no,
                        "state = 'skipped', skip_kind = 'repeat', reason = %s, runner = NULL",
                        (reason,),
                        "true",
                        ("skipped", reason),
                    )
                    return Claim("repeat", reason)
            if cap is not None:
                limit, rule = cap
                since = stamp(now - DAY)
                c.execute(CALLS_TO, (found[1], since, found[1], since, since))
                done = int(c.fetchone()[0])
                if done >= limit:
                    reason = cap_reason(done, limit, rule)
                    self._change(
                        c,
                        batch_id,
                        row_no,
                        "state = 'deferred', reason = %s, runner = NULL",
                        (reason,),
                        "true",
                        ("deferred", reason),
                    )
                    return Claim("capped", reason)
            self._change(
                c,
                batch_id,
                row_no,
                "state = 'dialing', reason = NULL, attempts = attempts + 1, sent_at = %s, "
                "runner = coalesce(%s, runner), from_e164 = %s",
                (stamp(now), runner or None, caller),
                "true",
                ("dialing", ""),
            )
            return Claim("claimed")

        # Not repeated after a lost connection: the claim may have committed, and the caller
        # must then treat the row as claimed-but-not-sent, never send it blind.
        return self.session.run(work, retry=False)

    def calls_since(self, e164: str, since: datetime) -> int:
        def work(c: Any) -> int:
            at = stamp(since)
            c.execute(CALLS_TO, (e164, at, e164, at, at))
            return int(c.fetchone()[0])

        return self.session.run(work, single=True)

    def finish(
        self,
        batch_id: str,
        row_no: int,
        state: str,
        *,
        reason: str | None = None,
        call_sid: str | None = None,
        http_status: int | None = None,
        error_code: str | None = None,
    ) -> None:
        # A row that goes back to pending (never sent) is released for any runner. Recording
        # an answer may be repeated after a lost connection: the state test makes a repeat a
        # no-op, so the event is written once.
        self.session.run(
            lambda c: self._change(
                c,
                batch_id,
                row_no,
                "state = %s, reason = %s, call_sid = %s, http_status = %s, error_code = %s, "
                "runner = CASE WHEN %s = 'pending' THEN NULL ELSE runner END",
                (state, reason, call_sid, http_status, error_code, state),
                "state IN ('dialing', 'unknown')",
                (state, call_sid or reason or ""),
            )
        )

    def abandon(self, batch_id: str, rows: list[int], reason: str) -> None:
        def work(c: Any) -> None:
            for row_no in rows:
                self._change(
                    c, batch_id, row_no, "state = 'unknown', reason = %s", (reason,),
                    "state = 'dialing'", ("unknown", reason),
                )  # fmt: skip

        self.session.run(work)
