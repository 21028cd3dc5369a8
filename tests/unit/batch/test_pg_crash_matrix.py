"""The crash matrix on PostgreSQL: three runners share a 1,000-row batch against the sandbox; a
seeded random runner is SIGKILLed at seeded random moments (by the number of calls the sandbox
has seen) and restarted, and one restart kills itself right after a claim, before its POST.

Judged from the sandbox's own log and the ledger: no number was sent twice, every row is
accounted for, and ``unknown`` rows are only rows a killed runner had in flight (each runner
has at most ``--concurrency`` rows in flight); ``batch-reconcile`` then settles every one of them
from the call list (a stand-in listing the calls the sandbox answered).
"""

from __future__ import annotations

import random
import signal
import sys
from collections import Counter

import pytest

from tests.helpers.batch import ledger_rows, many, number, write_contacts, write_profile
from tests.helpers.batch_process import WAIT, Batch
from tests.helpers.calls_list import ACCOUNT, CallsList, call
from tests.helpers.env import API_KEY
from tests.helpers.postgres import query

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
SEED = 20261127
ROWS = 1000
RUNNERS = 3
CONCURRENCY = 4
KILLS = 5  # by the test; one more restart kills itself after a claim


def calls(records: list[dict]) -> int:
    return sum(1 for r in records if r["kind"] == "request" and r.get("connection_id"))


def test_three_runners_killed_at_random_moments_call_no_one_twice(
    tmp_path, server, pg_url, cli, monkeypatch
):
    write_profile(tmp_path)
    write_contacts(tmp_path / "c.csv", many(ROWS))
    rng = random.Random(SEED)
    moments = sorted(rng.sample(range(50, 750), KILLS))
    self_killer = rng.randrange(KILLS)  # this restart dies right after a claim of its own

    def start(hook: str = "") -> Batch:
        args = ("--concurrency", str(CONCURRENCY), "--lease", "5")
        return Batch(tmp_path, server, *args, hook=hook, ledger=pg_url)

    slots = [start() for _ in range(RUNNERS)]
    killed = 0
    for n, moment in enumerate(moments):
        assert server.sandbox.wait_for(lambda records, m=moment: calls(records) >= m, WAIT)
        victim = rng.randrange(RUNNERS)
        slots[victim].proc.send_signal(signal.SIGKILL)
        assert slots[victim].wait() == -signal.SIGKILL
        killed += 1
        hook = f"claim:{rng.randint(3, 30)}" if n == self_killer else ""
        slots[victim] = start(hook)

    # Run to the end; a runner that killed itself is restarted once more.
    codes = []
    for i in range(RUNNERS):
        code = slots[i].wait()
        if code == -signal.SIGKILL:
            killed += 1
            slots[i] = start()
            code = slots[i].wait()
        codes.append(code)
        assert code in (0, 5), slots[i].err
    assert killed >= KILLS

    # The sandbox's log: no number twice.
    sent = Counter(server.numbers())
    assert max(sent.values()) == 1, [x for x, c in sent.items() if c > 1]
    # The ledger: every row, and each placed row carries the sandbox's answer for its number.
    rows = ledger_rows(pg_url)
    assert [r["row_no"] for r in rows] == list(range(2, ROWS + 2))
    states = Counter(r["state"] for r in rows)
    assert set(states) <= {"placed", "unknown"}, states
    answered = {p["response"]["call_sid"]: p["body"]["To"] for p in server.posts}
    answered_by = {to: sid for sid, to in answered.items()}
    for row in rows:
        if row["state"] == "placed":
            assert answered[row["call_sid"]] == row["e164"]
    assert sorted(r["e164"] for r in rows) == sorted(number(i) for i in range(ROWS))

    # Unknown only where a killed runner had the row in flight.
    dead = {
        r["runner"]
        for r in query(pg_url, "SELECT runner, end_reason FROM runners")
        if "without finishing" in (r["end_reason"] or "")
    }
    assert len(dead) <= killed
    unknown = [r for r in rows if r["state"] == "unknown"]
    assert all(r["runner"] in dead for r in unknown), unknown
    per_runner = Counter(r["runner"] for r in unknown)
    assert all(n <= CONCURRENCY for n in per_runner.values()), per_runner
    assert all("may have been placed" in r["reason"] for r in unknown)
    # Exit 5 exactly when some row ended unknown.
    assert set(codes) == ({5} if unknown else {0})

    status = cli("batch-status", "--ledger", pg_url)
    assert status.exit_code == (5 if unknown else 0)
    assert f"placed    {states['placed']:>7}" in status.stdout

    # batch-reconcile resolves them from the call list (here: the calls the sandbox answered):
    # a row whose call reached Telnyx is placed, a row killed before its POST is not-placed.
    monkeypatch.setenv("TELNYX_API_KEY", API_KEY)
    listing = CallsList([call(p["response"]["call_sid"], p["body"]["To"]) for p in server.posts])
    try:
        settled = cli(
            "batch-reconcile", "--ledger", pg_url, "--base-url", listing.base_url,
            "--account-sid", ACCOUNT, "--margin", "0",
        )  # fmt: skip
    finally:
        listing.stop()
    assert settled.exit_code == 0, settled.stderr
    after = {r["row_no"]: r for r in ledger_rows(pg_url)}
    for row in unknown:
        now = after[row["row_no"]]
        if row["e164"] in sent:
            assert (now["state"], now["call_sid"]) == ("placed", answered_by[row["e164"]])
        else:
            assert now["state"] == "not-placed"
    assert "unknown" not in Counter(r["state"] for r in after.values())
