"""Ledger format 2 (outcome tables, the not-placed state, rows.from_e164): a format-1 ledger
written by the previous release is read as it is and upgraded in place on the first write."""

from __future__ import annotations

import sqlite3

from tests.helpers.batch import _query
from tests.helpers.calls_list import ACCOUNT, CallsList, call
from tests.helpers.env import API_KEY

# The format-1 schema exactly as the previous release created it.
FORMAT_1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE batches (
    batch_id TEXT PRIMARY KEY, profile TEXT NOT NULL, contacts TEXT NOT NULL,
    contacts_sha256 TEXT NOT NULL, rows_total INTEGER, created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE rows (
    batch_id TEXT NOT NULL REFERENCES batches(batch_id), row_no INTEGER NOT NULL, e164 TEXT,
    owner_e164 TEXT,
    state TEXT NOT NULL CHECK (state IN ('pending', 'deferred', 'dialing', 'placed', 'failed',
        'skipped', 'unknown')),
    skip_kind TEXT, reason TEXT, call_sid TEXT, http_status INTEGER, error_code TEXT,
    attempts INTEGER NOT NULL DEFAULT 0, sent_at TEXT, updated_at TEXT NOT NULL,
    PRIMARY KEY (batch_id, row_no), UNIQUE (batch_id, owner_e164)
);
CREATE INDEX rows_by_number ON rows (e164, sent_at);
CREATE INDEX rows_by_state ON rows (batch_id, state);
CREATE TABLE events (
    id INTEGER PRIMARY KEY, batch_id TEXT NOT NULL, row_no INTEGER, at TEXT NOT NULL,
    kind TEXT NOT NULL, detail TEXT
);
INSERT INTO meta VALUES ('schema', '1');
INSERT INTO batches VALUES ('b1b1b1b1b1b1b1b1', 'remind', 'c.csv', 'abc', 3,
    '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z');
INSERT INTO rows VALUES ('b1b1b1b1b1b1b1b1', 2, '+13125550000', '+13125550000', 'placed', NULL,
    NULL, 'v3:old', 200, NULL, 1, '2026-01-01T00:00:01.000000Z', '2026-01-01T00:00:01.000000Z');
INSERT INTO rows VALUES ('b1b1b1b1b1b1b1b1', 3, '+13125550001', '+13125550001', 'unknown', NULL,
    'read timeout', NULL, NULL, NULL, 1, '2026-01-01T00:00:02.000000Z',
    '2026-01-01T00:00:02.000000Z');
INSERT INTO rows VALUES ('b1b1b1b1b1b1b1b1', 4, '+13125550002', NULL, 'skipped', 'invalid',
    'bad', NULL, NULL, NULL, 0, NULL, '2026-01-01T00:00:00.000000Z');
"""


def test_a_format_1_ledger_is_read_then_upgraded_in_place(cli, tmp_path, monkeypatch):
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(FORMAT_1)
    db.close()
    before = _query(path, "SELECT * FROM rows ORDER BY row_no")

    status = cli("batch-status", "--ledger", str(path))
    assert status.exit_code == 5, status.stderr  # read-only: still format 1, still readable
    assert "unknown         1" in status.stdout
    assert _query(path, "SELECT value FROM meta") == [{"value": "1"}]

    monkeypatch.setenv("TELNYX_API_KEY", API_KEY)
    listing = CallsList([call("v3:found", "+13125550001")])
    try:
        result = cli(
            "batch-reconcile",
            "--ledger",
            str(path),
            "--base-url",
            listing.base_url,
            "--account-sid",
            ACCOUNT,
            "--margin",
            "0",
        )
    finally:
        listing.stop()
    assert result.exit_code == 0, result.stderr
    assert _query(path, "SELECT value FROM meta") == [{"value": "3"}]  # the current format
    after = _query(path, "SELECT * FROM rows ORDER BY row_no")
    # Every format-1 column kept its value; the row reconcile settled changed as it should.
    for old, new in zip(before, after, strict=True):
        changed = {k for k in old if old[k] != new[k]}
        assert changed <= {"state", "call_sid", "reason", "updated_at"}
        assert new["from_e164"] is None
    assert (after[1]["state"], after[1]["call_sid"]) == ("placed", "v3:found")
    assert "migrated" in {e["kind"] for e in _query(path, "SELECT kind FROM events")}
    indexes = {r["name"] for r in _query(path, "SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"rows_by_number", "rows_by_state", "rows_by_call_sid"} <= indexes


def test_a_version_1_postgres_ledger_is_upgraded_by_the_first_writer(cli, pg_url, monkeypatch):
    """Schema version 2 on PostgreSQL: readers refuse version 1 (as they refuse any older one);
    the first command that writes migrates it, and the rows keep their values."""
    from runner.batch.ledger.pgschema import MIGRATIONS, SCHEMA_VERSION
    from tests.helpers.postgres import query

    query(
        pg_url,
        "CREATE TABLE schema_version (version integer PRIMARY KEY, "
        "applied_at timestamptz NOT NULL DEFAULT clock_timestamp(), tool text NOT NULL)",
    )
    for statement in MIGRATIONS[1]:
        query(pg_url, statement)
    query(pg_url, "INSERT INTO schema_version (version, tool) VALUES (1, 'callprofile 0.1.0')")
    query(
        pg_url,
        "INSERT INTO batches VALUES ('b1b1b1b1b1b1b1b1', 'remind', 'c.csv', 'abc', 1, "
        "'2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z')",
    )
    query(
        pg_url,
        "INSERT INTO rows (batch_id, row_no, e164, owner_e164, state, reason, attempts, "
        "sent_at, updated_at) VALUES ('b1b1b1b1b1b1b1b1', 2, '+13125550001', '+13125550001', "
        "'unknown', 'read timeout', 1, '2026-01-01T00:00:02.000000Z', "
        "'2026-01-01T00:00:02.000000Z')",
    )
    status = cli("batch-status", "--ledger", pg_url)
    assert status.exit_code == 1 and "schema version 1" in status.stderr

    monkeypatch.setenv("TELNYX_API_KEY", API_KEY)
    listing = CallsList([call("v3:found-pg", "+13125550001")])
    try:
        argv = ["batch-reconcile", "--ledger", pg_url, "--base-url", listing.base_url]
        result = cli(*argv, "--account-sid", ACCOUNT, "--margin", "0")
    finally:
        listing.stop()
    assert result.exit_code == 0, result.stderr
    versions = [v["version"] for v in query(pg_url, "SELECT version FROM schema_version")]
    assert sorted(versions) == list(range(1, SCHEMA_VERSION + 1))
    row = query(pg_url, "SELECT state, call_sid, attempts, from_e164 FROM rows")[0]
    assert row == {"state": "placed", "call_sid": "v3:found-pg", "attempts": 1, "from_e164": None}
    assert cli("batch-status", "--ledger", pg_url).exit_code == 0
