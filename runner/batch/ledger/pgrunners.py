"""Runners of a shared batch: membership, liveness, and each runner's share.

A runner is alive while (1) its lease, kept in the database and compared with the database's
clock, is ahead, and (2) its heartbeat connection holds the runner's advisory lock. The lock goes
the moment the process dies, however it dies (the kernel closes its sockets and the server
ends the session), so a killed runner is found at once; the lease covers what the lock cannot
see, such as a machine that vanished from the network. Behind a transaction-pooling proxy the
lock proves nothing and only the lease counts.

The heartbeat renews the lease every quarter lease on that connection of its own, so a slow
ledger operation never delays it, and each beat turns the ``dialing`` rows of runners found
dead into ``unknown``. A runner that finds it was taken for dead, or cannot reach the database
for half a lease, is told through ``on_lost`` and stops claiming.
"""

from __future__ import annotations

import secrets
import threading
import uuid
from collections.abc import Callable
from typing import Any

from runner.batch.ledger.base import LedgerError, RunnerShare
from runner.batch.ledger.pgconn import Session

DIALLED = ("dialing", "placed", "failed", "unknown")
LOCK_SPACE = 0x63616C6C  # first key of every runner's advisory lock; the second is its own


def alive(x: str) -> str:
    """SQL: the runner in table alias ``x`` is alive."""
    return (
        f"({x}.ended_at IS NULL AND {x}.lease_until > clock_timestamp() AND EXISTS ("
        "SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted "
        f"AND l.classid = {LOCK_SPACE}::oid AND l.objid = {x}.lock_key::oid AND l.objsubid = 2 "
        "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())))"
    )


def reap(c: Any, batch_id: str, caller: str = "") -> None:
    """Mark the batch's runners that are no longer alive as ended (inside the caller's
    transaction), so their rows can be recovered and taken over. The calling runner is spared:
    its own connection may have just been replaced, and the lock with it."""
    c.execute(
        "UPDATE runners x SET ended_at = clock_timestamp(), end_reason = CASE "
        "WHEN x.lease_until <= clock_timestamp() THEN 'no heartbeat within its lease' "
        "ELSE 'its process ended without finishing (killed, crashed or cut off)' END "
        f"WHERE x.batch_id = %s AND x.runner <> %s AND x.ended_at IS NULL AND NOT {alive('x')}",
        (batch_id, caller),
    )


def leave(session: Session, batch_id: str, runner: str, reason: str) -> None:
    """Rows the runner reserved but did not dial go back to the pool; the runner ends."""

    def work(c: Any) -> None:
        c.execute(
            "UPDATE rows SET runner = NULL WHERE batch_id = %s "
            "AND state IN ('pending', 'deferred') AND runner = %s",
            (batch_id, runner),
        )
        c.execute(
            "UPDATE runners SET ended_at = clock_timestamp(), end_reason = %s "
            "WHERE runner = %s AND ended_at IS NULL",
            (reason, runner),
        )

    session.run(work)


def shares(session: Session, batch_id: str) -> list[RunnerShare]:
    def work(c: Any) -> tuple[list[Any], list[Any]]:
        c.execute(
            f"SELECT x.runner, x.label, x.started_at, {alive('x')}, "
            "coalesce(x.end_reason, '') FROM runners x WHERE x.batch_id = %s "
            "ORDER BY x.started_at, x.runner",
            (batch_id,),
        )
        runners = c.fetchall()
        c.execute(
            "SELECT runner, state, count(*) FROM rows WHERE batch_id = %s "
            "AND runner IS NOT NULL AND state = ANY(%s) GROUP BY runner, state",
            (batch_id, list(DIALLED)),
        )
        return runners, c.fetchall()

    runners, counts = session.run(work)
    out = {r[0]: RunnerShare(r[0], r[1], r[2], bool(r[3]), r[4]) for r in runners}
    for runner, state, count in counts:
        if runner in out:
            out[runner].states[state] = int(count)
    return list(out.values())


class Membership:
    """This process as a runner of one batch: its row, its lock and its heartbeat."""

    def __init__(
        self,
        url: str,
        batch_id: str,
        label: str,
        *,
        lease: float,
        started: str,
        on_lost: Callable[[str], None],
        recover: Callable[[Any, str, str], int],
    ):
        self.runner = uuid.uuid4().hex
        self.batch_id = batch_id
        self.lease = lease
        self._key = secrets.randbelow(2**31 - 2) + 1
        self._on_lost = on_lost
        self._recover = recover
        self._stopped = threading.Event()
        self.leaving = threading.Event()  # set by the runner itself: a missing row is no news
        # The lock is taken on every (re)connection, before the runner's row exists, so no
        # other runner ever sees this one without it.
        self._session = Session(url, retry_for=max(1.0, lease / 2), on_connect=self._lock)
        self._session.run(
            lambda c: c.execute(
                "INSERT INTO runners (runner, batch_id, label, started_at, lease_seconds, "
                "lease_until, lock_key) VALUES (%s, %s, %s, %s, %s, "
                "clock_timestamp() + make_interval(secs => %s), %s)",
                (self.runner, batch_id, label, started, lease, lease, self._key),
            )
        )
        self._thread = threading.Thread(target=self._run, name="callprofile-heartbeat", daemon=True)
        self._thread.start()

    def _lock(self, conn: Any) -> None:
        # If the lock is still held (by this runner's previous session, not yet gone), the
        # lease alone keeps the runner alive until it is.
        conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (LOCK_SPACE, self._key))

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(self.lease)
        self._session.close()

    def _run(self) -> None:
        while not self._stopped.wait(self.lease / 4):
            try:
                beating = self._session.run(self._beat)
            except LedgerError as exc:
                if not (self._stopped.is_set() or self.leaving.is_set()):
                    self._on_lost(f"{exc}; no new calls are claimed")
                return
            if not beating:
                if not self.leaving.is_set():
                    self._on_lost(
                        "the other runners took this runner for dead (its heartbeat was "
                        f"missing or late for its {self.lease:g}s lease); no new calls are claimed"
                    )
                return

    def _beat(self, c: Any) -> bool:
        c.execute(
            "UPDATE runners SET lease_until = clock_timestamp() + make_interval(secs => %s) "
            "WHERE runner = %s AND ended_at IS NULL RETURNING 1",
            (self.lease, self.runner),
        )
        if c.fetchone() is None:
            return False
        self._recover(c, self.batch_id, self.runner)
        return True
