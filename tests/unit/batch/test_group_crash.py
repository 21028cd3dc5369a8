"""Group commit under SIGKILL: a SQLite batch writes the claims and answers of all its workers
together (runner/batch/groupwrite.py), and a crash at any moment still leaves at most the rows in
flight (claimed, answer not yet on disk) without an answer, never calls a number twice, and loses
no row.

Each round kills ``callprofile batch`` (a subprocess, concurrency 8) at a seeded random point:
while the sandbox holds a POST (the kill comes from the sandbox's record hook, so the batch's
other threads are wherever they happen to be: claiming, committing a group, recording), right
after the Nth claim, right after the Nth answer (before it is recorded), or right after the Nth
group commit (before any worker of the group hears of its claim). After every kill the ledger
is read: the rows left ``dialing`` are at most the concurrency, and every number the sandbox
answered is either recorded or one of them. The next run turns them ``unknown``; the last run
finishes the batch.
"""

from __future__ import annotations

import os
import random
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.batch import ledger_rows, many, write_contacts, write_profile
from tests.helpers.batch_process import Batch
from tests.helpers.batch_server import LoggedSandbox

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

ROWS = 240
CONCURRENCY = 8


class KillingSandbox(LoggedSandbox):
    """Kills ``victim`` (a pid) from the sandbox's handler thread when POST ``at`` arrives."""

    def __init__(self, log: Path):
        self.victim: int | None = None
        self.at: int | None = None
        super().__init__(log)

    def _on_record(self, record: dict[str, Any]) -> None:
        super()._on_record(record)
        if record["kind"] == "request" and record.get("seq") == self.at and self.victim:
            os.kill(self.victim, signal.SIGKILL)


@pytest.fixture
def server(tmp_path):
    sandbox = KillingSandbox(tmp_path / "sandbox.jsonl")
    yield sandbox
    sandbox.stop()


def _after_kill(server: KillingSandbox, ledger: Path, unknown_before: set[int]) -> set[int]:
    """The promise after one crash: the rows left dialing are the ones in flight (at most one
    per worker), and every call the sandbox answered is recorded unless its row is among them.
    Returns the rows now dialing."""
    rows = ledger_rows(ledger)
    dialing = {r["row_no"] for r in rows if r["state"] == "dialing"}
    assert len(dialing) <= CONCURRENCY, sorted(dialing)
    by_number = {r["e164"]: r for r in rows}
    for post in server.posts:
        row = by_number[post["body"]["To"]]
        if row["row_no"] in dialing or row["row_no"] in unknown_before:
            continue
        assert row["state"] == "placed", row
        assert row["call_sid"] == post["response"]["call_sid"]
    return dialing


@pytest.mark.parametrize("seed", [7, 2026])
def test_sigkill_at_random_points_of_a_grouped_batch_then_resume(tmp_path, server, seed):
    rng = random.Random(seed)
    write_profile(tmp_path)
    write_contacts(tmp_path / "c.csv", many(ROWS))
    ledger = tmp_path / "ledger.db"
    unknown: set[int] = set()
    dialing: set[int] = set()
    kinds = ["post", "claim", "answer", "group"]
    rng.shuffle(kinds)
    for kind in [*kinds, rng.choice(kinds)]:
        sent = len(server.posts)
        step = rng.randint(5, 40)
        hook = "" if kind == "post" else f"{kind}:{step if kind != 'group' else step // 2 + 1}"
        server.at = sent + step if kind == "post" else None
        run = Batch(tmp_path, server, "--concurrency", str(CONCURRENCY), hook=hook, ledger=ledger)
        server.victim = run.proc.pid
        assert run.wait() == -signal.SIGKILL, (kind, run.err)
        server.victim = None
        if dialing:  # the rows the last crash left in flight were found at start
            assert "left dialing by a run that ended" in run.err
        dialing = _after_kill(server, ledger, unknown)
        unknown |= dialing

    last = Batch(tmp_path, server, "--concurrency", str(CONCURRENCY), ledger=ledger)
    assert last.wait() == (5 if unknown else 0), last.err
    if dialing:
        assert "left dialing by a run that ended" in last.err

    # No number was called twice, and every row is accounted for.
    calls = Counter(p["body"]["To"] for p in server.posts)
    assert max(calls.values()) == 1, [n for n, c in calls.items() if c > 1]
    rows = ledger_rows(ledger)
    assert [r["row_no"] for r in rows] == list(range(2, ROWS + 2))
    states = Counter(r["state"] for r in rows)
    assert set(states) <= {"placed", "unknown"}
    # Only the rows in flight at a crash were left without an answer.
    assert {r["row_no"] for r in rows if r["state"] == "unknown"} == unknown
    answered = {p["response"]["call_sid"]: p["body"]["To"] for p in server.posts}
    for row in rows:
        if row["state"] == "placed":
            assert answered[row["call_sid"]] == row["e164"]
    # A row claimed and never sent is unknown too, never sent later.
    assert states["placed"] + states["unknown"] == ROWS
    assert len(server.posts) >= states["placed"]
