"""Several ``callprofile batch`` processes on one PostgreSQL ledger: they share the rows, a
runner started later joins, a dead runner's call in flight becomes unknown (never re-sent) and
its other rows are dialled by the others, and ``batch-status`` shows each runner's share.

The runners are subprocesses against the sandbox, whose own log is the record of what arrived;
every point in time is reached by waiting on a line of a runner's stderr or on the sandbox
holding an answer, never by sleeping.
"""

from __future__ import annotations

import signal
import sys
from collections import Counter

import pytest

from tests.helpers.batch import ledger_rows, many, number, write_contacts, write_profile
from tests.helpers.batch_process import WAIT, Batch
from tests.helpers.batch_server import LoggedSandbox, Script
from tests.helpers.env import API_KEY
from tests.helpers.postgres import query

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
JOINED = "joined batch"
# A runner whose answer the sandbox holds while other processes start: a read timeout only as a
# bound for a hung test (on a busy machine starting a runner can take seconds).
HELD = ("--timeout", "120")


def each_number_once(server: LoggedSandbox, rows: int) -> None:
    sent = Counter(server.numbers())
    assert sent and max(sent.values()) == 1, [n for n, c in sent.items() if c > 1]
    assert sorted(sent) == sorted(number(i) for i in range(rows))


def test_three_runners_share_one_batch_and_call_each_number_once(tmp_path, server, pg_url, cli):
    write_profile(tmp_path)
    write_contacts(tmp_path / "c.csv", many(150))
    # Each runner's first call is held until the next runner has started, so all three get
    # rows whatever the speed of each (a fast runner could otherwise drain the batch before a
    # slow one claimed anything). The first two dial one call at a time, so POST 2 is the
    # second runner's and POST 3 the third's.
    holds = [server.hold_at(n) for n in (1, 2, 3)]
    first = Batch(tmp_path, server, "--concurrency", "1", *HELD, ledger=pg_url)
    later: list[Batch] = []
    try:
        assert holds[0][0].wait(WAIT)
        later.append(Batch(tmp_path, server, "--concurrency", "1", *HELD, ledger=pg_url))
        assert holds[1][0].wait(WAIT), later[0].err
        later.append(Batch(tmp_path, server, "--concurrency", "2", *HELD, ledger=pg_url))
        assert holds[2][0].wait(WAIT), later[1].err
        for runner in later:
            assert runner.wait_for(JOINED), runner.err
        assert "(2 other runner(s) at work)" in later[-1].err or any(
            "(1 other runner(s) at work)" in r.err for r in later
        )
    finally:
        for _, release in holds:
            release.set()
    for runner in (first, *later):
        code = runner.wait()
        assert code == 0, (runner.err, [r for r in ledger_rows(pg_url) if r["state"] != "placed"])
    each_number_once(server, 150)

    rows = ledger_rows(pg_url)
    assert Counter(r["state"] for r in rows) == {"placed": 150}
    answered = {p["response"]["call_sid"]: p["body"]["To"] for p in server.posts}
    assert {r["call_sid"]: r["e164"] for r in rows} == answered
    shares = Counter(r["runner"] for r in rows)
    assert len(shares) == 3 and sum(shares.values()) == 150

    status = cli("batch-status", "--ledger", pg_url)
    assert status.exit_code == 0, status.stderr
    assert "runners         3  (0 running)" in status.stdout
    for runner, count in shares.items():
        line = next(x for x in status.stdout.splitlines() if x.strip().startswith(runner[:8]))
        assert f"placed {count} " in line and "ended: done" in line


def test_a_killed_runners_call_in_flight_is_unknown_and_the_others_finish_its_rows(
    tmp_path, server, pg_url, cli
):
    write_profile(tmp_path)
    write_contacts(tmp_path / "c.csv", many(60))
    reached, release = server.hold_at(1)
    doomed = Batch(tmp_path, server, "--concurrency", "1", ledger=pg_url)
    try:
        assert reached.wait(WAIT)  # its first call is on the wire
        survivor = Batch(tmp_path, server, "--concurrency", "2", ledger=pg_url)
        assert survivor.wait_for(JOINED), survivor.err
        doomed.proc.send_signal(signal.SIGKILL)
        assert doomed.wait() == -signal.SIGKILL
        # The survivor finishes the batch, rows the dead runner had reserved included.
        assert survivor.wait() == 5, survivor.err  # the call in flight at the kill: unknown
    finally:
        release.set()
    held = server.posts[0]["body"]["To"]
    each_number_once(server, 60)
    rows = {r["e164"]: r for r in ledger_rows(pg_url)}
    assert rows[held]["state"] == "unknown"
    assert "may have been placed" in rows[held]["reason"]
    assert Counter(r["state"] for r in rows.values()) == {"placed": 59, "unknown": 1}
    runners = query(pg_url, "SELECT runner, end_reason FROM runners ORDER BY started_at")
    assert runners[0]["runner"] == rows[held]["runner"]
    assert "ended without finishing" in runners[0]["end_reason"]

    # Nothing is re-sent by a later run; the unknown row waits for the operator.
    posts = len(server.posts)
    again = Batch(tmp_path, server, ledger=pg_url)
    assert again.wait() == 5, again.err
    assert len(server.posts) == posts


