"""Calls this user placed (or may have placed), per profile, whatever ledger recorded them.

The repeat guard (``--min-interval``) must not depend on which contacts file or ledger a batch
uses: a copy of the contacts in another folder gets another default ledger, yet calling its
numbers again within the interval is exactly what the guard exists to stop. So every claim is
also reserved here, in one journal per user (``$XDG_STATE_HOME/callprofile/recent-calls.db``),
durably and under SQLite's write lock before the POST: two batches of the same profile cannot
both pass the check for one number, whichever ledgers they use.

Entries only ever make the guard stricter: a reservation left by a crash counts as "possibly
placed", like a ``dialing`` row.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from runner.batch.ledger import LedgerError, LedgerUnavailable, stamp

FILE_NAME = "recent-calls.db"
_ROWS_PER_STATEMENT = 100  # 6 values a row, under SQLite's limit of bound variables
KEEP_DAYS = 3660  # entries older than the longest --min-interval are never consulted

_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    batch_id TEXT NOT NULL,
    row_no INTEGER NOT NULL,
    profile TEXT NOT NULL,
    e164 TEXT NOT NULL,
    ledger TEXT NOT NULL,
    at TEXT NOT NULL,
    state TEXT NOT NULL,
    PRIMARY KEY (ledger, batch_id, row_no)
);
CREATE INDEX IF NOT EXISTS calls_by_number ON calls (profile, e164, at);
"""


@dataclass
class Reservation:
    """A row about to be dialled."""

    e164: str
    batch_id: str
    row_no: int


def default_path() -> str:
    from runner.statedir import state_directory

    return os.path.join(state_directory(), FILE_NAME)


class NoJournal:
    """For a shared (PostgreSQL) ledger: the database already holds every runner's calls, so
    its own repeat guard sees them all; a per-machine file would only serialise the runners."""

    def reserve(self, **_: object) -> str | None:
        return None

    def settle(self, ledger: str, batch_id: str, row_no: int, state: str) -> None:
        return None

    def close(self) -> None:
        return None


