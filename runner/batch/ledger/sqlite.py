"""The embedded ledger: one SQLite file, owned by one process per batch.

SQLite in WAL mode with ``synchronous=FULL``: each state change is one short transaction that is
on disk when ``commit`` returns, so a power cut cannot roll back a ``dialing`` mark and let a
restart call someone twice. The threads of one run share one connection behind a mutex: SQLite's
own busy handler sleeps in steps of up to 100 ms when connections of one process contend, which
would throttle a batch far below its rate. A second process on the same batch is kept off by
``runner.batch.lock``, so this ledger has exactly one runner and never needs leases.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from typing import Any

from runner.batch.ledger import attempts as attempts_sql
from runner.batch.ledger.base import (
    LOCAL_RUNNER,
    REDIALLABLE,
    ROW_COLUMNS,
    STATES,
    BatchInfo,
    Ledger,
    LedgerError,
    RunnerShare,
    utc_now,
)
from runner.batch.ledger.outcomes import SQLITE_TABLES
from runner.batch.ledger.sqlite_attempts import SqliteAttempts
from runner.batch.ledger.sqlite_move import SqliteMove
from runner.batch.ledger.sqlite_outcomes import SqliteOutcomes
from runner.batch.ledger.sqlite_rows import SqliteRows, end_transaction, locked

# Format 2 added the not-placed state, rows.from_e164 and the outcome tables (outcomes.py);
# format 3 the attempts table (attempts.py). An older file is read as it is, and upgraded in
# place when opened for writing.
SCHEMA_VERSION = "3"
READABLE_VERSIONS = ("1", "2", "3")
# The rows columns of format 1, copied as they are into format 2.
_V1_ROW_COLUMNS = ", ".join(["batch_id", *(c for c in ROW_COLUMNS if c != "from_e164")])

_META = "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
_ROWS = f"""
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
    from_e164 TEXT,
    PRIMARY KEY (batch_id, row_no),
    UNIQUE (batch_id, owner_e164)
);
CREATE INDEX IF NOT EXISTS rows_by_number ON rows (e164, sent_at);
CREATE INDEX IF NOT EXISTS rows_by_state ON rows (batch_id, state);
"""
_SCHEMA = f"""
{_META};
CREATE TABLE IF NOT EXISTS batches (
    batch_id TEXT PRIMARY KEY,
    profile TEXT NOT NULL,
    contacts TEXT NOT NULL,
    contacts_sha256 TEXT NOT NULL,
    rows_total INTEGER,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
{_ROWS}
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    batch_id TEXT NOT NULL,
    row_no INTEGER,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT
);
"""


def _run(db: sqlite3.Connection, script: str) -> None:
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


class SqliteLedger(SqliteRows, SqliteOutcomes, SqliteAttempts, SqliteMove, Ledger):
    def __init__(self, path: str, *, readonly: bool = False, now: Any = utc_now):
        self.path = path
        self.location = path
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

    @locked
    def close(self) -> None:
        self.db.close()

    def _migrate(self) -> None:
        with self._tx():
            self.db.execute(_META)
            found = self.db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            if found is not None and found[0] not in READABLE_VERSIONS:
                raise LedgerError(
                    f"the ledger {self.path} has format {found[0]}; this version uses "
                    f"{SCHEMA_VERSION}"
                )
            if found is not None and found[0] == "1":
                self._upgrade_from_1()
            _run(self.db, _SCHEMA)
            _run(self.db, SQLITE_TABLES)
            _run(self.db, attempts_sql.SQLITE_TABLES)
            if found is None:
                self.db.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
            elif found[0] == "2":
                # Format 2 -> 3 is the new attempts table alone, created just above.
                self.db.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (SCHEMA_VERSION,))
                self._event("", None, "migrated", f"ledger format 2 -> {SCHEMA_VERSION}")

    def _upgrade_from_1(self) -> None:
        """Format 1 -> 2, in the caller's transaction. SQLite cannot change a CHECK constraint
        in place, so ``rows`` is rebuilt (with the new state and ``from_e164``)."""
        self.db.execute("ALTER TABLE rows RENAME TO rows_v1")
        # Indexes move with a renamed table; drop them so the new table gets its own.
        self.db.execute("DROP INDEX IF EXISTS rows_by_number")
        self.db.execute("DROP INDEX IF EXISTS rows_by_state")
        _run(self.db, _ROWS)
        self.db.execute(
            f"INSERT INTO rows ({_V1_ROW_COLUMNS}) SELECT {_V1_ROW_COLUMNS} FROM rows_v1"
        )
        self.db.execute("DROP TABLE rows_v1")
        self.db.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (SCHEMA_VERSION,))
        self._event("", None, "migrated", f"ledger format 1 -> {SCHEMA_VERSION}")

    def _check_version(self) -> None:
        try:
            found = self.db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        except sqlite3.OperationalError:
            found = None
        if found is None or found[0] not in READABLE_VERSIONS:
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
                    end_transaction(ledger.db, commit=kind is None)
                finally:
                    try:
                        if not durable:
                            ledger.db.execute("PRAGMA synchronous = FULL")
                    finally:
                        ledger._mutex.release()

        return Tx()

    # --- batches -------------------------------------------------------------------------

    @locked
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

    @locked
    def batch(self, batch_id: str) -> BatchInfo | None:
        row = self.db.execute(
            "SELECT batch_id, profile, contacts, rows_total, created_at, updated_at, "
            "contacts_sha256 FROM batches WHERE batch_id = ?",
            (batch_id,),
        ).fetchone()
        return BatchInfo(*row) if row else None

    @locked
    def batches(self) -> list[BatchInfo]:
        rows = self.db.execute(
            "SELECT batch_id, profile, contacts, rows_total, created_at, updated_at, "
            "contacts_sha256 FROM batches ORDER BY created_at"
        ).fetchall()
        return [BatchInfo(*r) for r in rows]

    @locked
    def set_total(self, batch_id: str, total: int) -> None:
        with self._tx():
            self.db.execute(
                "UPDATE batches SET rows_total = ?, updated_at = ? WHERE batch_id = ?",
                (total, self._stamp(), batch_id),
            )

    @locked
    def note(self, batch_id: str, kind: str, detail: str = "") -> None:
        with self._tx(durable=False):
            self._event(batch_id, None, kind, detail)

    # --- runners: one process owns the batch (runner.batch.lock), so these are trivial -------

    def join(self, batch_id: str, label: str, on_lost: Callable[[str], None]) -> str:
        return LOCAL_RUNNER

    def leave(self, runner: str, reason: str = "done") -> None:
        pass

    def reserve(self, batch_id: str, runner: str, rows: list[int]) -> list[int]:
        return rows  # the claim itself checks the state

    def adopt(self, batch_id: str, runner: str, limit: int) -> list[int]:
        return []

    def others_busy(self, batch_id: str, runner: str) -> bool:
        return False

    def runners(self, batch_id: str) -> list[RunnerShare]:
        return []

    def running(self, batch_id: str) -> bool:
        from runner.batch.lock import BatchLock

        return BatchLock(self.path, batch_id).held()

    def rate_limiter(self, batch_id: str, rate: float, wait: Callable[[float], object]) -> Any:
        return None

    # --- start-up repairs ------------------------------------------------------------------

    @locked
    def recover_dialing(self, batch_id: str, *, runner: str = "") -> int:
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

    @locked
    def redial_unknown(self, batch_id: str) -> int:
        """``--redial-unknown``: put ``unknown`` and ``not-placed`` rows back to pending, and
        say so in the log."""
        with self._tx():
            rows = self.db.execute(
                "SELECT row_no, state, reason FROM rows WHERE batch_id = ? "
                f"AND state IN {REDIALLABLE}",
                (batch_id,),
            ).fetchall()
            # The attempts that ended unknown stay on record, each as its own attempt.
            attempts_sql.archive_states(self._db(), batch_id, REDIALLABLE, self._stamp())
            for row_no, state, reason in rows:
                self.db.execute(
                    "UPDATE rows SET state = 'pending', reason = ?, updated_at = ? "
                    "WHERE batch_id = ? AND row_no = ?",
                    ("redial requested with --redial-unknown", self._stamp(), batch_id, row_no),
                )
                self._event(batch_id, row_no, "redial-unknown", f"was {state}: {reason or ''}")
        return len(rows)

    # --- reading ----------------------------------------------------------------------------

    @locked
    def counts(self, batch_id: str) -> dict[str, int]:
        out = dict.fromkeys(STATES, 0)
        for state, count in self.db.execute(
            "SELECT state, count(*) FROM rows WHERE batch_id = ? GROUP BY state", (batch_id,)
        ):
            out[state] = count
        return out

    @locked
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

    @locked
    def events(self, batch_id: str) -> list[tuple[Any, ...]]:
        return self.db.execute(
            "SELECT row_no, at, kind, detail FROM events WHERE batch_id = ? ORDER BY id",
            (batch_id,),
        ).fetchall()
