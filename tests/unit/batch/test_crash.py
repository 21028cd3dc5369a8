"""Exactly once across crashes, Ctrl-C and a second process: ``python -m runner batch`` runs as
a subprocess against the sandbox (``runner.sandbox.Sandbox``, in this process, with a JSON-lines
log) and is killed at exact points of the protocol. What reached the server is read from the
sandbox's own log file.

Points are reached without sleeping: either the sandbox holds its answer to the Nth POST until
the test releases it (its ``on_record`` hook runs after the record is logged and before the
answer is sent), or the engine's test hook (CALLPROFILE_TEST_KILL_AFTER) SIGKILLs the process
right after its Nth claim or Nth answer.
"""

from __future__ import annotations

import signal
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.helpers.batch import ledger_rows, many, number, write_contacts, write_profile
from tests.helpers.batch_process import WAIT, Batch
from tests.helpers.batch_server import LoggedSandbox
from tests.helpers.env import API_KEY

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def check_exactly_once(server: LoggedSandbox, rows: int, spec: str) -> list[dict]:
    """From the sandbox's log: no number got two calls. From the ledger: every row is there,
    and each placed row's call_sid is the one the sandbox answered for that number."""
    calls = server.posts
    sent = Counter(c["body"]["To"] for c in calls)
    assert max(sent.values()) == 1, [n for n, c in sent.items() if c > 1]
    ledger = ledger_rows(spec)
    assert [r["row_no"] for r in ledger] == list(range(2, rows + 2))
    answered = {c["response"].get("call_sid"): c["body"]["To"] for c in calls}
    for row in ledger:
        if row["state"] == "placed":
            assert answered[row["call_sid"]] == row["e164"]
    return ledger


def test_sigkill_at_several_points_then_resume_calls_no_one_twice(tmp_path, server, ledger_spec):
    write_profile(tmp_path)
    write_contacts(tmp_path / "c.csv", many(300))
    spec = ledger_spec

    # 1. Killed right after a claim was committed, before its POST.
    first = Batch(tmp_path, server, "--concurrency", "4", hook="claim:40", ledger=spec)
    assert first.wait() == -signal.SIGKILL
    killed_before_post = len(server.posts)

    # 2. Killed while a POST is on the wire (the sandbox holds its answer).
    reached, release = server.hold_at(killed_before_post + 30)
    second = Batch(tmp_path, server, "--concurrency", "4", ledger=spec)
    assert reached.wait(WAIT)
    second.proc.kill()
    assert second.wait() == -signal.SIGKILL
    release.set()
    assert "left dialing" in second.err

    # 3. Killed after Telnyx answered, before the answer was recorded.
    third = Batch(tmp_path, server, "--concurrency", "4", hook="answer:25", ledger=spec)
    assert third.wait() == -signal.SIGKILL

    # 4. Run to the end: every row accounted for, no one called twice.
    last = Batch(tmp_path, server, "--concurrency", "4", "--report", "r.csv", ledger=spec)
    assert last.wait() == 5, last.err  # unknown rows remain: exit 5
    ledger = check_exactly_once(server, 300, spec)
    by_state = Counter(r["state"] for r in ledger)
    assert set(by_state) == {"placed", "unknown"}
    assert by_state["placed"] + by_state["unknown"] == 300
    sent = set(server.numbers())
    unknown = [r for r in ledger if r["state"] == "unknown"]
    # The claim-then-kill row was never sent, and it was not sent after the restart either.
    assert any(r["e164"] not in sent for r in unknown)
    # The held POST and the answered-but-unrecorded POST reached the sandbox exactly once.
    assert server.numbers()[killed_before_post + 30 - 1] in {r["e164"] for r in unknown}
    assert len([r for r in unknown if r["e164"] in sent]) >= 2
    assert all(r["e164"] in sent for r in ledger if r["state"] == "placed")
    assert len(Path(tmp_path / "r.csv").read_text().splitlines()) == 301

    # Running again sends nothing more.
    posts = len(server.posts)
    assert Batch(tmp_path, server, ledger=spec).wait() == 5
    assert len(server.posts) == posts


def test_first_ctrl_c_lets_the_call_in_flight_finish(tmp_path, server, ledger_spec):
    write_profile(tmp_path)
    write_contacts(tmp_path / "c.csv", many(20))
    reached, release = server.hold_at(5)
    run = Batch(tmp_path, server, "--concurrency", "1", ledger=ledger_spec)
    assert reached.wait(WAIT)
    run.proc.send_signal(signal.SIGINT)
    assert run.stopping.wait(WAIT)
    release.set()
    assert run.wait() == 130, run.err
    assert len(server.posts) == 5
    states = Counter(r["state"] for r in ledger_rows(ledger_spec))
    assert states["placed"] == 5 and states["unknown"] == 0 and states["dialing"] == 0
    assert "placed          5" in run.stdout

    resumed = Batch(tmp_path, server, "--concurrency", "4", ledger=ledger_spec)
    assert resumed.wait() == 0, resumed.err
    check_exactly_once(server, 20, ledger_spec)
    assert sorted(server.numbers()) == sorted(number(i) for i in range(20))


def test_second_ctrl_c_stops_at_once_and_the_call_in_flight_is_unknown(
    tmp_path, server, ledger_spec
):
    write_profile(tmp_path)
    write_contacts(tmp_path / "c.csv", many(10))
    reached, release = server.hold_at(3)
    run = Batch(tmp_path, server, "--concurrency", "1", ledger=ledger_spec)
    try:
        assert reached.wait(WAIT)
        run.proc.send_signal(signal.SIGINT)
        assert run.stopping.wait(WAIT)
        run.proc.send_signal(signal.SIGINT)
        assert run.wait() == 5, run.err  # a call may have been placed: unknown wins
    finally:
        release.set()
    rows = {r["row_no"]: r["state"] for r in ledger_rows(ledger_spec)}
    assert rows[4] == "unknown" and [rows[2], rows[3]] == ["placed", "placed"]

    resumed = Batch(tmp_path, server, ledger=ledger_spec)
    assert resumed.wait() == 5
    check_exactly_once(server, 10, ledger_spec)
    assert len(server.posts) == 10


def test_a_second_process_on_the_same_batch_refuses(tmp_path, server, cli, monkeypatch):
    profiles = write_profile(tmp_path)
    write_contacts(tmp_path / "c.csv", many(6))
    reached, release = server.hold_at(1)
    first = Batch(tmp_path, server, "--concurrency", "1")
    try:
        assert reached.wait(WAIT)
        monkeypatch.setenv("TELNYX_API_KEY", API_KEY)
        monkeypatch.setenv("TELNYX_BASE_URL", server.base_url)
        second = cli("batch", "remind", "--contacts", "c.csv", profiles_dir=profiles)
        assert second.exit_code == 6
        assert "already running" in second.stderr and "Nothing was sent" in second.stderr
        status = cli("batch-status", "--ledger", "c.csv.ledger.db")
        assert "(running)" in status.stdout and "in flight" in status.stdout
        assert len(server.posts) == 1
    finally:
        release.set()
    assert first.wait() == 0, first.err
    assert len(server.posts) == 6
