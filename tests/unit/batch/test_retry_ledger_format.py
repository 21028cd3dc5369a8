"""Ledger format 3 (SQLite) / schema version 4 (PostgreSQL): the attempts table. A ledger of the
previous format is read as it is and upgraded in place by the first run that writes."""

from __future__ import annotations

import sqlite3

from tests.helpers.batch import _query, many, write_contacts, write_profile
from tests.helpers.batch_server import LoggedSandbox
from tests.helpers.env import API_KEY


def _run(cli, tmp_path, ledger, monkeypatch):
    server = LoggedSandbox(tmp_path / "sandbox.jsonl")
    monkeypatch.setenv("TELNYX_API_KEY", API_KEY)
    monkeypatch.setenv("TELNYX_BASE_URL", server.base_url)
    try:
        profiles = write_profile(tmp_path)
        contacts = write_contacts(tmp_path / "c.csv", many(2))
        argv = ["batch", "remind", "--contacts", str(contacts), "--ledger", str(ledger)]
        return cli(*argv, "--min-interval", "0", profiles_dir=profiles)
    finally:
        server.stop()


def test_a_format_2_ledger_is_read_then_upgraded_in_place(cli, tmp_path, monkeypatch):
    path = tmp_path / "old.db"
    assert _run(cli, tmp_path, path, monkeypatch).exit_code == 0
    # Format 2 as the previous release wrote it: the same tables without attempts.
    db = sqlite3.connect(path)
    db.executescript(
        "DROP TABLE attempts; UPDATE meta SET value = '2' WHERE key = 'schema'; "
        "DELETE FROM events WHERE kind = 'migrated';"
    )
    db.close()
    status = cli("batch-status", "--ledger", str(path), "-o", "json")
    assert status.exit_code == 0, status.stderr
    assert _query(path, "SELECT value FROM meta") == [{"value": "2"}]  # read only: unchanged
    assert _run(cli, tmp_path, path, monkeypatch).exit_code == 0
    assert _query(path, "SELECT value FROM meta") == [{"value": "3"}]
    assert _query(path, "SELECT count(*) AS n FROM attempts") == [{"n": 0}]
    kinds = [e["detail"] for e in _query(path, "SELECT detail FROM events WHERE kind = 'migrated'")]
    assert kinds == ["ledger format 2 -> 3"]


def test_a_version_3_postgres_ledger_gets_the_attempts_table(cli, tmp_path, pg_url, monkeypatch):
    from runner.batch.ledger.pgschema import MIGRATIONS, SCHEMA_VERSION
    from tests.helpers.postgres import query

    query(
        pg_url,
        "CREATE TABLE schema_version (version integer PRIMARY KEY, "
        "applied_at timestamptz NOT NULL DEFAULT clock_timestamp(), tool text NOT NULL)",
    )
    for version in (1, 2, 3):
        for statement in MIGRATIONS[version]:
            query(pg_url, statement)
        query(pg_url, f"INSERT INTO schema_version (version, tool) VALUES ({version}, 'old')")
    status = cli("batch-status", "--ledger", pg_url)
    assert status.exit_code == 1 and "schema version 3" in status.stderr
    assert _run(cli, tmp_path, pg_url, monkeypatch).exit_code == 0
    versions = [v["version"] for v in query(pg_url, "SELECT version FROM schema_version")]
    assert sorted(versions) == [1, 2, 3, 4] == list(range(1, SCHEMA_VERSION + 1))
    assert query(pg_url, "SELECT count(*) AS n FROM attempts") == [{"n": 0}]
