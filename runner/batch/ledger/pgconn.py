"""One PostgreSQL connection shared by a run's threads, and what to do when it drops.

Every operation is one transaction. When the connection is lost, an operation is retried on a
new connection only if the caller says a repeat is harmless: recording an answer, a heartbeat
or a reservation can be repeated, but a claim cannot be retried blindly (it may have committed,
and its POST must then not be doubled), so the caller learns of the loss instead. A transaction
the server rolled back (a deadlock or serialization failure) never committed, so any operation
may run again after one.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from runner.batch.ledger.base import LedgerError, LedgerUnavailable, LedgerUsage
from runner.batch.ledger.spec import display

T = TypeVar("T")
CONNECT_TIMEOUT = 10  # seconds, unless the URL sets connect_timeout
# sqlstate classes that mean the URL or the account is wrong, not that the server is away:
# 28 invalid authorization, 3D invalid catalog name (no such database).
_CONFIG_STATES = ("28", "3D")
EXTRA_HINT = "pip install 'callprofile[postgres]'"


def import_driver() -> Any:
    try:
        import psycopg
    except ImportError:
        raise LedgerUsage(
            "a postgresql:// ledger needs the PostgreSQL driver, which is not installed: "
            f"{EXTRA_HINT}"
        ) from None
    return psycopg


def _scrubbed(exc: BaseException) -> str:
    from runner.secrets import scrub

    text = str(exc).strip().splitlines()
    return scrub(text[0] if text else type(exc).__name__)


class Session:
    """A few connections shared by a run's threads, each operation on one of them, reconnecting
    for operations that may be repeated. Several connections let the durable commits of
    several workers wait for the disk together (the server flushes them in one write); one
    connection would make every claim wait for the one before it."""

    def __init__(
        self,
        url: str,
        *,
        retry_for: float = 10.0,
        readonly: bool = False,
        sleep: Callable[[float], object] = time.sleep,
        on_connect: Callable[[Any], object] | None = None,
        size: int = 1,
    ):
        self.psycopg = import_driver()
        self.url = url
        self.where = display(url)
        self.retry_for = retry_for
        self.readonly = readonly
        self._sleep = sleep
        self._on_connect = on_connect
        self._free = threading.BoundedSemaphore(max(1, size))
        self._lock = threading.Lock()
        self._idle: list[Any] = []
        self.closed = False
        # The first connection now, so a database that cannot be used is found at once.
        self._idle.append(self._connect())

    def _connect(self) -> Any:
        psycopg = self.psycopg
        try:
            conn = psycopg.connect(
                self.url,
                autocommit=True,
                connect_timeout=CONNECT_TIMEOUT,
                application_name="callprofile",
            )
        except psycopg.OperationalError as exc:
            state = getattr(exc, "sqlstate", None) or ""
            if state.startswith(_CONFIG_STATES) or _looks_like_config(str(exc)):
                raise LedgerUsage(
                    f"cannot use the ledger database {self.where}: {_scrubbed(exc)}"
                ) from None
            lost = LedgerUnavailable(
                f"cannot reach the ledger database {self.where}: {_scrubbed(exc)}"
            )
            lost.detail = _scrubbed(exc)
            raise lost from None
        except psycopg.Error as exc:  # e.g. a malformed URL
            raise LedgerUsage(f"--ledger {self.where}: {_scrubbed(exc)}") from None
        try:
            # Commits wait for the disk only where a transaction asks (durable=True).
            conn.execute("SET synchronous_commit = off")
            if self.readonly:
                conn.execute("SET default_transaction_read_only = on")
            if self._on_connect is not None:
                self._on_connect(conn)
        except psycopg.Error as exc:
            conn.close()
            raise LedgerUnavailable(
                f"cannot set up the connection to {self.where}: {_scrubbed(exc)}"
            ) from None
        return conn

    def _checkout(self) -> Any:
        self._free.acquire()
        with self._lock:
            return self._idle.pop() if self._idle else None

    def _checkin(self, conn: Any) -> None:
        with self._lock:
            if conn is not None and not self.closed:
                self._idle.append(conn)
                conn = None
        if conn is not None:
            _close(conn)
        self._free.release()

    def run(
        self,
        work: Callable[[Any], T],
        *,
        durable: bool = True,
        retry: bool = True,
        single: bool = False,
    ) -> T:
        """Run ``work(cursor)`` in one transaction and return its result. ``durable=False``
        skips waiting for the commit to reach disk (for bookkeeping the next run derives from
        the contacts file again, or that a later durable commit carries along: the log is
        written in order). ``single``: ``work`` is one statement, run as its own transaction
        and not waited for (saves the BEGIN and COMMIT round trips). ``retry``: the operation
        may be repeated after a lost connection (the loss is otherwise raised as
        LedgerUnavailable at once)."""
        if self.closed:
            raise LedgerUnavailable(f"the connection to {self.where} is closed")
        held = [self._checkout()]  # the connection in use (None once dropped)
        try:
            return self._attempts(held, work, durable and not single, retry, single)
        finally:
            self._checkin(held[0])

    def _attempts(
        self, held: list[Any], work: Callable[[Any], T], durable: bool, retry: bool, single: bool
    ) -> T:
        psycopg = self.psycopg
        conn = held[0]
        deadline = time.monotonic() + self.retry_for
        delay = 0.1
        while True:
            lost: BaseException
            try:
                if conn is None:
                    conn = self._connect()
                return self._once(conn, work, durable=durable, single=single)
            except psycopg.OperationalError as exc:
                if (getattr(exc, "sqlstate", None) or "").startswith("40"):
                    # Class 40 (deadlock, serialization failure): the server rolled the
                    # transaction back, so it did not commit; always safe to run again.
                    lost = exc
                elif conn is not None and not conn.broken:
                    raise LedgerError(
                        f"the ledger database {self.where} refused: {_scrubbed(exc)}"
                    ) from None
                else:
                    _close(conn)
                    conn = None
                    if not retry:
                        raise LedgerUnavailable(
                            f"lost the connection to the ledger database {self.where}: "
                            f"{_scrubbed(exc)}"
                        ) from None
                    lost = exc
            except LedgerUnavailable as exc:  # a reconnect failed
                if not retry:
                    raise
                lost = exc
            except psycopg.Error as exc:
                raise LedgerError(
                    f"the ledger database {self.where} refused: {_scrubbed(exc)}"
                ) from None
            finally:
                held[0] = conn
            if time.monotonic() + delay > deadline:
                detail = getattr(lost, "detail", None) or _scrubbed(lost)
                raise LedgerUnavailable(
                    f"lost the connection to the ledger database {self.where} and could "
                    f"not get it back within {self.retry_for:g}s: {detail}"
                ) from None
            self._sleep(delay)
            delay = min(delay * 2, 2.0)

    def _once(self, conn: Any, work: Callable[[Any], T], *, durable: bool, single: bool) -> T:
        with conn.cursor() as cursor:
            if single:
                return work(cursor)
            # One round trip for both (no parameters: the simple protocol takes two statements).
            cursor.execute(b"BEGIN; SET LOCAL synchronous_commit TO on" if durable else b"BEGIN")
            try:
                result = work(cursor)
            except BaseException:
                if not conn.broken:
                    with contextlib.suppress(self.psycopg.Error):
                        cursor.execute(b"ROLLBACK")
                raise
            cursor.execute(b"COMMIT")
            return result

    def close(self) -> None:
        with self._lock:
            self.closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            _close(conn)


def _close(conn: Any) -> None:
    if conn is not None:
        with contextlib.suppress(Exception):
            conn.close()


def _looks_like_config(message: str) -> bool:
    # libpq reports some configuration problems before any sqlstate exists.
    lowered = message.lower()
    return any(
        part in lowered
        for part in (
            "password authentication failed",
            "no password supplied",
            "does not exist",
            "invalid connection option",
            "invalid uri",
            "invalid integer value",
        )
    )
