"""SIGKILL a batch mid-flight, reconcile, resume: every number is called exactly once and no
row is left unknown.

The batch runs as a subprocess against the sandbox and is killed at exact points by the engine's
test hook (right after a claim, before its POST; right after an answer, before it is recorded).
``batch-reconcile`` then asks the same sandbox's call list (``GET /v2/texml/Accounts/{sid}/Calls``),
which holds exactly the calls it placed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter

import pytest

from runner.sandbox import Sandbox
from tests.helpers.batch import ledger_rows, many, number, write_contacts, write_profile
from tests.helpers.env import API_KEY, ROOT, assert_no_secrets

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
WAIT = 120  # seconds: only a bound for a hung test, never a pause
ROWS = 40


def killed_batch(tmp_path, server, hook: str, ledger: str) -> int:
    return killed_batch_at(tmp_path, server.base_url, hook, ledger=ledger)


def killed_batch_at(
    tmp_path, base_url: str, hook: str, concurrency: int = 4, ledger: str | None = None
) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELNYX_", "CALLPROFILE"))}
    env.update(
        TELNYX_API_KEY=API_KEY,
        TELNYX_BASE_URL=base_url,
        NO_COLOR="1",
        PYTHONPATH=str(ROOT),
        CALLPROFILE_TEST_KILL_AFTER=hook,
    )
    argv = [sys.executable, "-m", "runner", "--profiles-dir", str(tmp_path / "profiles")]
    argv += ["batch", "remind", "--contacts", "c.csv", "--rate", "1000"]
    argv += ["--concurrency", str(concurrency), *(["--ledger", ledger] if ledger else [])]
    done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=WAIT)
    assert_no_secrets(done.stdout + done.stderr)
    return done.returncode


def test_sigkill_then_reconcile_then_resume_calls_every_number_exactly_once(
    tmp_path, server, cli, monkeypatch, ledger_spec
):
    """On both ledgers: a SQLite file, and a PostgreSQL database (where the killed runner's
    dialing rows are recovered once its lease and lock are gone)."""
    profiles = write_profile(tmp_path)
    write_contacts(tmp_path / "c.csv", many(ROWS))
    ledger = ledger_spec
    # Killed right after a claim was committed, before that row's POST left.
    assert killed_batch(tmp_path, server, "claim:10", ledger) == -signal.SIGKILL
    # Resumed, and killed after Telnyx answered a call, before the answer was recorded.
    assert killed_batch(tmp_path, server, "answer:8", ledger) == -signal.SIGKILL
    left = Counter(r["state"] for r in ledger_rows(ledger))
    assert left["dialing"] + left["unknown"] >= 2, left  # the rows nobody can vouch for

    monkeypatch.setenv("TELNYX_API_KEY", API_KEY)
    settled = cli(
        "batch-reconcile",
        "--ledger",
        str(ledger),
        "--base-url",
        server.base_url,
        "--account-sid",
        server.sandbox.account_sid,
        "--margin",
        "0",
    )
    assert settled.exit_code == 0, settled.stdout + settled.stderr
    assert "left dialing by a run that ended" in settled.stderr
    states = Counter(r["state"] for r in ledger_rows(ledger))
    assert states["unknown"] == states["dialing"] == 0
    assert states["not-placed"] >= 1  # the claim killed before its POST

    monkeypatch.setenv("TELNYX_BASE_URL", server.base_url)
    resumed = cli(
        "batch",
        "remind",
        "--contacts",
        "c.csv",
        "--rate",
        "1000",
        "--redial-unknown",
        "--ledger",
        str(ledger),
        profiles_dir=profiles,
    )
    assert resumed.exit_code == 0, resumed.stderr

    sent = Counter(server.numbers())
    assert sent == Counter({number(i): 1 for i in range(ROWS)})
    rows = ledger_rows(ledger)
    assert Counter(r["state"] for r in rows) == {"placed": ROWS}
    placed_by_sandbox = {
        p["response"]["call_sid"]: p["body"]["To"]
        for p in server.posts
        if p["response"].get("call_sid")
    }
    assert {r["call_sid"]: r["e164"] for r in rows} == placed_by_sandbox


def test_a_call_the_list_does_not_show_yet_stays_unknown_until_it_does(tmp_path, cli, monkeypatch):
    """Telnyx's list is eventually consistent: the sandbox shows a call only ``lookup_delay``
    seconds after placing it (by its lookup clock, moved forward here instead of waiting)."""
    sandbox = Sandbox(log_path=str(tmp_path / "sandbox.jsonl"), lookup_delay=600).start()
    try:
        write_profile(tmp_path)
        write_contacts(tmp_path / "c.csv", many(4))
        assert killed_batch_at(tmp_path, sandbox.base_url, "answer:2", 1) == -signal.SIGKILL
        placed = [c for c in sandbox.calls if c["response"].get("call_sid")]
        lost = placed[-1]  # answered, then the batch died before recording it
        monkeypatch.setenv("TELNYX_API_KEY", API_KEY)
        argv = ["batch-reconcile", "--ledger", str(tmp_path / "c.csv.ledger.db")]
        argv += ["--base-url", sandbox.base_url, "--account-sid", sandbox.account_sid]
        early = cli(*argv)
        assert early.exit_code == 5, early.stdout + early.stderr
        assert "no call listed yet" in early.stdout and "[CP743]" in early.stdout
        row = next(r for r in ledger_rows(tmp_path / "c.csv.ledger.db") if r["row_no"] == 3)
        assert row["state"] == "unknown"
        sandbox.advance(600)
        later = cli(*argv)
        assert later.exit_code == 0, later.stdout + later.stderr
        row = next(r for r in ledger_rows(tmp_path / "c.csv.ledger.db") if r["row_no"] == 3)
        assert (row["state"], row["call_sid"]) == ("placed", lost["response"]["call_sid"])
    finally:
        sandbox.stop()
