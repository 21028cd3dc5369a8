"""The SQLite ledger's part of ``batch-migrate``: a batch out as records, a batch in.

A mixin of ``sqlite.SqliteLedger``, which owns the connection, the mutex and the transactions.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

from runner.batch.ledger.base import (
    EVENT_COLUMNS,
    ROW_COLUMNS,
    BatchDump,
    BatchInfo,
    LedgerError,
)
from runner.batch.ledger.outcomes import MOVED, MOVED_WHERE, OF_BATCH
from runner.batch.ledger.sqlite_rows import locked


class SqliteMove:
    db: sqlite3.Connection
    path: str
    _tx: Callable[..., Any]  # one write transaction (SqliteLedger._tx)
    batch: Callable[[str], BatchInfo | None]
    _attempts_table: Callable[[], bool]

    # --- moving a batch ----------------------------------------------------------------------

    def dump(self, batch_id: str) -> BatchDump:
        info = self.batch(batch_id)
        if info is None:
            raise LedgerError(f"no batch {batch_id[:12]} in {self.path}")
        return BatchDump(
            info,
            self._stream("rows", ROW_COLUMNS, batch_id, "row_no"),
            self._stream("events", EVENT_COLUMNS, batch_id, "id"),
            {
                table: self._stream(
                    table, columns, batch_id, key, where=MOVED_WHERE.get(table, OF_BATCH)
                )
                for table, (columns, key) in MOVED.items()
                # A ledger of format 2 or older read as it is has no attempts table.
                if table != "attempts" or self._attempts_table()
            },
        )

    def _stream(
        self,
        table: str,
        columns: tuple[str, ...],
        batch_id: str,
        order: str,
        where: str = "batch_id = %s",
    ) -> Iterator[dict[str, Any]]:
        # A cursor of its own: the copy reads while nothing else uses this connection.
        cursor = self.db.execute(
            f"SELECT {', '.join(columns)} FROM {table} WHERE {where.replace('%s', '?')} "
            f"ORDER BY {order}",
            (batch_id,),
        )
        for values in cursor:
            yield dict(zip(columns, values, strict=True))

    @locked
    def load(self, dump: BatchDump) -> int:
        info = dump.info
        copied = 0
        with self._tx():
            if self.db.execute(
                "SELECT 1 FROM batches WHERE batch_id = ?", (info.batch_id,)
            ).fetchone():
                raise LedgerError(f"{self.path} already holds batch {info.batch_id[:12]}")
            self.db.execute(
                "INSERT INTO batches VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    info.batch_id,
                    info.profile,
                    info.contacts,
                    info.contacts_sha256,
                    info.rows_total,
                    info.created_at,
                    info.updated_at,
                ),
            )
            row_sql = (
                f"INSERT INTO rows (batch_id, {', '.join(ROW_COLUMNS)}) "
                f"VALUES (?, {', '.join('?' for _ in ROW_COLUMNS)})"
            )
            for row in dump.rows:
                self.db.execute(row_sql, (info.batch_id, *(row[c] for c in ROW_COLUMNS)))
                copied += 1
            event_sql = (
                f"INSERT INTO events (batch_id, {', '.join(EVENT_COLUMNS)}) "
                f"VALUES (?, {', '.join('?' for _ in EVENT_COLUMNS)})"
            )
            for event in dump.events:
                self.db.execute(event_sql, (info.batch_id, *(event[c] for c in EVENT_COLUMNS)))
            for table, records in dump.calls.items():
                columns = MOVED[table][0]
                # What this ledger already heard about a call (its own receiver) is kept.
                sql = (
                    f"INSERT OR IGNORE INTO {table} ({', '.join(columns)}) "
                    f"VALUES ({', '.join('?' for _ in columns)})"
                )
                for record in records:
                    self.db.execute(sql, tuple(record[c] for c in columns))
        return copied
