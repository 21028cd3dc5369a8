"""``callprofile batch-migrate``: a batch started on a SQLite file moves to the shared
PostgreSQL ledger with every row and event, resumes there without calling anyone again, and is
refused when the target already holds it or while it runs."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.helpers.batch import (
    _query,
    ledger_events,
    ledger_rows,
    many,
    number,
    write_contacts,
    write_profile,
)
from tests.helpers.batch_process import WAIT, Batch
from tests.helpers.batch_server import Script
from tests.helpers.env import API_KEY
from tests.helpers.postgres import query

COLUMNS = (
    "batch_id", "row_no", "e164", "owner_e164", "state", "skip_kind", "reason", "call_sid",
    "http_status", "error_code", "attempts", "sent_at", "updated_at",
)  # fmt: skip


@pytest.fixture
def profiles(tmp_path, monkeypatch, server):
    monkeypatch.setenv("TELNYX_API_KEY", API_KEY)
    monkeypatch.setenv("TELNYX_BASE_URL", server.base_url)
    return write_profile(tmp_path)


def batch(cli, profiles, contacts, ledger, *args):
    return cli(
        "batch", "remind", "--contacts", str(contacts), "--rate", "1000", "--concurrency", "1",
        "--ledger", str(ledger), *args, profiles_dir=profiles,
    )  # fmt: skip


def stored(spec) -> list[tuple]:
    return [tuple(r[c] for c in COLUMNS) for r in ledger_rows(spec)]


def journal(spec) -> list[tuple]:
    return [
        (e["batch_id"], e["row_no"], e["at"], e["kind"], e["detail"]) for e in ledger_events(spec)
    ]


def test_a_sqlite_batch_moves_to_postgresql_whole_and_resumes_there(
    cli, profiles, server, tmp_path, pg_url
):
    # A batch with every kind of row: placed, failed (422), unknown (500), a duplicate, an
    # invalid row, and rows not reached yet (--max-calls).
    server.script(2, Script(422, body={"errors": [{"code": "10015", "title": "Invalid To"}]}))
    server.script(3, Script(500))
    rows = [*many(8), {"to": number(1), "name": "again"}, {"to": "12", "name": "bad"}, *many(4, 8)]
    contacts = write_contacts(tmp_path / "c.csv", rows)
    local = tmp_path / "local.db"
    first = batch(cli, profiles, contacts, local, "--max-calls", "4")
    assert first.exit_code == 5, first.stderr
    before = len(server.posts)

    moved = cli("batch-migrate", "--from", str(local), "--to", pg_url)
    assert moved.exit_code == 0, moved.stderr
    assert f"to {pg_url}" in moved.stdout and "rows)" in moved.stdout
    assert stored(pg_url) == stored(local)  # every column of every row, attempts included
    assert journal(pg_url) == journal(local)
    assert (
        cli("batch-status", "--ledger", pg_url).stdout
        == cli("batch-status", "--ledger", str(local)).stdout
    )

    # Resumed on PostgreSQL: the rows not reached are called, nothing is called twice, the
    # unknown row stays unknown.
    rest = batch(cli, profiles, contacts, pg_url)
    assert rest.exit_code == 5, rest.stderr
    assert "resuming batch" in rest.stderr
    sent = Counter(server.numbers())
    assert max(sent.values()) == 1 and len(sent) == 12 and len(server.posts) > before
    states = Counter(r["state"] for r in ledger_rows(pg_url))
    assert states == {"placed": 10, "failed": 1, "unknown": 1, "skipped": 2}

    # Moved once: the target holds it now, so a second copy is refused and changes nothing.
    again = cli("batch-migrate", "--from", str(local), "--to", pg_url)
    assert again.exit_code == 1
    assert "already holds batch" in again.stderr and "nothing was copied" in again.stderr
    assert Counter(r["state"] for r in ledger_rows(pg_url)) == states


def test_a_postgresql_batch_can_come_back_to_a_file(cli, profiles, server, tmp_path, pg_url):
    contacts = write_contacts(tmp_path / "c.csv", many(5))
    assert batch(cli, profiles, contacts, pg_url).exit_code == 0
    back = tmp_path / "back.db"
    assert cli("batch-migrate", "--from", pg_url, "--to", str(back)).exit_code == 0
    assert stored(back) == stored(pg_url)
    assert journal(back) == journal(pg_url)
    assert batch(cli, profiles, contacts, back).exit_code == 0
    assert len(server.posts) == 5


def test_refusals(cli, profiles, server, tmp_path, pg_url):
    contacts = write_contacts(tmp_path / "c.csv", many(2))
    local = tmp_path / "local.db"
    assert batch(cli, profiles, contacts, local).exit_code == 0
    same = cli("batch-migrate", "--from", str(local), "--to", str(tmp_path / "." / "local.db"))
    assert same.exit_code == 2 and "the same ledger" in same.stderr
    missing = cli("batch-migrate", "--from", str(tmp_path / "nope.db"), "--to", pg_url)
    assert missing.exit_code == 1 and "no ledger at" in missing.stderr
    unknown = cli("batch-migrate", "--from", str(local), "--to", pg_url, "--batch", "ffff")
    assert unknown.exit_code == 1 and "no batch ffff" in unknown.stderr
    assert query(pg_url, "SELECT to_regclass('batches') AS t")[0]["t"] is None  # untouched


def test_a_running_batch_is_not_moved(cli, profiles, server, tmp_path, pg_url):
    write_contacts(tmp_path / "c.csv", many(3))
    local = tmp_path / "local.db"
    reached, release = server.hold_at(1)
    running = Batch(tmp_path, server, "--concurrency", "1", ledger=str(local))
    try:
        assert reached.wait(WAIT)
        moved = cli("batch-migrate", "--from", str(local), "--to", pg_url)
        assert moved.exit_code == 6
        assert "is running" in moved.stderr and "nothing was copied" in moved.stderr
    finally:
        release.set()
    assert running.wait() == 0, running.err
    assert query(pg_url, "SELECT count(*) AS n FROM batches")[0]["n"] == 0


def test_the_outcomes_of_a_batch_move_with_it(cli, server, tmp_path, pg_url, monkeypatch):
    """Callbacks heard by ``batch --listen`` into the SQLite file arrive in the database too:
    every callback record and every call's folded outcome, and batch-status shows the same."""
    from tests.helpers.outcomes import free_port

    monkeypatch.setenv("TELNYX_API_KEY", API_KEY)
    monkeypatch.setenv("TELNYX_BASE_URL", server.base_url)
    port = free_port()
    profile = (
        'description: Batch with callbacks.\nconnection_id: "conn-batch"\n'
        "variables:\n  name:\n    required: true\n"
        'call:\n  From: "+13120001234"\n  AIAssistantId: "assistant-batch"\n'
        f'  StatusCallback: "http://127.0.0.1:{port}/status"\n'
        '  StatusCallbackEvent: "initiated ringing answered completed no-answer busy failed"\n'
        "  StatusCallbackMethod: POST\n"
        '  AIAssistantDynamicVariables:\n    name: "{{ name }}"\n'
    )
    profiles = write_profile(tmp_path, profile)
    contacts = write_contacts(tmp_path / "c.csv", many(4))
    local = tmp_path / "local.db"
    key = server.sandbox.public_key
    listen = ("--listen", str(port), "--public-key", key)
    assert batch(cli, profiles, contacts, local, *listen).exit_code == 0

    assert cli("batch-migrate", "--from", str(local), "--to", pg_url).exit_code == 0
    for table, order in (("outcomes", "call_sid"), ("callbacks", "key")):
        sql = f"SELECT * FROM {table} ORDER BY {order}"
        here = [{k: v for k, v in r.items() if k != "id"} for r in _query(local, sql)]
        there = [{k: v for k, v in r.items() if k != "id"} for r in query(pg_url, sql)]
        assert here and here == there, table
    assert (
        cli("batch-status", "--ledger", pg_url).stdout
        == cli("batch-status", "--ledger", str(local)).stdout
    )
