"""The durable ledger: every row's state, written before anything irreversible happens.

SQLite in WAL mode with ``synchronous=FULL``: each state change is one short transaction that is
on disk when ``commit`` returns, so a power cut cannot roll back a ``dialing`` mark and let a
restart call someone twice. The threads of one run share one connection behind a mutex: SQLite's
own busy handler sleeps in steps of up to 100 ms when connections of one process contend, which
would throttle a batch far below its rate.

States (README, "The ledger"): ``pending`` and ``deferred`` may be claimed; ``dialing`` is written
before the POST; ``placed``, ``failed``, ``skipped`` and ``unknown`` are final. After a crash,
``dialing`` becomes ``unknown``, never ``pending``.
"""

from __future__ import annotations

import functools
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

SCHEMA_VERSION = "1"
STATES = ("pending", "deferred", "dialing", "placed", "failed", "skipped", "unknown")
CLAIMABLE = ("pending", "deferred")
# Rows that count as "this number was (or may have been) called" for the repeat guard.
CALLED = ("dialing", "placed", "unknown")

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS batches (
    batch_id TEXT PRIMARY KEY,
    profile TEXT NOT NULL,
    contacts TEXT NOT NULL,
    contacts_sha256 TEXT NOT NULL,
    rows_total INTEGER,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS rows (
    batch_id TEXT NOT NULL REFERENCES batches(batch_id),
    row_no INTEGER NOT NULL,
    e164 TEXT,
    owner_e164 TEXT,
    state TEXT NOT NULL CHECK (state IN ({", ".join(repr(s) for s in STATES)})),
    skip_kind TEXT,
    reason TEXT,
    call_sid TEXT,
    http_status INTEGER,
    error_code TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    sent_at TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (batch_id, row_no),
    UNIQUE (batch_id, owner_e164)
);
CREATE INDEX IF NOT EXISTS rows_by_number ON rows (e164, sent_at);
CREATE INDEX IF NOT EXISTS rows_by_state ON rows (batch_id, state);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    batch_id TEXT NOT NULL,
    row_no INTEGER,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT
);
"""


class LedgerError(Exception):
    pass


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def stamp(when: datetime) -> str:
    # Fixed width, so text order is time order.
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class BatchInfo:
    batch_id: str
    profile: str
    contacts: str
    rows_total: int | None
    created_at: str
    updated_at: str


@dataclass
class Claim:
    outcome: str  # "claimed" | "repeat" | "capped" | "gone"
    reason: str = ""


def _locked(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(self: Ledger, *args: Any, **kwargs: Any) -> Any:
        with self._mutex:
            return method(self, *args, **kwargs)

    return wrapper


class Ledger:
    def __init__(self, path: str, *, readonly: bool = False, now: Any = utc_now):
        self.path = path
        self._now = now
        self._mutex = threading.RLock()
        try:
            if readonly:
                self.db = sqlite3.connect(
                    f"file:{path}?mode=ro",
                    uri=True,
                    timeout=30,
                    isolation_level=None,
                    check_same_thread=False,
                )
            else:
                self.db = sqlite3.connect(
                    path, timeout=30, isolation_level=None, check_same_thread=False
                )
            self.db.execute("PRAGMA busy_timeout = 30000")
            if not readonly:
                mode = self.db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise LedgerError(f"cannot use WAL mode for the ledger ({mode})")
                self.db.execute("PRAGMA synchronous = FULL")
                self._migrate()
            else:
                self._check_version()
        except sqlite3.DatabaseError as exc:
            raise LedgerError(f"cannot open the ledger {path}: {exc}") from None

    @_locked
    def close(self) -> None:
        self.db.close()

    def _migrate(self) -> None:
        with self._tx():
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self.db.execute(statement)
            found = self.db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            if found is None:
                self.db.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
            elif found[0] != SCHEMA_VERSION:
                raise LedgerError(
                    f"the ledger {self.path} has format {found[0]}; this version uses "
                    f"{SCHEMA_VERSION}"
                )

    def _check_version(self) -> None:
        try:
            found = self.db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        except sqlite3.OperationalError:
            found = None
        if found is None or found[0] != SCHEMA_VERSION:
            raise LedgerError(f"{self.path} is not a callprofile ledger")

    def _tx(self, durable: bool = True) -> Any:
        """One write transaction. ``durable=False`` is for bookkeeping that the next run derives
        from the contacts file again (pending, skipped, deferred rows): it skips the fsync, and
        the next durable commit (a claim) syncs it along, since the WAL is written in order.
        Claims and answers are always durable."""
        ledger = self

        class Tx:
            def __enter__(self) -> None:
                ledger._mutex.acquire()
                try:
                    if not durable:
                        ledger.db.execute("PRAGMA synchronous = NORMAL")
                    ledger.db.execute("BEGIN IMMEDIATE")
                except BaseException:
                    # e.g. another process held the write lock past the busy timeout
                    if not durable:
                        ledger.db.execute("PRAGMA synchronous = FULL")
                    ledger._mutex.release()
                    raise

            def __exit__(self, kind: object, value: object, tb: object) -> None:
                try:
                    ledger.db.execute("COMMIT" if kind is None else "ROLLBACK")
                finally:
                    if not durable:
                        ledger.db.execute("PRAGMA synchronous = FULL")
                    ledger._mutex.release()

        return Tx()

    def _stamp(self) -> str:
        return stamp(self._now())

    def _event(self, batch_id: str, row_no: int | None, kind: str, detail: str = "") -> None:
        self.db.execute(
            "INSERT INTO events (batch_id, row_no, at, kind, detail) VALUES (?, ?, ?, ?, ?)",
            (batch_id, row_no, self._stamp(), kind, detail),
        )

    # --- batches -------------------------------------------------------------------------

    @_locked
    def open_batch(self, batch_id: str, profile: str, contacts: str, sha256: str) -> bool:
        """Register the batch; True if it is new."""
        now = self._stamp()
        with self._tx():
            cursor = self.db.execute(
                "INSERT OR IGNORE INTO batches VALUES (?, ?, ?, ?, NULL, ?, ?)",
                (batch_id, profile, contacts, sha256, now, now),
            )
            new = cursor.rowcount == 1
            self._event(batch_id, None, "start", "new batch" if new else "resumed")
        return new

    @_locked
    def batch(self, batch_id: str) -> BatchInfo | None:
        row = self.db.execute(
            "SELECT batch_id, profile, contacts, rows_total, created_at, updated_at "
            "FROM batches WHERE batch_id = ?",
            (batch_id,),
        ).fetchone()
        return BatchInfo(*row) if row else None

    @_locked
    def batches(self) -> list[BatchInfo]:
        rows = self.db.execute(
            "SELECT batch_id, profile, contacts, rows_total, created_at, updated_at "
            "FROM batches ORDER BY created_at"
        ).fetchall()
        return [BatchInfo(*r) for r in rows]

    @_locked
    def set_total(self, batch_id: str, total: int) -> None:
        with self._tx():
            self.db.execute(
                "UPDATE batches SET rows_total = ?, updated_at = ? WHERE batch_id = ?",
                (total, self._stamp(), batch_id),
            )

    @_locked
    def note(self, batch_id: str, kind: str, detail: str = "") -> None:
        with self._tx(durable=False):
            self._event(batch_id, None, kind, detail)

    # --- start-up repairs ------------------------------------------------------------------

    @_locked
    def recover_dialing(self, batch_id: str) -> int:
        """Rows left ``dialing`` by a run that ended mid-call become ``unknown``, never pending."""
        with self._tx():
            stuck = [
                r[0]
                for r in self.db.execute(
                    "SELECT row_no FROM rows WHERE batch_id = ? AND state = 'dialing'", (batch_id,)
                )
            ]
            for row_no in stuck:
                self.db.execute(
                    "UPDATE rows SET state = 'unknown', reason = ?, updated_at = ? "
                    "WHERE batch_id = ? AND row_no = ?",
                    (
                        "the run ended after the call was claimed and before its answer was "
                        "recorded; the call may have been placed",
                        self._stamp(),
                        batch_id,
                        row_no,
                    ),
                )
                self._event(batch_id, row_no, "recovered", "dialing -> unknown")
        return len(stuck)

    @_locked
    def redial_unknown(self, batch_id: str) -> int:
        """``--redial-unknown``: put ``unknown`` rows back to pending, and say so in the log."""
        with self._tx():
            rows = self.db.execute(
                "SELECT row_no, reason FROM rows WHERE batch_id = ? AND state = 'unknown'",
                (batch_id,),
            ).fetchall()
            for row_no, reason in rows:
                self.db.execute(
                    "UPDATE rows SET state = 'pending', reason = ?, updated_at = ? "
                    "WHERE batch_id = ? AND row_no = ?",
                    ("redial requested with --redial-unknown", self._stamp(), batch_id, row_no),
                )
                self._event(batch_id, row_no, "redial-unknown", f"was unknown: {reason or ''}")
        return len(rows)

    # --- rows -------------------------------------------------------------------------------

    @_locked
    def state_of(self, batch_id: str, row_no: int) -> str | None:
        row = self.db.execute(
            "SELECT state FROM rows WHERE batch_id = ? AND row_no = ?", (batch_id, row_no)
        ).fetchone()
        return row[0] if row else None

    @_locked
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

    @_locked
    def add_skipped(
        self, batch_id: str, row_no: int, e164: str | None, kind: str, reason: str
    ) -> None:
        with self._tx(durable=False):
            self.db.execute(
                "INSERT INTO rows (batch_id, row_no, e164, state, skip_kind, reason, updated_at) "
                "VALUES (?, ?, ?, 'skipped', ?, ?, ?)",
                (batch_id, row_no, e164, kind, reason, self._stamp()),
            )

    @_locked
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

    @_locked
    def defer(self, batch_id: str, row_no: int, reason: str) -> None:
        with self._tx(durable=False):
            self.db.execute(
                "UPDATE rows SET state = 'deferred', reason = ?, updated_at = ? "
                f"WHERE batch_id = ? AND row_no = ? AND state IN {CLAIMABLE}",
                (reason, self._stamp(), batch_id, row_no),
            )

    @_locked
    def claim(
        self,
        batch_id: str,
        row_no: int,
        min_interval: timedelta | None,
        cap: tuple[int, str] | None = None,
    ) -> Claim:
        """Mark the row ``dialing``, durably, unless it is no longer claimable, its number was
        called by another batch within ``min_interval``, or ``cap`` (calls allowed in any
        24 hours, the rule that says so) is reached: then the row is deferred. Runs under
        SQLite's write lock, so two processes on different batches cannot both pass the repeat
        check or the cap for one number."""
        with self._tx():
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
                    verb = "placed" if earlier[2] == "placed" else "possibly placed"
                    reason = (
                        f"a call to this number was {verb} at {earlier[3]} "
                        f"(batch {earlier[0][:12]}, row {earlier[1]}), within --min-interval"
                    )
                    self.db.execute(
                        "UPDATE rows SET state = 'skipped', skip_kind = 'repeat', reason = ?, "
                        "updated_at = ? WHERE batch_id = ? AND row_no = ?",
                        (reason, stamp(now), batch_id, row_no),
                    )
                    self._event(batch_id, row_no, "skipped", reason)
                    return Claim("repeat", reason)
            if cap is not None:
                limit, rule = cap
                done = self.db.execute(
                    "SELECT coalesce(sum(attempts), 0) FROM rows WHERE e164 = ? "
                    f"AND state IN {CALLED} AND sent_at >= ?",
                    (found[1], stamp(now - timedelta(hours=24))),
                ).fetchone()[0]
                if done >= limit:
                    reason = (
                        f"{done} call(s) to this number in the last 24 h; at most {limit} "
                        f"allowed [{rule}]"
                    )
                    self.db.execute(
                        "UPDATE rows SET state = 'deferred', reason = ?, updated_at = ? "
                        "WHERE batch_id = ? AND row_no = ?",
                        (reason, stamp(now), batch_id, row_no),
                    )
                    self._event(batch_id, row_no, "deferred", reason)
                    return Claim("capped", reason)
            self.db.execute(
                "UPDATE rows SET state = 'dialing', reason = NULL, attempts = attempts + 1, "
                "sent_at = ?, updated_at = ? WHERE batch_id = ? AND row_no = ?",
                (stamp(now), stamp(now), batch_id, row_no),
            )
            self._event(batch_id, row_no, "dialing")
        return Claim("claimed")

    @_locked
    def calls_since(self, e164: str, since: datetime) -> int:
        """Calls placed (or possibly placed) to ``e164`` since ``since``, across every batch in
        this ledger. A row redialled counts all its attempts: counting high is the safe side."""
        found = self.db.execute(
            "SELECT coalesce(sum(attempts), 0) FROM rows WHERE e164 = ? "
            f"AND state IN {CALLED} AND sent_at >= ?",
            (e164, stamp(since)),
        ).fetchone()
        return int(found[0])

    @_locked
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
            self.db.execute(
                "UPDATE rows SET state = ?, reason = ?, call_sid = ?, http_status = ?, "
                "error_code = ?, updated_at = ? WHERE batch_id = ? AND row_no = ? "
                "AND state IN ('dialing', 'unknown')",
                (state, reason, call_sid, http_status, error_code, self._stamp(), batch_id, row_no),
            )
            self._event(batch_id, row_no, state, call_sid or reason or "")

    @_locked
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

    # --- reading ----------------------------------------------------------------------------

    @_locked
    def counts(self, batch_id: str) -> dict[str, int]:
        out = dict.fromkeys(STATES, 0)
        for state, count in self.db.execute(
            "SELECT state, count(*) FROM rows WHERE batch_id = ? GROUP BY state", (batch_id,)
        ):
            out[state] = count
        return out

    @_locked
    def skip_counts(self, batch_id: str) -> dict[str, int]:
        return {
            kind: count
            for kind, count in self.db.execute(
                "SELECT skip_kind, count(*) FROM rows WHERE batch_id = ? AND state = 'skipped' "
                "GROUP BY skip_kind ORDER BY skip_kind",
                (batch_id,),
            )
        }

    def rows(self, batch_id: str) -> Iterator[dict[str, Any]]:
        """Every row of the batch, streamed (for the report; call while no run writes)."""
        cursor = self.db.execute(
            "SELECT row_no, e164, state, skip_kind, reason, call_sid, http_status, error_code, "
            "attempts, sent_at, updated_at FROM rows WHERE batch_id = ? ORDER BY row_no",
            (batch_id,),
        )
        names = [d[0] for d in cursor.description]
        for values in cursor:
            yield dict(zip(names, values, strict=True))

    @_locked
    def events(self, batch_id: str) -> list[tuple[Any, ...]]:
        return self.db.execute(
            "SELECT row_no, at, kind, detail FROM events WHERE batch_id = ? ORDER BY id",
            (batch_id,),
        ).fetchall()
