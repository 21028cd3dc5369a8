"""One rate for the whole batch: several runners on one PostgreSQL ledger take their send times
from one schedule in the database, and a 429 seen by any of them pauses all of them.

Judged from the sandbox's own JSON-lines log (the arrival time of every POST), never by timing
the test; the test waits only for the runners to end.
"""

from __future__ import annotations

import sys
from collections import Counter
from datetime import datetime

import pytest

from tests.helpers.batch import ledger_rows, many, number, write_contacts, write_profile
from tests.helpers.batch_process import Batch
from tests.helpers.batch_server import Script

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def arrival(record: dict) -> float:
    return datetime.fromisoformat(record["time"].replace("Z", "+00:00")).timestamp()


def busiest(times: list[float], window: float) -> int:
    """The most arrivals in any window of ``window`` seconds."""
    times = sorted(times)
    most, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        most = max(most, end - start + 1)
    return most


def test_three_runners_at_rate_20_stay_within_the_rate_together(tmp_path, server, pg_url):
    write_profile(tmp_path)
    write_contacts(tmp_path / "c.csv", many(200))
    runners = [
        Batch(tmp_path, server, "--rate", "20", "--concurrency", "4", ledger=pg_url)
        for _ in range(3)
    ]
    for runner in runners:
        assert runner.wait() == 0, runner.err
    assert sorted(server.numbers()) == sorted(number(i) for i in range(200))
    assert len(Counter(r["runner"] for r in ledger_rows(pg_url))) == 3  # all three sent
    times = [arrival(p) for p in server.posts]
    # 20/s over a rolling 5 s is 100 calls; one slot of slack for the first call, and a few
    # for arrival jitter on a busy machine.
    assert busiest(times, 5.0) <= 105, busiest(times, 5.0)


def test_a_429_seen_by_one_runner_pauses_every_runner(tmp_path, server, pg_url):
    write_profile(tmp_path)
    write_contacts(tmp_path / "c.csv", many(120))
    server.script(30, Script(429, headers={"Retry-After": "2"}))
    runners = [
        Batch(tmp_path, server, "--rate", "50", "--concurrency", "2", ledger=pg_url)
        for _ in range(3)
    ]
    for runner in runners:
        assert runner.wait() == 0, runner.err
    assert sum("pausing every worker" in r.err for r in runners) == 1
    posts = server.posts
    refused = next(p for p in posts if p["response"].get("status") == 429)
    paused_at = arrival(refused)
    # The calls already on their way when the 429 came back may still arrive (a few ms);
    # after that nothing, from any runner, until Retry-After has passed.
    during = [p for p in posts if paused_at + 0.5 < arrival(p) < paused_at + 1.9]
    assert during == [], [(arrival(p) - paused_at, p["body"]["To"]) for p in during]
    senders = Counter(r["runner"] for r in ledger_rows(pg_url))
    assert len(senders) == 3
    after = [p for p in posts if arrival(p) >= paused_at + 1.9]
    assert len(after) > 10  # the batch went on after the pause
    # The refused call was not a call: its number was sent again, once, and placed.
    assert Counter(server.numbers())[refused["body"]["To"]] == 2
    assert {r["state"] for r in ledger_rows(pg_url)} == {"placed"}
