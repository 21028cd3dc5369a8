"""The durable ledger: every row's state, written before anything irreversible happens.

One interface (``base.Ledger``), two backends: a SQLite file (the embedded default, one process
per batch) and a PostgreSQL database (``--ledger postgresql://...``, shared by any number of
runners on any machines). ``open_ledger`` picks the backend from the ``--ledger`` value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from runner.batch.ledger.base import (
    CALLED,
    CLAIMABLE,
    STATES,
    BatchDump,
    BatchInfo,
    Claim,
    Ledger,
    LedgerError,
    LedgerUnavailable,
    LedgerUsage,
    RunnerShare,
    stamp,
    utc_now,
)
from runner.batch.ledger.spec import display, is_postgres

__all__ = [
    "CALLED",
    "CLAIMABLE",
    "STATES",
    "BatchDump",
    "BatchInfo",
    "Claim",
    "Ledger",
    "LedgerError",
    "LedgerUnavailable",
    "LedgerUsage",
    "RunnerShare",
    "display",
    "is_postgres",
    "open_ledger",
    "stamp",
    "utc_now",
]


def open_ledger(
    spec: str,
    *,
    readonly: bool = False,
    now: Callable[[], Any] = utc_now,
    lease: float | None = None,
) -> Ledger:
    """The ledger ``spec`` names: a ``postgresql://`` (or ``postgres://``) URL opens the shared
    PostgreSQL ledger, anything else is a SQLite file. Raises LedgerUsage for a value that can
    never work (a password in the URL, the driver missing), LedgerUnavailable when the database
    cannot be reached, LedgerError otherwise. ``lease`` (seconds) matters only when shared."""
    from runner.batch.ledger import spec as spec_mod

    spec_mod.check(spec)
    if is_postgres(spec):
        import os

        from runner import secrets
        from runner.batch.ledger.postgres import DEFAULT_LEASE, PostgresLedger

        secrets.remember(os.environ.get("PGPASSWORD", ""))
        return PostgresLedger(spec, readonly=readonly, now=now, lease=lease or DEFAULT_LEASE)
    from runner.batch.ledger.sqlite import SqliteLedger

    return SqliteLedger(spec, readonly=readonly, now=now)
