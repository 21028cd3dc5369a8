"""Outcome-aware retries (``campaign.retry``), end to end on loopback: the sandbox plays the far
end (a per-number outcome script, signed status callbacks), ``batch --listen`` records the
outcomes in the ledger, and ``batch`` (a re-run, or ``--follow``) calls again exactly the rows
whose final outcome earns it, within ``max_attempts``, the policy's 24-hour cap and the calling
window; ``batch-status`` and the report show every attempt. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import itertools
import json
import signal
from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from runner.sandbox import Step
from runner.sandbox.script import FOREVER
from tests.helpers.batch import write_contacts, write_profile
from tests.helpers.batch_server import LoggedSandbox
from tests.helpers.env import API_KEY
from tests.helpers.outcomes import Process, free_port

EVENTS = "initiated ringing answered completed no-answer busy canceled failed"
NO_ANSWER_ONCE, ALWAYS_BUSY, ANSWERS = "+13125550000", "+13125550001", "+13125550002"


def profile(port: int, retry: str, policy: str = "") -> str:
    return (
        'description: Retries.\nconnection_id: "conn-batch"\n'
        "variables:\n  name:\n    required: true\n"
        'call:\n  From: "+13120001234"\n  AIAssistantId: "assistant-batch"\n'
        f'  StatusCallback: "http://127.0.0.1:{port}/status"\n'
        f'  StatusCallbackEvent: "{EVENTS}"\n'
        "  StatusCallbackMethod: POST\n"
        '  AIAssistantDynamicVariables:\n    name: "{{ name }}"\n'
        f"campaign:\n  retry:\n{retry}{policy}"
    )


RETRY = "    on: [no-answer, busy]\n    after: 0s\n    max_attempts: 3\n"


@pytest.fixture
def server(tmp_path):
    sandbox = LoggedSandbox(tmp_path / "sandbox.jsonl")
    sandbox.sandbox.add_steps(
        [
            Step(to=NO_ANSWER_ONCE, outcome="no-answer", times=1),
            Step(to=ALWAYS_BUSY, outcome="busy", times=FOREVER),
            Step(to=ANSWERS, outcome="human", times=FOREVER),
        ]
    )
    yield sandbox
    sandbox.stop()


@pytest.fixture
def port():
    return free_port()


@pytest.fixture
def env(tmp_path, monkeypatch, server):
    monkeypatch.setenv("TELNYX_API_KEY", API_KEY)
    monkeypatch.setenv("TELNYX_BASE_URL", server.base_url)
    write_contacts(
        tmp_path / "c.csv",
        [{"to": n, "name": f"P{i}"} for i, n in enumerate((NO_ANSWER_ONCE, ALWAYS_BUSY, ANSWERS))],
    )
    return tmp_path


def batch(cli, root, server, port, ledger, *args, listen=True):
    argv = ["batch", "remind", "--contacts", str(root / "c.csv"), "--ledger", str(ledger)]
    argv += ["--rate", "1000", "--concurrency", "2", "--min-interval", "0"]
    if listen:
        argv += ["--listen", str(port), "--public-key", server.sandbox.public_key]
    return cli(*argv, *args, profiles_dir=root / "profiles")


def calls(server) -> Counter:
    return Counter(server.numbers())


def status(cli, ledger) -> dict:
    return json.loads(cli("batch-status", "--ledger", str(ledger), "-o", "json").stdout)


def test_follow_retries_what_the_outcomes_earn_and_every_attempt_is_recorded(
    cli, env, server, port, ledger_spec
):
    write_profile(env, profile(port, RETRY))
    result = batch(cli, env, server, port, ledger_spec, "--follow")
    assert result.exit_code == 0, result.stderr
    # no-answer once, then answered: 2 calls; busy every time: max_attempts 3; answered: 1.
    assert calls(server) == {NO_ANSWER_ONCE: 2, ALWAYS_BUSY: 3, ANSWERS: 1}
    assert "row 2: retry: attempt 2 (retry)" in result.stderr
    assert "row 3: retry: attempt 3 (retry)" in result.stderr
    retried = {r["row"]: r["attempts"] for r in status(cli, ledger_spec)["batches"][0]["retried"]}
    assert sorted(retried) == [2, 3]
    assert [(a["attempt"], a["outcome"]) for a in retried[2]] == [(1, "no-answer"), (2, "answered")]
    assert [a["outcome"] for a in retried[3]] == ["busy", "busy", "busy"]
    sids = [a["call_sid"] for r in retried.values() for a in r]
    answered = {p["response"]["call_sid"] for p in server.posts}
    assert len(set(sids)) == 5 and set(sids) <= answered  # each attempt its own call
    # The ledger records each attempt once; a re-run has nothing left to do.
    again = batch(cli, env, server, port, ledger_spec)
    assert again.exit_code == 0, again.stderr
    assert calls(server) == {NO_ANSWER_ONCE: 2, ALWAYS_BUSY: 3, ANSWERS: 1}
    report = env / "r.csv"
    assert cli("batch-status", "--ledger", str(ledger_spec), "--report", str(report)).exit_code == 0
    with open(report, encoding="utf-8", newline="") as fh:
        lines = {int(r["row"]): r for r in csv.DictReader(fh)}
    assert lines[2]["attempt_outcomes"] == "1 no-answer; 2 answered"
    assert lines[3]["attempt_outcomes"] == "1 busy; 2 busy; 3 busy"
    assert lines[4]["attempt_outcomes"] == "1 answered"
    text = cli("batch-status", "--ledger", str(ledger_spec)).stdout
    assert "attempts (rows called more than once: 2)" in text
    assert "row 3     +1312***0001  1 busy; 2 busy; 3 busy" in text


def test_a_rerun_retries_one_attempt_per_run_without_follow(cli, env, server, port, tmp_path):
    write_profile(env, profile(port, RETRY))
    ledger = tmp_path / "l.db"
    assert batch(cli, env, server, port, ledger).exit_code == 0
    # The first run retried what its own outcomes earned once they were in, then stopped.
    first = calls(server)
    assert first[ANSWERS] == 1 and first[ALWAYS_BUSY] >= 1
    while calls(server)[ALWAYS_BUSY] < 3:
        before = sum(calls(server).values())
        assert batch(cli, env, server, port, ledger).exit_code == 0
        assert sum(calls(server).values()) > before
    assert batch(cli, env, server, port, ledger).exit_code == 0
    assert calls(server) == {NO_ANSWER_ONCE: 2, ALWAYS_BUSY: 3, ANSWERS: 1}


def test_a_row_whose_outcome_never_arrived_is_never_retried(cli, env, server, port, ledger_spec):
    write_profile(env, profile(port, RETRY))
    # No receiver: the calls are placed, their callbacks go nowhere, no outcome is recorded.
    for _ in range(2):
        result = batch(cli, env, server, port, ledger_spec, listen=False)
        assert result.exit_code == 0, result.stderr
    assert calls(server) == {NO_ANSWER_ONCE: 1, ALWAYS_BUSY: 1, ANSWERS: 1}
    assert status(cli, ledger_spec)["batches"][0]["retried"] == []


def test_the_24_hour_cap_of_the_policy_bounds_the_retries(cli, env, server, port, ledger_spec):
    policy = "  policy:\n    max_attempts_per_24h: 2\n"
    write_profile(env, profile(port, RETRY, policy))
    result = batch(cli, env, server, port, ledger_spec, "--follow")
    assert result.exit_code == 0, result.stderr
    assert calls(server) == {NO_ANSWER_ONCE: 2, ALWAYS_BUSY: 2, ANSWERS: 1}


def _window_now(offset_hours: int) -> str:
    """A one-hour --window starting ``offset_hours`` from now in Chicago (the 312 numbers)."""
    start = datetime.now(ZoneInfo("America/Chicago")) + timedelta(hours=offset_hours)
    end = start + timedelta(hours=1)
    return f"{start:%H:00}-{end:%H:00}"


def test_retries_wait_for_the_calling_window(cli, env, server, port, tmp_path):
    write_profile(env, profile(port, "    on: [busy]\n    after: 0s\n    max_attempts: 2\n"))
    ledger = tmp_path / "l.db"
    assert batch(cli, env, server, port, ledger, "--max-calls", "3").exit_code == 0
    assert calls(server)[ALWAYS_BUSY] == 1
    closed = batch(cli, env, server, port, ledger, "--window", _window_now(3), "--follow")
    assert closed.exit_code == 0, closed.stderr
    assert "row 3: retry: attempt 2 waits:" in closed.stderr
    assert calls(server)[ALWAYS_BUSY] == 1  # outside the window: not called, and --follow ended
    opened = batch(cli, env, server, port, ledger, "--window", "00:00-23:59")
    assert opened.exit_code == 0, opened.stderr
    assert calls(server)[ALWAYS_BUSY] == 2


def test_sigkill_during_a_retry_round_then_a_rerun_places_no_attempt_twice(
    cli, env, server, port, tmp_path, ledger_spec
):
    write_profile(env, profile(port, "    on: [busy]\n    after: 0s\n    max_attempts: 3\n"))
    ledger = ledger_spec
    assert batch(cli, env, server, port, ledger, "--max-calls", "3").exit_code == 0
    assert calls(server) == {NO_ANSWER_ONCE: 1, ALWAYS_BUSY: 1, ANSWERS: 1}
    # The re-run's first answer (the busy row's attempt 2, sent) is never recorded: SIGKILL.
    argv = ["--profiles-dir", str(env / "profiles"), "batch", "remind", "--contacts", "c.csv"]
    argv += ["--ledger", str(ledger), "--min-interval", "0", "--rate", "1000"]
    killed = Process(
        env,
        argv,
        {
            "TELNYX_API_KEY": API_KEY,
            "TELNYX_BASE_URL": server.base_url,
            "CALLPROFILE_TEST_KILL_AFTER": "answer:1",
            "XDG_STATE_HOME": str(tmp_path / "state"),
        },
    )
    assert killed.wait() == -signal.SIGKILL
    assert calls(server)[ALWAYS_BUSY] == 2
    again = batch(cli, env, server, port, ledger, "--follow")
    assert again.exit_code == 5, again.stderr  # attempt 2 is unknown: it may have rung
    assert "left dialing by a run that ended" in again.stderr
    assert calls(server)[ALWAYS_BUSY] == 2  # never dialled again, not even as attempt 3
    busy = next(r for r in status(cli, ledger)["batches"][0]["retried"] if r["row"] == 3)
    assert [(a["attempt"], a["state"]) for a in busy["attempts"]] == [
        (1, "placed"),
        (2, "unknown"),
    ]


def test_every_attempt_moves_with_the_batch_to_postgresql(cli, env, server, port, tmp_path, pg_url):
    """batch-migrate copies the archived attempts and their calls' outcomes: batch-status shows
    the same attempts from the database, and a retry there names the right attempt."""
    write_profile(env, profile(port, RETRY))
    local = tmp_path / "local.db"
    assert batch(cli, env, server, port, local, "--follow").exit_code == 0
    assert cli("batch-migrate", "--from", str(local), "--to", pg_url).exit_code == 0
    here = status(cli, local)["batches"][0]["retried"]
    there = status(cli, pg_url)["batches"][0]["retried"]
    assert here and here == there
    assert (
        cli("batch-status", "--ledger", pg_url).stdout
        == cli("batch-status", "--ledger", str(local)).stdout
    )


def test_a_retry_waits_after_the_previous_attempt(cli, env, server, port, tmp_path, monkeypatch):
    """``after: 2h``: a re-run an hour later retries nothing; one two hours later does. The
    batch's wall clock is moved with cmd_batch's clock seam, so nobody waits."""
    from runner.cli import cmd_batch

    write_profile(env, profile(port, "    on: [busy]\n    after: 2h\n    max_attempts: 2\n"))
    ledger = tmp_path / "l.db"
    start = datetime.now(ZoneInfo("UTC"))
    for hours, busy_calls in ((0, 1), (1, 1), (2, 2), (5, 2)):
        at = start + timedelta(hours=hours, seconds=1 if hours else 0)
        monkeypatch.setattr(cmd_batch, "now", lambda at=at: at)
        result = batch(cli, env, server, port, ledger)
        assert result.exit_code == 0, result.stderr
        assert calls(server)[ALWAYS_BUSY] == busy_calls, hours
    busy = next(r for r in status(cli, ledger)["batches"][0]["retried"] if r["row"] == 3)
    first, second = (a["sent_at"] for a in busy["attempts"])
    assert first == f"{start:%Y-%m-%dT%H:%M:%S.%fZ}"  # the clock stood still in each run
    assert second == f"{start + timedelta(hours=2, seconds=1):%Y-%m-%dT%H:%M:%S.%fZ}"


def test_a_capped_retry_still_counts_for_the_repeat_guard_of_other_ledgers(
    cli, env, server, port, tmp_path
):
    """The busy row's retry is refused by the 24-hour cap; the number stays in the journal of
    recent calls, so a copy of the batch with another ledger does not call it again."""
    policy = "  policy:\n    max_attempts_per_24h: 1\n"
    write_profile(env, profile(port, RETRY, policy))
    assert batch(cli, env, server, port, tmp_path / "a.db").exit_code == 0
    assert calls(server)[ALWAYS_BUSY] == 1
    other = batch(cli, env, server, port, tmp_path / "b.db", "--min-interval", "24h")
    assert other.exit_code == 0, other.stderr
    assert calls(server) == {NO_ANSWER_ONCE: 1, ALWAYS_BUSY: 1, ANSWERS: 1}
    assert "skipped         3  (repeat 3)" in other.stdout


class MovingClock:
    """The batch's clocks (cmd_batch's seams): wall and monotonic time move only when the batch
    waits, by what it waits."""

    def __init__(self) -> None:
        self.start = datetime.now(ZoneInfo("UTC"))
        self.offset = 0.0

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.offset)

    def monotonic(self) -> float:
        return 1000.0 + self.offset

    def wait(self, seconds: float) -> None:
        self.offset += max(seconds, 1e-6)


def test_follow_waits_for_the_earliest_due_retry(cli, env, server, port, monkeypatch):
    """``after: 2h`` with --follow: the batch waits on its own clock for each retry's due time
    (no real waiting), places attempts two hours apart, and ends at max_attempts."""
    from runner.cli import cmd_batch

    clock = MovingClock()
    monkeypatch.setattr(cmd_batch, "now", clock.now)
    monkeypatch.setattr(cmd_batch, "clock", clock.monotonic)
    monkeypatch.setattr(cmd_batch, "wait", clock.wait)
    write_profile(env, profile(port, "    on: [busy]\n    after: 2h\n    max_attempts: 3\n"))
    ledger = env / "l.db"
    result = batch(cli, env, server, port, ledger, "--follow")
    assert result.exit_code == 0, result.stderr
    assert calls(server) == {NO_ANSWER_ONCE: 1, ALWAYS_BUSY: 3, ANSWERS: 1}
    assert "--follow: waiting for the next retry, due" in result.stderr
    busy = next(r for r in status(cli, ledger)["batches"][0]["retried"] if r["row"] == 3)
    sent = [datetime.strptime(a["sent_at"], "%Y-%m-%dT%H:%M:%S.%fZ") for a in busy["attempts"]]
    gaps = [later - earlier for earlier, later in itertools.pairwise(sent)]
    assert all(timedelta(hours=2) <= gap < timedelta(hours=2, minutes=1) for gap in gaps), gaps
    assert clock.offset >= 4 * 3600
