"""A reader that goes away is a normal Unix event (issue 9, item 2).

Each test gives callprofile (a subprocess) a pipe whose reader is already closed, or reads one
line and closes it: the next write fails with EPIPE, deterministically, without any wait. The
command must end quietly: exit 141 (128 + SIGPIPE), or the code of what it did for commands
that act; never "internal error", never a crash log, never Python's "Exception ignored".
A live batch that loses its output stops like a first Ctrl-C, and its ledger accounts for every
row: a rerun calls each remaining row once.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.helpers.batch import ledger_rows, many, write_contacts, write_profile
from tests.helpers.batch_server import LoggedSandbox
from tests.helpers.env import API_KEY, EXAMPLE_PROFILES, ROOT, assert_no_secrets

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX pipes")
WAIT = 120  # seconds: only a bound for a hung test, never a pause


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELNYX_", "CALLPROFILE"))}
    env.update(NO_COLOR="1", PYTHONPATH=str(ROOT), XDG_STATE_HOME=str(tmp_path / "state"))
    env.update(extra)
    return env


def _argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "runner", *args]


def into_closed_pipe(
    tmp_path: Path, *args: str, both: bool = False, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run with stdout (and stderr too, with ``both``) on a pipe nobody reads any more."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run(
            _argv(*args),
            cwd=tmp_path,
            env=_env(tmp_path, **env),
            stdout=write,
            stderr=write if both else subprocess.PIPE,
            text=True,
            timeout=WAIT,
            check=False,
        )
    finally:
        os.close(write)


def no_crash(tmp_path: Path, stderr: str | None) -> None:
    state = tmp_path / "state"
    assert not state.exists() or not list(state.rglob("crash-*")), "a crash log was written"
    if stderr is not None:
        for sign in ("internal error", "Traceback", "BrokenPipeError", "Exception ignored"):
            assert sign not in stderr, stderr


@pytest.mark.parametrize(
    "args",
    [
        ("--profiles-dir", str(EXAMPLE_PROFILES), "list"),
        ("validate", "--list-rules"),
        ("--help",),
        ("run", "--help"),
        ("schema",),
    ],
    ids=["list", "list-rules", "help", "run-help", "schema"],
)
def test_a_closed_stdout_ends_quietly_with_141(tmp_path, args):
    done = into_closed_pipe(tmp_path, *args)
    assert done.returncode == 141, done.stderr
    assert done.stderr == ""
    no_crash(tmp_path, done.stderr)


def test_batch_dry_run_read_one_line_then_closed(tmp_path):
    profiles = write_profile(tmp_path)
    write_contacts(tmp_path / "c.csv", many(3000))  # far more than a pipe buffer holds
    proc = subprocess.Popen(
        _argv(
            "--profiles-dir", str(profiles), "batch", "remind", "--contacts", "c.csv", "--dry-run"
        ),
        cwd=tmp_path,
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    first = proc.stdout.readline()
    assert '"row": 2' in first
    proc.stdout.close()  # like `head -1`
    stderr = proc.stderr.read()
    assert proc.wait(WAIT) == 141, stderr
    no_crash(tmp_path, stderr)


def _live_contacts(tmp_path: Path) -> list[dict[str, str]]:
    rows = [*many(3), {"to": "not a number", "name": "Bad"}, *many(20, start=3)]
    write_contacts(tmp_path / "c.csv", rows)
    return rows


def _live(tmp_path: Path, server: LoggedSandbox) -> list[str]:
    # --rate 25: no warning at start-up, so the first line written is the invalid row's.
    args = ["--profiles-dir", str(tmp_path / "profiles"), "batch", "remind"]
    return [*args, "--contacts", "c.csv", "--rate", "25", "--concurrency", "2"]


def test_live_batch_whose_output_closes_stops_cleanly_and_resumes(tmp_path, server):
    write_profile(tmp_path)
    _live_contacts(tmp_path)
    keys = {"TELNYX_API_KEY": API_KEY, "TELNYX_BASE_URL": server.base_url}
    done = into_closed_pipe(tmp_path, *_live(tmp_path, server), both=True, **keys)
    # Stopped like a first Ctrl-C: not finished, run again (6), nothing ambiguous.
    assert done.returncode == 6
    no_crash(tmp_path, None)
    rows = ledger_rows(tmp_path / "c.csv.ledger.db")
    assert not [r for r in rows if r["state"] in ("dialing", "unknown")]
    placed = {r["e164"] for r in rows if r["state"] == "placed"}
    assert sorted(placed) == sorted(server.numbers())  # exactly the calls the server saw
    assert next(r for r in rows if r["row_no"] == 5)["skip_kind"] == "invalid"

    again = subprocess.run(
        _argv(*_live(tmp_path, server)),
        cwd=tmp_path,
        env=_env(tmp_path, **keys),
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )
    assert again.returncode == 1, again.stderr  # finished; one row is invalid
    assert_no_secrets(again.stdout + again.stderr)
    sent = Counter(server.numbers())
    assert len(sent) == 23 and max(sent.values()) == 1
    rows = ledger_rows(tmp_path / "c.csv.ledger.db")
    assert [r["row_no"] for r in rows] == list(range(2, 26))
    assert Counter(r["state"] for r in rows) == {"placed": 23, "skipped": 1}


def test_live_batch_keeps_its_exit_code_when_stdout_closes(tmp_path, server):
    write_profile(tmp_path)
    _live_contacts(tmp_path)
    keys = {"TELNYX_API_KEY": API_KEY, "TELNYX_BASE_URL": server.base_url}
    done = into_closed_pipe(tmp_path, *_live(tmp_path, server), **keys)
    # Only the summary goes to stdout, at the end: the batch finished, and says how.
    assert done.returncode == 1, done.stderr
    assert "row 5" in done.stderr
    no_crash(tmp_path, done.stderr)
    rows = ledger_rows(tmp_path / "c.csv.ledger.db")
    assert Counter(r["state"] for r in rows) == {"placed": 23, "skipped": 1}
    assert len(server.posts) == 23


def test_run_keeps_the_outcome_code_when_its_output_closes(tmp_path):
    # The sandbox answers 500: the call may have been placed (5). A closed pipe must not turn
    # that into 141, or automation would lose "check before running again".
    args = ["--profiles-dir", str(EXAMPLE_PROFILES), "run", "appointment-reminder", "--sandbox"]
    args += ["--to", "+13125550123", "--var", "customer_name=Ada", "--var", "appointment_time=x"]
    script = tmp_path / "faults.yaml"
    script.write_text("- {status: 500}\n", encoding="utf-8")
    failed = into_closed_pipe(tmp_path, *args, "--sandbox-script", str(script), "-o", "json")
    assert failed.returncode == 5, failed.stderr
    assert "outcome unknown" in failed.stderr
    placed = into_closed_pipe(tmp_path, *args, "-o", "json")
    assert placed.returncode == 0, placed.stderr
    no_crash(tmp_path, placed.stderr)
