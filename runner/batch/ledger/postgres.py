"""The shared ledger: one PostgreSQL database that any number of runners use at once.

Same states and rules as the SQLite ledger, plus what cooperation needs. Each row a runner will
dial is first *reserved* for it (``runner`` column), a few rows at a time with ``FOR UPDATE SKIP
LOCKED``, so runners never wait on each other's rows; the claim (``dialing``) is then committed
row by row before its POST, exactly as with SQLite. A runner keeps a lease alive with a heartbeat
(``pgrunners``); when a lease runs out, the runner's ``dialing`` rows become ``unknown`` (never
pending) and the rows it only reserved go back to the others. Times in rows and events are the
runner's clock, as in SQLite; leases use the database's clock, which every runner shares.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import islice
from typing import Any

from runner.batch.ledger import attempts as attempts_sql
from runner.batch.ledger import pgrunners, pgschema
from runner.batch.ledger.base import (
    EVENT_COLUMNS,
    REDIALLABLE,
    ROW_COLUMNS,
    STATES,
    BatchDump,
    BatchInfo,
    Ledger,
    LedgerError,
    RunnerShare,
    utc_now,
)
from runner.batch.ledger.outcomes import MOVED, MOVED_WHERE, OF_BATCH
from runner.batch.ledger.pg_attempts import PgAttempts
from runner.batch.ledger.pg_outcomes import PgOutcomes, _Db
from runner.batch.ledger.pgconn import Session
from runner.batch.ledger.pgrows import IN_CLAIMABLE, PgRows
from runner.batch.ledger.spec import display

DEFAULT_LEASE = 30.0  # seconds without a heartbeat before a runner is taken for dead
PAGE = 1000  # rows per query when streaming a batch out
CONNECTIONS = 4  # per runner: its workers' claims and answers commit side by side
_BATCH_COLUMNS = "batch_id, profile, contacts, rows_total, created_at, updated_at, contacts_sha256"
_LIVE = pgrunners.alive("x")
# The batch's live runners, worked out once per statement (liveness reads pg_locks, which must
# not run once per row). Statements that use _FREE start with it; its parameter is the batch.
_WITH_LIVE = (
    f"WITH live AS MATERIALIZED (SELECT x.runner FROM runners x WHERE x.batch_id = %s AND {_LIVE}) "
)
# A row nobody live holds: no runner, or one that is not alive.
_FREE = "(r.runner IS NULL OR r.runner NOT IN (SELECT runner FROM live))"
# A row whose runner ended (the heartbeat or a reap found it dead, or it left).
_ENDED = (
    "(r.runner IS NULL OR NOT EXISTS (SELECT 1 FROM runners x WHERE x.runner = r.runner "
    "AND x.ended_at IS NULL))"
)
# Take rows for a runner: pick them (locking each, skipping rows another transaction holds),
# then mark them. The pick is materialised first and reads by key, so the plan stays a few
# index lookups however stale the table's statistics are: a batch fills the table faster than
# autovacuum analyses it, and a semi-join could re-run the pick for every row.
_TAKE = (
    _WITH_LIVE + ", picked AS MATERIALIZED (SELECT r.row_no FROM {source} WHERE {pick} {order}) "
    "UPDATE rows SET runner = %s FROM picked WHERE rows.batch_id = %s "
    "AND rows.row_no = picked.row_no RETURNING rows.row_no"
)
_LEFT_DIALING = (
    "the runner that claimed it stopped after the call was claimed and before its answer was "
    "recorded; the call may have been placed"
)


class PostgresLedger(PgRows, PgOutcomes, PgAttempts, Ledger):
    shared = True

    def __init__(
        self,
        url: str,
        *,
        readonly: bool = False,
        now: Callable[[], Any] = utc_now,
        lease: float = DEFAULT_LEASE,
    ):
        self.url = url
        self.location = display(url)
        self.lease = lease
        self._now = now
        self._members: dict[str, pgrunners.Membership] = {}
        self._ahead = {}
        # Repeatable work is retried for up to half a lease: longer, and the other runners
        # would take this one for dead while it still tries.
        self.session = Session(
            url,
            retry_for=max(1.0, lease / 2),
            readonly=readonly,
            size=1 if readonly else CONNECTIONS,
        )
        try:
            if readonly:
                self.session.run(lambda c: pgschema.check(c, self.location))
            else:
                self.session.run(lambda c: pgschema.migrate(c, self.location))
        except BaseException:
            self.session.close()
            raise

    def close(self) -> None:
        for member in list(self._members.values()):
            member.stop()
        self.session.close()

    # --- batches -------------------------------------------------------------------------

    def open_batch(self, batch_id: str, profile: str, contacts: str, sha256: str) -> bool:
        now = self._stamp()

        def work(c: Any) -> bool:
            c.execute(
                "INSERT INTO batches (batch_id, profile, contacts, contacts_sha256, rows_total, "
                "created_at, updated_at) VALUES (%s, %s, %s, %s, NULL, %s, %s) "
                "ON CONFLICT (batch_id) DO NOTHING",
                (batch_id, profile, contacts, sha256, now, now),
            )
            new = bool(c.rowcount == 1)
            c.execute(
                "INSERT INTO rate_slots VALUES (%s, clock_timestamp(), 'epoch') "
                "ON CONFLICT (batch_id) DO NOTHING",
                (batch_id,),
            )
            self._event(c, batch_id, None, "start", "new batch" if new else "resumed")
            return new

        return self.session.run(work)

    def batch(self, batch_id: str) -> BatchInfo | None:
        def work(c: Any) -> Any:
            c.execute(f"SELECT {_BATCH_COLUMNS} FROM batches WHERE batch_id = %s", (batch_id,))
            return c.fetchone()

        row = self.session.run(work, single=True)
        return BatchInfo(*row) if row else None

    def batches(self) -> list[BatchInfo]:
        def work(c: Any) -> list[Any]:
            c.execute(f"SELECT {_BATCH_COLUMNS} FROM batches ORDER BY created_at, batch_id")
            return c.fetchall()

        return [BatchInfo(*r) for r in self.session.run(work, single=True)]

    def set_total(self, batch_id: str, total: int) -> None:
        self.session.run(
            lambda c: c.execute(
                "UPDATE batches SET rows_total = %s, updated_at = %s WHERE batch_id = %s",
                (total, self._stamp(), batch_id),
            )
        )

    def note(self, batch_id: str, kind: str, detail: str = "") -> None:
        self.session.run(lambda c: self._event(c, batch_id, None, kind, detail), single=True)

    # --- runners ---------------------------------------------------------------------------

    def join(self, batch_id: str, label: str, on_lost: Callable[[str], None]) -> str:
        member = pgrunners.Membership(
            self.url,
            batch_id,
            label,
            lease=self.lease,
            started=self._stamp(),
            on_lost=on_lost,
            recover=self._recover,
        )
        self._members[member.runner] = member
        return member.runner

    def leave(self, runner: str, reason: str = "done") -> None:
        member = self._members.pop(runner, None)
        if member is not None:
            # Ended first, then the lock let go: otherwise another runner could find the lock
            # gone first and take this runner for one that died.
            member.leaving.set()
            try:
                pgrunners.leave(self.session, member.batch_id, runner, reason)
            finally:
                member.stop()

    def reserve(self, batch_id: str, runner: str, rows: list[int]) -> list[int]:
        if not rows:
            return []

        def work(c: Any) -> list[int]:
            c.execute(
                _TAKE.format(
                    # One lookup by primary key per wanted row, locked in turn.
                    source="unnest(%s::integer[]) AS want (row_no), LATERAL (SELECT r.row_no "
                    "FROM rows r WHERE r.batch_id = %s AND r.row_no = want.row_no "
                    f"AND r.state IN {IN_CLAIMABLE} AND (r.runner = %s OR {_FREE}) "
                    "FOR UPDATE SKIP LOCKED) r",
                    pick="true",
                    order="",
                ),
                (batch_id, rows, batch_id, runner, runner, batch_id),
            )
            return sorted(r[0] for r in c.fetchall())

        return self.session.run(work, single=True)

    def adopt(self, batch_id: str, runner: str, limit: int) -> list[int]:
        def work(c: Any) -> list[int]:
            self._recover(c, batch_id, runner)
            c.execute(
                _TAKE.format(
                    source="rows r",
                    pick="r.batch_id = %s AND r.state = 'pending' "
                    f"AND r.runner IS DISTINCT FROM %s AND {_FREE}",
                    order="ORDER BY r.row_no LIMIT %s FOR UPDATE OF r SKIP LOCKED",
                ),
                (batch_id, batch_id, runner, limit, runner, batch_id),
            )
            return sorted(r[0] for r in c.fetchall())

        return self.session.run(work, durable=False)

    def others_busy(self, batch_id: str, runner: str) -> bool:
        def work(c: Any) -> bool:
            # Runners first (a few), then one of their rows still to dial or in flight each.
            c.execute(
                f"SELECT EXISTS (SELECT 1 FROM runners x WHERE x.batch_id = %s "
                f"AND x.runner <> %s AND {_LIVE} AND EXISTS (SELECT 1 FROM rows r "
                "WHERE r.batch_id = x.batch_id AND r.state IN ('pending', 'dialing') "
                "AND r.runner = x.runner))",
                (batch_id, runner),
            )
            return bool(c.fetchone()[0])

        return self.session.run(work, single=True)

    def runners(self, batch_id: str) -> list[RunnerShare]:
        return pgrunners.shares(self.session, batch_id)

    def running(self, batch_id: str) -> bool:
        def work(c: Any) -> bool:
            c.execute(
                f"SELECT EXISTS (SELECT 1 FROM runners x WHERE x.batch_id = %s AND {_LIVE})",
                (batch_id,),
            )
            return bool(c.fetchone()[0])

        return self.session.run(work, single=True)

    def rate_limiter(self, batch_id: str, rate: float, wait: Callable[[float], object]) -> Any:
        from runner.batch.ledger.pgrate import SharedRate

        return SharedRate(self.session, batch_id, rate, wait)

    # --- start-up repairs --------------------------------------------------------------------

    def recover_dialing(self, batch_id: str, *, runner: str = "") -> int:
        return self.session.run(lambda c: self._recover(c, batch_id, runner))

    def _recover(self, c: Any, batch_id: str, runner: str = "") -> int:
        pgrunners.reap(c, batch_id, runner)
        c.execute(
            "UPDATE rows r SET state = 'unknown', reason = %s, updated_at = %s "
            f"WHERE r.batch_id = %s AND r.state = 'dialing' AND {_ENDED} RETURNING r.row_no",
            (_LEFT_DIALING, self._stamp(), batch_id),
        )
        stuck = [r[0] for r in c.fetchall()]
        for row_no in stuck:
            self._event(c, batch_id, row_no, "recovered", "dialing -> unknown")
        return len(stuck)

    def redial_unknown(self, batch_id: str) -> int:
        def work(c: Any) -> int:
            # The attempts that ended unknown stay on record, each as its own attempt.
            attempts_sql.archive_states(_Db(self, c), batch_id, REDIALLABLE, self._stamp())
            c.execute(
                "UPDATE rows r SET state = 'pending', reason = %s, updated_at = %s, runner = NULL "
                "FROM (SELECT row_no, state, reason FROM rows WHERE batch_id = %s "
                f"AND state IN {REDIALLABLE} FOR UPDATE) was "
                "WHERE r.batch_id = %s AND r.row_no = was.row_no "
                "RETURNING r.row_no, was.state, was.reason",
                ("redial requested with --redial-unknown", self._stamp(), batch_id, batch_id),
            )
            again = c.fetchall()
            for row_no, state, reason in again:
                self._event(c, batch_id, row_no, "redial-unknown", f"was {state}: {reason or ''}")
            return len(again)

        return self.session.run(work)

    # --- reading -------------------------------------------------------------------------------

    def counts(self, batch_id: str) -> dict[str, int]:
        def work(c: Any) -> list[Any]:
            c.execute(
                "SELECT state, count(*) FROM rows WHERE batch_id = %s GROUP BY state", (batch_id,)
            )
            return c.fetchall()

        out = dict.fromkeys(STATES, 0)
        for state, count in self.session.run(work, single=True):
            out[state] = int(count)
        return out

    def skip_counts(self, batch_id: str) -> dict[str, int]:
        def work(c: Any) -> list[Any]:
            c.execute(
                "SELECT skip_kind, count(*) FROM rows WHERE batch_id = %s AND state = 'skipped' "
                "GROUP BY skip_kind ORDER BY skip_kind",
                (batch_id,),
            )
            return c.fetchall()

        return {kind: int(count) for kind, count in self.session.run(work, single=True)}

    def rows(self, batch_id: str) -> Iterator[dict[str, Any]]:
        return self._pages("rows", ROW_COLUMNS, batch_id, "row_no")

    def _pages(
        self,
        table: str,
        columns: tuple[str, ...],
        batch_id: str,
        key: str,
        where: str = "batch_id = %s",
    ) -> Iterator[dict[str, Any]]:
        # Page by key rather than hold one long transaction (and the connection) open.
        after: Any = "" if key == "call_sid" else -1
        names = ", ".join((key, *columns)) if key not in columns else ", ".join(columns)
        while True:

            def work(c: Any, after: Any = after) -> list[Any]:
                c.execute(
                    f"SELECT {names} FROM {table} WHERE {where} AND {key} > %s "
                    f"ORDER BY {key} LIMIT %s",
                    (batch_id, after, PAGE),
                )
                return c.fetchall()

            page = self.session.run(work, single=True)
            for values in page:
                record = dict(zip(names.split(", "), values, strict=True))
                after = record.pop(key) if key not in columns else record[key]
                yield record
            if len(page) < PAGE:
                return

    def events(self, batch_id: str) -> list[tuple[Any, ...]]:
        def work(c: Any) -> list[Any]:
            c.execute(
                "SELECT row_no, at, kind, detail FROM events WHERE batch_id = %s ORDER BY id",
                (batch_id,),
            )
            return c.fetchall()

        return [tuple(r) for r in self.session.run(work, single=True)]

    # --- moving a batch ------------------------------------------------------------------------

    def dump(self, batch_id: str) -> BatchDump:
        info = self.batch(batch_id)
        if info is None:
            raise LedgerError(f"no batch {batch_id[:12]} in {self.location}")
        return BatchDump(
            info,
            self._pages("rows", ROW_COLUMNS, batch_id, "row_no"),
            self._pages("events", EVENT_COLUMNS, batch_id, "id"),
            {
                table: self._pages(
                    table, columns, batch_id, key, where=MOVED_WHERE.get(table, OF_BATCH)
                )
                for table, (columns, key) in MOVED.items()
            },
        )

    def load(self, dump: BatchDump) -> int:
        info = dump.info

        def work(c: Any) -> int:
            c.execute(
                f"INSERT INTO batches ({_BATCH_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (batch_id) DO NOTHING",
                (info.batch_id, info.profile, info.contacts, info.rows_total, info.created_at,
                 info.updated_at, info.contacts_sha256),
            )  # fmt: skip
            if c.rowcount != 1:
                raise LedgerError(f"{self.location} already holds batch {info.batch_id[:12]}")
            c.execute(
                "INSERT INTO rate_slots VALUES (%s, clock_timestamp(), 'epoch')",
                (info.batch_id,),
            )
            copied = _copy(c, "rows", ROW_COLUMNS, info.batch_id, dump.rows)
            _copy(c, "events", EVENT_COLUMNS, info.batch_id, dump.events)
            for table, records in dump.calls.items():
                columns = MOVED[table][0]
                # What this ledger already heard about a call (its own receiver) is kept.
                sql = (
                    f"INSERT INTO {table} ({', '.join(columns)}) "
                    f"VALUES ({', '.join('%s' for _ in columns)}) ON CONFLICT DO NOTHING"
                )
                values = (tuple(r[k] for k in columns) for r in records)
                while chunk := list(islice(values, PAGE)):
                    c.executemany(sql, chunk)
            return copied

        # All or nothing, and never repeated: the records are streamed from the source once.
        return self.session.run(work, retry=False)


def _copy(c: Any, table: str, columns: tuple[str, ...], batch_id: str, records: Any) -> int:
    names = ("batch_id", *columns)
    with c.copy(f"COPY {table} ({', '.join(names)}) FROM STDIN") as copy:
        count = 0
        for record in records:
            copy.write_row((batch_id, *(record[k] for k in columns)))
            count += 1
    return count
