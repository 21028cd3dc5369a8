"""``--ledger postgresql://...``: what is refused before anything is sent (a password in the
URL, a missing driver, an unreachable or foreign database) and the schema the tool keeps
versioned itself. Against the session's throwaway PostgreSQL server (tests/helpers/postgres.py).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from runner.batch.ledger.pgschema import MIGRATIONS, SCHEMA_VERSION
from tests.helpers.batch import ledger_rows, many, number, write_contacts, write_profile
from tests.helpers.env import API_KEY, ROOT
from tests.helpers.postgres import query

PASSWORD = "pg-Secr3t-pass"


@pytest.fixture
def profiles(tmp_path, monkeypatch, server):
    monkeypatch.setenv("TELNYX_API_KEY", API_KEY)
    monkeypatch.setenv("TELNYX_BASE_URL", server.base_url)
    write_contacts(tmp_path / "c.csv", many(3))
    return write_profile(tmp_path)


def batch(cli, profiles, ledger, *args):
    return cli(
        "batch", "remind", "--contacts", "c.csv", "--rate", "1000", "--ledger", ledger, *args,
        profiles_dir=profiles,
    )  # fmt: skip


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://callprofile:{PASSWORD}@127.0.0.1:5432/calls",
        f"postgres://127.0.0.1/calls?sslmode=disable&password={PASSWORD}",
    ],
)
def test_a_password_in_the_url_is_refused_and_never_shown(cli, profiles, server, url):
    for result in (batch(cli, profiles, url), cli("batch-status", "--ledger", url)):
        assert result.exit_code == 2, result.stderr
        assert "PGPASSWORD" in result.stderr and "~/.pgpass" in result.stderr
        assert PASSWORD not in result.stdout + result.stderr
    assert server.posts == []


def test_only_postgresql_urls_or_paths(cli, profiles, server):
    result = batch(cli, profiles, "mysql://db.example/calls")
    assert result.exit_code == 2
    assert "mysql:// is not supported" in result.stderr
    assert server.posts == []


def test_without_the_driver_the_message_says_how_to_install_it(tmp_path):
    # The interpreter is told psycopg cannot be imported, as in an install without the extra.
    code = (
        "import sys; sys.modules['psycopg'] = None; sys.argv[0] = 'callprofile'; "
        "from runner.cli.entry import main; main()"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELNYX_", "PG"))}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-c", code, "batch-status", "--ledger", "postgresql://u@127.0.0.1/db"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "pip install 'callprofile[postgres]'" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_unreachable_database_sends_nothing_and_exits_6(cli, profiles, server):
    url = f"postgresql://postgres@127.0.0.1:{closed_port()}/calls"
    result = batch(cli, profiles, url)
    assert result.exit_code == 6, result.stderr
    assert f"cannot reach the ledger database {url}" in result.stderr
    assert server.posts == []


def test_a_missing_database_is_a_usage_error(cli, profiles, server, pg_cluster):
    url = pg_cluster.url("no_such_database")
    result = batch(cli, profiles, url)
    assert result.exit_code == 2, result.stderr
    assert "no_such_database" in result.stderr and "does not exist" in result.stderr
    assert server.posts == []


def test_the_tool_creates_and_versions_its_schema_and_refuses_a_newer_one(
    cli, profiles, server, pg_url
):
    status = cli("batch-status", "--ledger", pg_url)
    assert status.exit_code == 1
    assert "holds no callprofile ledger" in status.stderr
    assert query(pg_url, "SELECT to_regclass('schema_version') AS t")[0]["t"] is None  # read only

    assert batch(cli, profiles, pg_url).exit_code == 0
    versions = query(pg_url, "SELECT version, tool FROM schema_version ORDER BY version")
    assert [v["version"] for v in versions] == list(range(1, SCHEMA_VERSION + 1))
    assert all(v["tool"].startswith("callprofile ") for v in versions)
    assert {r["state"] for r in ledger_rows(pg_url)} == {"placed"}
    assert batch(cli, profiles, pg_url).exit_code == 0  # the second run migrates nothing
    assert len(query(pg_url, "SELECT * FROM schema_version")) == SCHEMA_VERSION

    # A newer callprofile migrated the database: this one reads and writes nothing.
    query(pg_url, "INSERT INTO schema_version (version, tool) VALUES (7, 'callprofile 99')")
    posts = len(server.posts)
    write_contacts(profiles.parent / "c.csv", many(3, start=10))
    for result in (batch(cli, profiles, pg_url), cli("batch-status", "--ledger", pg_url)):
        assert result.exit_code == 1, result.stderr
        assert "schema version 7" in result.stderr and "Upgrade callprofile" in result.stderr
    assert len(server.posts) == posts


def test_a_database_an_older_callprofile_made_is_upgraded_in_place(cli, profiles, server, pg_url):
    # A first call made elsewhere, so the older database below holds a real batch, half done.
    local = profiles.parent / "local.db"
    assert batch(cli, profiles, str(local), "--max-calls", "1").exit_code == 6
    shown = json.loads(cli("batch-status", "--ledger", str(local), "-o", "json").stdout)
    batch_id = shown["batches"][0]["batch_id"]
    done = next(r for r in ledger_rows(local) if r["state"] == "placed")

    # What callprofile with schema version 1 left: its tables, that batch, its placed row.
    for statement in MIGRATIONS[1]:
        query(pg_url, statement)
    query(
        pg_url,
        "CREATE TABLE schema_version (version integer PRIMARY KEY, "
        "applied_at timestamptz NOT NULL DEFAULT clock_timestamp(), tool text NOT NULL)",
    )
    query(pg_url, "INSERT INTO schema_version (version, tool) VALUES (1, 'callprofile 0.old')")
    query(
        pg_url,
        "INSERT INTO batches VALUES (%s, 'remind', 'c.csv', %s, 3, 'a', 'a')",
        (batch_id, "0" * 64),
    )
    query(pg_url, "INSERT INTO rows (batch_id, row_no, e164, owner_e164, state, call_sid, "
          "attempts, sent_at, updated_at) VALUES (%s, %s, %s, %s, 'placed', %s, 1, %s, %s)",
          (batch_id, done["row_no"], done["e164"], done["e164"], done["call_sid"],
           done["sent_at"], done["updated_at"]))  # fmt: skip

    # A reader never changes the database: it asks for the upgrade.
    status = cli("batch-status", "--ledger", pg_url)
    assert status.exit_code == 1 and "schema version 1" in status.stderr

    # A run upgrades it, keeps the row the older callprofile placed, and calls only the rest.
    result = batch(cli, profiles, pg_url)
    assert result.exit_code == 0, result.stderr
    versions = query(pg_url, "SELECT version FROM schema_version ORDER BY version")
    assert [v["version"] for v in versions] == list(range(1, SCHEMA_VERSION + 1))
    rows = {r["row_no"]: r for r in ledger_rows(pg_url)}
    assert rows[done["row_no"]]["call_sid"] == done["call_sid"]
    assert {r["state"] for r in rows.values()} == {"placed"} and len(rows) == 3
    assert sorted(server.numbers()) == sorted(number(i) for i in range(3))