class Journal:
    def __init__(self, path: str | None = None):
        self.path = path or default_path()
        self._mutex = threading.Lock()
        try:
            os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
            self.db = sqlite3.connect(
                self.path, timeout=30, isolation_level=None, check_same_thread=False
            )
            self.db.execute("PRAGMA busy_timeout = 30000")
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = FULL")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self.db.execute(statement)
            # Pruned once per run, not per claim: the delete scans the whole table.
            cutoff = stamp(datetime.now(timezone.utc) - timedelta(KEEP_DAYS))
            self.db.execute("DELETE FROM calls WHERE at < ?", (cutoff,))
        except (OSError, sqlite3.Error) as exc:
            raise LedgerError(
                f"cannot open the journal of recent calls {self.path} ({exc}); it keeps the "
                "repeat guard working across ledgers. Nothing was sent"
            ) from None

    def close(self) -> None:
        with self._mutex:
            self.db.close()

    def reserve(
        self,
        *,
        profile: str,
        e164: str,
        batch_id: str,
        row_no: int,
        ledger: str,
        now: datetime,
        min_interval: timedelta | None,
    ) -> str | None:
        """Record that this row is about to be dialled, unless another batch of the profile
        called (or may have called) the number within ``min_interval``: then the reason. The same
        batch in another ledger (a copy of the contacts elsewhere) counts as another batch."""
        ask = Reservation(e164, batch_id, row_no)
        return self.reserve_group(profile, ledger, now, min_interval, [ask])[0]

    def reserve_group(
        self,
        profile: str,
        ledger: str,
        now: datetime,
        min_interval: timedelta | None,
        asks: list[Reservation],
        settled: list[tuple[str, int, str]] | None = None,
    ) -> list[str | None]:
        """``reserve`` for several rows in one synced transaction (one fsync for the group),
        after recording how earlier rows ended (``settled``: batch, row, state; as ``settle``).
        Returns each row's repeat reason, or None where it was reserved."""
        verdicts = self.open_group(profile, ledger, now, min_interval, asks, settled)
        self.commit_group()
        return verdicts

    def open_group(
        self,
        profile: str,
        ledger: str,
        now: datetime,
        min_interval: timedelta | None,
        asks: list[Reservation],
        settled: list[tuple[str, int, str]] | None = None,
    ) -> list[str | None]:
        """The first half of ``reserve_group``: the checks and reservations, in a transaction
        left open for ``commit_group``, which another thread may run (so that this file's fsync
        and the ledger's overlap). The journal stays locked until then."""
        out: list[str | None] = []
        self._mutex.acquire()
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                self._settle_many(ledger, settled or ())
                out = self._reserve_many(profile, ledger, now, min_interval, asks)
            except BaseException:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            self._mutex.release()
            raise _failure(exc) from None
        except BaseException:
            self._mutex.release()
            raise
        return out

    def commit_group(self) -> None:
        """Make the group ``open_group`` wrote durable (or roll it back and raise), and unlock
        the journal."""
        try:
            try:
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise _failure(exc) from None
        finally:
            self._mutex.release()

    def _reserve_many(
        self,
        profile: str,
        ledger: str,
        now: datetime,
        min_interval: timedelta | None,
        asks: list[Reservation],
    ) -> list[str | None]:
        """``_reserve`` for each ask. Asks of one batch are checked in one query: they cannot
        see each other (the check leaves out the asking batch), so reading first and inserting
        after decides the same."""
        if len(asks) < 2 or len({a.batch_id for a in asks}) > 1:
            return [self._reserve(profile, ledger, now, min_interval, a) for a in asks]
        seen: dict[str, str] = {}
        if min_interval is not None and min_interval > timedelta(0):
            numbers = sorted({a.e164 for a in asks})
            marks = ", ".join("?" * len(numbers))
            # Newest first: the first row of each number is the one the single check reports.
            for e164, batch_id, row_no, where, at, state in self.db.execute(
                "SELECT e164, batch_id, row_no, ledger, at, state FROM calls "
                f"WHERE profile = ? AND e164 IN ({marks}) AND at >= ? "
                "AND NOT (batch_id = ? AND ledger = ?) ORDER BY at DESC",
                (profile, *numbers, stamp(now - min_interval), asks[0].batch_id, ledger),
            ):
                if e164 not in seen:
                    seen[e164] = _repeat(profile, (batch_id, row_no, where, at, state))
        at = stamp(now)
        fresh = [a for a in asks if a.e164 not in seen]
        for start in range(0, len(fresh), _ROWS_PER_STATEMENT):
            part = fresh[start : start + _ROWS_PER_STATEMENT]
            values = ", ".join(["(?, ?, ?, ?, ?, ?, 'dialing')"] * len(part))
            self.db.execute(
                f"INSERT OR REPLACE INTO calls VALUES {values}",
                [v for a in part for v in (a.batch_id, a.row_no, profile, a.e164, ledger, at)],
            )
        return [seen.get(a.e164) for a in asks]

    def _settle_many(self, ledger: str, settled: Iterable[tuple[str, int, str]]) -> None:
        """``_settle`` for each (batch, row, state): one statement per batch and outcome."""
        rows: dict[tuple[str, str], list[int]] = {}
        for batch_id, row_no, state in settled:
            kept = state if state in ("placed", "unknown") else ""  # "": the entry goes
            rows.setdefault((batch_id, kept), []).append(row_no)
        for (batch_id, kept), numbers in rows.items():
            for start in range(0, len(numbers), _ROWS_PER_STATEMENT):
                part = numbers[start : start + _ROWS_PER_STATEMENT]
                marks = ", ".join("?" * len(part))
                where = f"WHERE ledger = ? AND batch_id = ? AND row_no IN ({marks})"
                if kept:
                    self.db.execute(
                        f"UPDATE calls SET state = ? {where}", (kept, ledger, batch_id, *part)
                    )
                else:
                    self.db.execute(f"DELETE FROM calls {where}", (ledger, batch_id, *part))

    def _reserve(
        self,
        profile: str,
        ledger: str,
        now: datetime,
        min_interval: timedelta | None,
        ask: Reservation,
    ) -> str | None:
        if min_interval is not None and min_interval > timedelta(0):
            earlier = self.db.execute(
                "SELECT batch_id, row_no, ledger, at, state FROM calls "
                "WHERE profile = ? AND e164 = ? AND at >= ? "
                "AND NOT (batch_id = ? AND ledger = ?) ORDER BY at DESC LIMIT 1",
                (profile, ask.e164, stamp(now - min_interval), ask.batch_id, ledger),
            ).fetchone()
            if earlier is not None:
                return _repeat(profile, earlier)
        self.db.execute(
            "INSERT OR REPLACE INTO calls VALUES (?, ?, ?, ?, ?, ?, 'dialing')",
            (ask.batch_id, ask.row_no, profile, ask.e164, ledger, stamp(now)),
        )
        return None

    def settle(self, ledger: str, batch_id: str, row_no: int, state: str) -> None:
        """Record how the call ended; a call that was provably not placed leaves no entry.
        Not synced: a lost update leaves the stricter ``dialing``."""
        with self._mutex:
            try:
                self.db.execute("PRAGMA synchronous = NORMAL")
                self._settle(ledger, batch_id, row_no, state)
            except sqlite3.Error as exc:
                raise _failure(exc) from None
            finally:
                with contextlib.suppress(sqlite3.Error):
                    self.db.execute("PRAGMA synchronous = FULL")

    def _settle(self, ledger: str, batch_id: str, row_no: int, state: str) -> None:
        if state in ("placed", "unknown"):
            self.db.execute(
                "UPDATE calls SET state = ? WHERE ledger = ? AND batch_id = ? AND row_no = ?",
                (state, ledger, batch_id, row_no),
            )
        else:
            self.db.execute(
                "DELETE FROM calls WHERE ledger = ? AND batch_id = ? AND row_no = ?",
                (ledger, batch_id, row_no),
            )


def _repeat(profile: str, earlier: tuple[str, int, str, str, str]) -> str:
    """Why a row is a repeat, from the journal's entry (batch, row, ledger, at, state)."""
    batch_id, row_no, where, at, state = earlier
    verb = "placed" if state == "placed" else "possibly placed"
    return (
        f"a call to this number was {verb} at {at} by profile {profile} (batch "
        f"{batch_id[:12]}, row {row_no}, ledger {where}), within --min-interval"
    )


def _failure(exc: sqlite3.Error) -> LedgerError:
    """A full disk or a busy file stops the batch like a lost ledger (exit 6)."""
    message = f"cannot write the journal of recent calls ({exc})"
    if isinstance(exc, sqlite3.OperationalError):
        return LedgerUnavailable(message)
    return LedgerError(message)