def test_a_runner_silent_past_its_lease_is_taken_for_dead_and_stops(tmp_path, server, pg_url):
    """SIGSTOP keeps the process (and its connection) alive but silences its heartbeat: the
    lease, not the connection, tells the others it is gone. Resumed, it learns it was taken for
    dead and claims nothing more."""
    write_profile(tmp_path)
    write_contacts(tmp_path / "c.csv", many(40))
    reached, release = server.hold_at(1)
    frozen = Batch(tmp_path, server, "--concurrency", "1", "--lease", "1", *HELD, ledger=pg_url)
    try:
        assert reached.wait(WAIT)
        frozen.proc.send_signal(signal.SIGSTOP)
        # The other runner keeps the default lease: with one of 1 s, a loaded machine could
        # delay its own heartbeat or a query past it and stop it too (exit 6, not 5).
        other = Batch(tmp_path, server, "--concurrency", "2", ledger=pg_url)
        assert other.wait() == 5, other.err
    finally:
        frozen.proc.send_signal(signal.SIGCONT)
        release.set()
    # It stopped early, but the batch it sees is finished (the other runner did the rest).
    assert frozen.wait() == 0, frozen.err
    assert "took this runner for dead" in frozen.err
    each_number_once(server, 40)
    held = server.posts[0]["body"]["To"]
    rows = {r["e164"]: r for r in ledger_rows(pg_url)}
    # Its answer still reached the ledger after it woke: the row is placed, called once.
    assert rows[held]["state"] == "placed"
    assert Counter(r["state"] for r in rows.values()) == {"placed": 40}
    ended = query(pg_url, "SELECT end_reason FROM runners ORDER BY started_at")
    assert ended[0]["end_reason"] == "no heartbeat within its lease"


def test_the_receiver_and_reconcile_work_beside_a_runner(
    tmp_path, server, pg_url, cli, monkeypatch
):
    """``listen`` records callbacks into the runners' database and ``batch-reconcile`` settles
    an unknown row there, both while a runner is still at work; the runner's call in flight is
    left alone and it finishes the batch."""
    from tests.helpers.calls_list import ACCOUNT, CallsList, call
    from tests.helpers.outcomes import Process, free_port, outcomes

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
    write_profile(tmp_path, profile)
    write_contacts(tmp_path / "c.csv", many(8))
    key = server.sandbox.public_key
    receiver = Process(
        tmp_path,
        ["listen", "--port", str(port), "--ledger", pg_url, "--public-key", key],
        env={},
    )
    try:
        receiver.wait_for_line("listening on")
        calls = CallsList([call("v3:found-later", number(1))])
        server.script(2, Script(500))  # row 3: sent, no answer: unknown
        reached, release = server.hold_at(5)  # row 6 stays in flight meanwhile
        monkeypatch.setenv("TELNYX_API_KEY", API_KEY)  # reconcile looks calls up with it
        runner = Batch(tmp_path, server, "--concurrency", "1", *HELD, ledger=pg_url)
        try:
            assert reached.wait(WAIT)
            settled = cli(
                "batch-reconcile", "--ledger", pg_url, "--base-url", calls.base_url,
                "--account-sid", ACCOUNT, "--margin", "0",
            )  # fmt: skip
            assert settled.exit_code == 0, settled.stderr
            rows = {r["row_no"]: r for r in ledger_rows(pg_url)}
            assert (rows[3]["state"], rows[3]["call_sid"]) == ("placed", "v3:found-later")
            assert rows[6]["state"] == "dialing"  # the live runner's call: not touched
        finally:
            release.set()
            calls.stop()
        assert runner.wait() == 0, runner.err  # nothing unknown is left
        server.stop()  # waits for the sandbox's callbacks to be delivered
        receiver.proc.send_signal(signal.SIGINT)  # the receiver's own way to stop
        assert receiver.wait() in (0, 130), receiver.err
        answered = {p["response"].get("call_sid") for p in server.posts} - {None}
        assert set(outcomes(pg_url)) == answered  # every call's callbacks, in the database
        assert Counter(server.numbers()).most_common(1)[0][1] == 1
    finally:
        if receiver.proc.poll() is None:
            receiver.proc.kill()
            receiver.proc.wait()
