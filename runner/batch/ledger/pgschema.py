"""The PostgreSQL ledger's tables, created and migrated by the tool itself.

``schema_version`` holds one row per migration applied. Migrations run in order, each in the
same transaction as its version row, under an advisory lock, so several runners starting at
once migrate exactly once. A database migrated by a newer callprofile is refused: an older tool
does not know the newer rules and must not write under them.
"""

from __future__ import annotations

from typing import Any

from runner.batch.ledger.attempts import POSTGRES_TABLES as ATTEMPT_TABLES
from runner.batch.ledger.base import STATES, LedgerError
from runner.batch.ledger.outcomes import POSTGRES_TABLES

# Any constant will do; it only has to be the same for every callprofile.
MIGRATION_LOCK = 0x63616C6C  # "call"

# The states of version 1, as released (version 2 added not-placed).
_V1_STATES = ("pending", "deferred", "dialing", "placed", "failed", "skipped", "unknown")
_STATE_CHECK = ", ".join(f"'{s}'" for s in _V1_STATES)

# version -> statements. Append new versions; never edit a released one.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        """CREATE TABLE batches (
            batch_id text PRIMARY KEY,
            profile text NOT NULL,
            contacts text NOT NULL,
            contacts_sha256 text NOT NULL,
            rows_total integer,
            created_at text NOT NULL,
            updated_at text NOT NULL
        )""",
        # One row per process that ran (or runs) a batch: alive while lease_until is ahead of
        # the database's clock (so skewed clocks on the runners' machines do not matter) and
        # its session holds the advisory lock (LOCK_SPACE, lock_key); see pgrunners.
        """CREATE TABLE runners (
            runner text PRIMARY KEY,
            batch_id text NOT NULL REFERENCES batches (batch_id),
            label text NOT NULL,
            started_at text NOT NULL,
            lease_seconds double precision NOT NULL,
            lease_until timestamptz NOT NULL,
            lock_key integer NOT NULL,
            ended_at timestamptz,
            end_reason text
        )""",
        "CREATE INDEX runners_by_batch ON runners (batch_id)",
        f"""CREATE TABLE rows (
            batch_id text NOT NULL REFERENCES batches (batch_id),
            row_no integer NOT NULL,
            e164 text,
            owner_e164 text,
            state text NOT NULL CHECK (state IN ({_STATE_CHECK})),
            skip_kind text,
            reason text,
            call_sid text,
            http_status integer,
            error_code text,
            attempts integer NOT NULL DEFAULT 0,
            sent_at text,
            updated_at text NOT NULL,
            runner text,
            PRIMARY KEY (batch_id, row_no),
            UNIQUE (batch_id, owner_e164)
        )""",
        "CREATE INDEX rows_by_number ON rows (e164, sent_at)",
        "CREATE INDEX rows_by_state ON rows (batch_id, state)",
        """CREATE TABLE events (
            id bigserial PRIMARY KEY,
            batch_id text NOT NULL,
            row_no integer,
            at text NOT NULL,
            kind text NOT NULL,
            detail text
        )""",
        "CREATE INDEX events_by_batch ON events (batch_id, id)",
        # The batch's shared send schedule: the next free send time and a 429 pause.
        """CREATE TABLE rate_slots (
            batch_id text PRIMARY KEY REFERENCES batches (batch_id),
            next_at timestamptz NOT NULL,
            paused_until timestamptz NOT NULL
        )""",
    ),
    # Call outcomes: the not-placed state (batch-reconcile), the call's From kept at claim time,
    # and the outcome tables (runner/batch/ledger/outcomes.py).
    2: (
        "ALTER TABLE rows DROP CONSTRAINT rows_state_check",
        "ALTER TABLE rows ADD CONSTRAINT rows_state_check CHECK (state IN ("
        + ", ".join(f"'{s}'" for s in STATES)
        + "))",
        "ALTER TABLE rows ADD COLUMN from_e164 text",
        *POSTGRES_TABLES,
    ),
    # By state in row order: the rows a runner adopts next are read in order and the scan stops
    # after the few it takes (the index it replaces made it sort every pending row).
    3: (
        "CREATE INDEX rows_by_state_in_order ON rows (batch_id, state, row_no)",
        "DROP INDEX rows_by_state",
    ),
    # Every attempt of a row as its own record (outcome-aware retries, attempts.py).
    4: ATTEMPT_TABLES,
}
SCHEMA_VERSION = max(MIGRATIONS)


def _newer(found: int, where: str) -> LedgerError:
    from runner import __version__

    return LedgerError(
        f"the ledger database {where} has schema version {found}, written by a newer "
        f"callprofile; this one ({__version__}) knows versions up to {SCHEMA_VERSION}. "
        "Upgrade callprofile on every machine that uses this ledger."
    )


def migrate(cursor: Any, where: str) -> int:
    """Bring the schema up to date (inside the caller's transaction); the version found."""
    from runner import __version__

    cursor.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
    cursor.execute(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version integer PRIMARY KEY,"
        " applied_at timestamptz NOT NULL DEFAULT clock_timestamp(),"
        " tool text NOT NULL)"
    )
    cursor.execute("SELECT coalesce(max(version), 0) FROM schema_version")
    found = int(cursor.fetchone()[0])
    if found > SCHEMA_VERSION:
        raise _newer(found, where)
    for version in range(found + 1, SCHEMA_VERSION + 1):
        for statement in MIGRATIONS[version]:
            cursor.execute(statement)
        cursor.execute(
            "INSERT INTO schema_version (version, tool) VALUES (%s, %s)",
            (version, f"callprofile {__version__}"),
        )
    return found


def check(cursor: Any, where: str) -> None:
    """For readers that must not change the database: is it a ledger this tool can read?"""
    cursor.execute("SELECT to_regclass('schema_version') IS NOT NULL")
    if not cursor.fetchone()[0]:
        raise LedgerError(f"{where} holds no callprofile ledger (no batch has run there yet)")
    cursor.execute("SELECT coalesce(max(version), 0) FROM schema_version")
    found = int(cursor.fetchone()[0])
    if found > SCHEMA_VERSION:
        raise _newer(found, where)
    if found < SCHEMA_VERSION:
        raise LedgerError(
            f"the ledger database {where} has schema version {found}; run a batch with this "
            "callprofile once to upgrade it, or use the callprofile that wrote it"
        )
