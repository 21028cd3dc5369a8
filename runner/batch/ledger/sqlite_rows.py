"""The SQLite ledger's row changes: recording rows, claims and answers.

A mixin of ``sqlite.SqliteLedger``, which owns the connection, the mutex and the transactions.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from runner.batch.ledger import sqlite_groups
from runner.batch.ledger.attempts import CALLS_TO
from runner.batch.ledger.base import (
    CALLED,
    CLAIMABLE,
    DAY,
    Claim,
    LedgerError,
    LedgerUnavailable,
    cap_reason,
    repeat_reason,
    stamp,
)
from runner.batch.ledger.groups import ClaimAsk, Finish
from runner.batch.ledger.sqlite_groups import FINISH, finish_values

_ROWS_PER_INSERT = 150  # 5 values a row, under SQLite's limit of bound variables


def locked(method: Callable[..., Any]) -> Callable[..., Any]:
    """One thread at a time; a SQLite failure never escapes as a bare sqlite3 error: a full
    disk, an I/O error or a lock held past the busy timeout is LedgerUnavailable (the batch
    stops claiming and exits 6, as when a shared ledger's database is lost), anything else a
    LedgerError naming the ledger."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        with self._mutex:
            try:
                return method(self, *args, **kwargs)
            except sqlite3.OperationalError as exc:
                raise LedgerUnavailable(f"cannot write the ledger {self.path}: {exc}") from None
            except sqlite3.Error as exc:
                raise LedgerError(f"cannot use the ledger {self.path}: {exc}") from None

    return wrapper


def end_transaction(db: sqlite3.Connection, *, commit: bool) -> None:
    """COMMIT (or ROLLBACK). A failed COMMIT (a full disk) can leave the transaction open: end
    it so the next one can begin, then report the failure."""
    try:
        db.execute("COMMIT" if commit else "ROLLBACK")
    except sqlite3.Error:
        if db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
        raise


class SqliteRows:
    db: sqlite3.Connection
    _mutex: threading.RLock
    _now: Callable[[], datetime]

    _tx: Callable[..., Any]  # one write transaction (SqliteLedger._tx)

    def _stamp(self) -> str:
        return stamp(self._now())

    def _event(self, batch_id: str, row_no: int | None, kind: str, detail: str = "") -> None:
        self.db.execute(
            "INSERT INTO events (batch_id, row_no, at, kind, detail) VALUES (?, ?, ?, ?, ?)",
            (batch_id, row_no, self._stamp(), kind, detail),
        )

    # --- rows -------------------------------------------------------------------------------

    @locked
    def state_of(self, batch_id: str, row_no: int) -> str | None:
        row = self.db.execute(
            "SELECT state FROM rows WHERE batch_id = ? AND row_no = ?", (batch_id, row_no)
        ).fetchone()
        return row[0] if row else None

    @locked
    def add_pending(self, batch_id: str, row_no: int, e164: str) -> int | None:
        """Record a valid row as pending. If the number already has a row in this batch, the
        row is recorded as a skipped duplicate and the first row's number is returned."""
        now = self._stamp()
        with self._tx(durable=False):
            try:
                self.db.execute(
                    "INSERT INTO rows (batch_id, row_no, e164, owner_e164, state, updated_at) "
                    "VALUES (?, ?, ?, ?, 'pending', ?)",
                    (batch_id, row_no, e164, e164, now),
                )
                return None
            except sqlite3.IntegrityError:
                pass
            first = self.db.execute(
                "SELECT row_no FROM rows WHERE batch_id = ? AND owner_e164 = ?", (batch_id, e164)
            ).fetchone()[0]
            self.db.execute(
                "INSERT INTO rows (batch_id, row_no, e164, state, skip_kind, reason, updated_at) "
                "VALUES (?, ?, ?, 'skipped', 'duplicate', ?, ?)",
                (batch_id, row_no, e164, f"duplicate of row {first}", now),
            )
            return int(first)

    @locked
    def states_of(self, batch_id: str, rows: list[int]) -> dict[int, str]:
        found: dict[int, str] = {}
        for start in range(0, len(rows), 500):  # under SQLite's limit of bound variables
            part = rows[start : start + 500]
            marks = ", ".join("?" * len(part))
            for row_no, state in self.db.execute(
                f"SELECT row_no, state FROM rows WHERE batch_id = ? AND row_no IN ({marks})",
                (batch_id, *part),
            ):
                found[row_no] = state
        return found

    @locked
    def add_pending_many(self, batch_id: str, rows: list[tuple[int, str]]) -> dict[int, int]:
        """``add_pending`` for several rows in one (unsynced) transaction: the rows that turned
        out to be duplicates, each with the first row of its number."""
        duplicates: dict[int, int] = {}
        if not rows:
            return duplicates
        now = self._stamp()
        with self._tx(durable=False):
            # One statement for a block of rows (a statement per row let the workers' group
            # commits wait on this transaction for as many trips through SQLite); a row the
            # insert leaves out holds a number already in the batch, and is handled below.
            for start in range(0, len(rows), _ROWS_PER_INSERT):
                part = rows[start : start + _ROWS_PER_INSERT]
                values = ", ".join(["(?, ?, ?, ?, 'pending', ?)"] * len(part))
                cursor = self.db.execute(
                    "INSERT OR IGNORE INTO rows (batch_id, row_no, e164, owner_e164, state, "
                    f"updated_at) VALUES {values}",
                    [v for row_no, e164 in part for v in (batch_id, row_no, e164, e164, now)],
                )
                if cursor.rowcount != len(part):
                    self._duplicates(batch_id, part, now, duplicates)
        return duplicates

    def _duplicates(
        self, batch_id: str, part: list[tuple[int, str]], now: str, duplicates: dict[int, int]
    ) -> None:
        """Record the rows of ``part`` the insert left out as duplicates of the first row of
        their number, in the caller's transaction."""
        marks = ", ".join("?" * len(part))
        inserted = {
            row_no
            for (row_no,) in self.db.execute(
                f"SELECT row_no FROM rows WHERE batch_id = ? AND row_no IN ({marks})",
                (batch_id, *(row_no for row_no, _ in part)),
            )
        }
        for row_no, e164 in part:
            if row_no not in inserted:
                first = self.db.execute(
                    "SELECT row_no FROM rows WHERE batch_id = ? AND owner_e164 = ?",
                    (batch_id, e164),
                ).fetchone()[0]
                self.db.execute(
                    "INSERT INTO rows (batch_id, row_no, e164, state, skip_kind, reason, "
                    "updated_at) VALUES (?, ?, ?, 'skipped', 'duplicate', ?, ?)",
                    (batch_id, row_no, e164, f"duplicate of row {first}", now),
                )
                duplicates[row_no] = int(first)

    @locked
    def add_skipped(
        self, batch_id: str, row_no: int, e164: str | None, kind: str, reason: str
    ) -> None:
        with self._tx(durable=False):
            self.db.execute(
                "INSERT INTO rows (batch_id, row_no, e164, state, skip_kind, reason, updated_at) "
                "VALUES (?, ?, ?, 'skipped', ?, ?, ?)",
                (batch_id, row_no, e164, kind, reason, self._stamp()),
            )

    @locked
    def skip(self, batch_id: str, row_no: int, kind: str, reason: str) -> bool:
        """Skip a claimable row (e.g. it is on the do-not-call list now)."""
        with self._tx(durable=False):
            cursor = self.db.execute(
                "UPDATE rows SET state = 'skipped', skip_kind = ?, reason = ?, updated_at = ? "
                f"WHERE batch_id = ? AND row_no = ? AND state IN {CLAIMABLE}",
                (kind, reason, self._stamp(), batch_id, row_no),
            )
            if cursor.rowcount:
                self._event(batch_id, row_no, "skipped", f"{kind}: {reason}")
        return cursor.rowcount == 1

    @locked
    def defer(self, batch_id: str, row_no: int, reason: str) -> None:
        with self._tx(durable=False):
            self.db.execute(
                "UPDATE rows SET state = 'deferred', reason = ?, updated_at = ? "
                f"WHERE batch_id = ? AND row_no = ? AND state IN {CLAIMABLE}",
                (reason, self._stamp(), batch_id, row_no),
            )

    @locked
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
        """Runs under SQLite's write lock, so two processes on different batches cannot both pass
        the repeat check or the cap for one number. ``runner`` is always this process (see the
        lock)."""
        with self._tx():
            return self._claim_row(batch_id, ClaimAsk(row_no, min_interval, cap, caller))

    @locked
    def write_group(
        self, batch_id: str, finishes: list[Finish], claims: list[ClaimAsk], *, runner: str = ""
    ) -> list[Claim]:
        """Answers first, then claims, all in one synced transaction: one fsync for the group.
        The answers were given by Telnyx before these claims were asked for, so a crash keeps
        either all of them or none, and never a claim without the answers before it."""
        with self._tx():
            return sqlite_groups.write_group(self, batch_id, finishes, claims)

    def _claim_row(self, batch_id: str, ask: ClaimAsk) -> Claim:
        """One claim, in the caller's write transaction."""
        row_no, min_interval, cap, caller = ask.row_no, ask.min_interval, ask.cap, ask.caller
        if ask.repeat is not None:
            # The journal of recent calls saw the number called by another batch.
            cursor = self.db.execute(
                "UPDATE rows SET state = 'skipped', skip_kind = 'repeat', reason = ?, "
                f"updated_at = ? WHERE batch_id = ? AND row_no = ? AND state IN {CLAIMABLE}",
                (ask.repeat, self._stamp(), batch_id, row_no),
            )
            if not cursor.rowcount:
                return Claim("gone")
            self._event(batch_id, row_no, "skipped", f"repeat: {ask.repeat}")
            return Claim("repeat", ask.repeat)
        found = self.db.execute(
            "SELECT state, e164 FROM rows WHERE batch_id = ? AND row_no = ?",
            (batch_id, row_no),
        ).fetchone()
        if found is None or found[0] not in CLAIMABLE:
            return Claim("gone")
        now = self._now()
        if min_interval is not None and min_interval > timedelta(0):
            earlier = self.db.execute(
                "SELECT batch_id, row_no, state, sent_at FROM rows WHERE e164 = ? "
                f"AND batch_id != ? AND state IN {CALLED} AND sent_at >= ? "
                "ORDER BY sent_at DESC LIMIT 1",
                (found[1], batch_id, stamp(now - min_interval)),
            ).fetchone()
            if earlier is not None:
                reason = repeat_reason(earlier[2], earlier[3], earlier[0], earlier[1])
                self.db.execute(
                    "UPDATE rows SET state = 'skipped', skip_kind = 'repeat', reason = ?, "
                    "updated_at = ? WHERE batch_id = ? AND row_no = ?",
                    (reason, stamp(now), batch_id, row_no),
                )
                self._event(batch_id, row_no, "skipped", reason)
                return Claim("repeat", reason)
        if cap is not None:
            limit, rule = cap
            since = stamp(now - DAY)
            done = self.db.execute(
                CALLS_TO.replace("%s", "?"), (found[1], since, found[1], since, since)
            ).fetchone()[0]
            if done >= limit:
                reason = cap_reason(done, limit, rule)
                self.db.execute(
                    "UPDATE rows SET state = 'deferred', reason = ?, updated_at = ? "
                    "WHERE batch_id = ? AND row_no = ?",
                    (reason, stamp(now), batch_id, row_no),
                )
                self._event(batch_id, row_no, "deferred", reason)
                return Claim("capped", reason)
        self.db.execute(
            "UPDATE rows SET state = 'dialing', reason = NULL, attempts = attempts + 1, "
            "sent_at = ?, updated_at = ?, from_e164 = ? WHERE batch_id = ? AND row_no = ?",
            (stamp(now), stamp(now), caller, batch_id, row_no),
        )
        self._event(batch_id, row_no, "dialing")
        return Claim("claimed")

    @locked
    def calls_since(self, e164: str, since: datetime) -> int:
        at = stamp(since)
        found = self.db.execute(CALLS_TO.replace("%s", "?"), (e164, at, e164, at, at)).fetchone()
        return int(found[0])

    @locked
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
        """Record the answer for a claimed row (``placed``, ``failed``, ``unknown``, or
        ``pending`` when the request provably never reached Telnyx)."""
        with self._tx():
            self._finish_row(
                batch_id, Finish(row_no, state, reason, call_sid, http_status, error_code)
            )

    def _finish_row(self, batch_id: str, f: Finish) -> None:
        """One answer, in the caller's write transaction."""
        self.db.execute(FINISH, finish_values(batch_id, f, self._stamp()))
        self._event(batch_id, f.row_no, f.state, f.call_sid or f.reason or "")

    @locked
    def abandon(self, batch_id: str, rows: list[int], reason: str) -> None:
        """A hard stop: rows still ``dialing`` become ``unknown`` now."""
        with self._tx():
            for row_no in rows:
                cursor = self.db.execute(
                    "UPDATE rows SET state = 'unknown', reason = ?, updated_at = ? "
                    "WHERE batch_id = ? AND row_no = ? AND state = 'dialing'",
                    (reason, self._stamp(), batch_id, row_no),
                )
                if cursor.rowcount:
                    self._event(batch_id, row_no, "unknown", reason)
