"""A batch's ledger, lock and repeat guard follow the files, not their spellings (issue 10, Weak
"symlink or copy", "--report", "non-geographic numbers"; Broken 6 "--min-interval 800000d").
What reached the server is read from the sandbox's log."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from tests.helpers.batch import ledger_rows, many, number, states, write_contacts, write_profile
from tests.helpers.env import API_KEY, ROOT

FAST = ("--rate", "1000", "--concurrency", "4")
WAIT = 60  # seconds: only a bound for a hung test, never a pause


@pytest.fixture
def env(tmp_path, monkeypatch, server):
    monkeypatch.setenv("TELNYX_API_KEY", API_KEY)
    monkeypatch.setenv("TELNYX_BASE_URL", server.base_url)
    return write_profile(tmp_path)


def batch(cli, profiles, contacts, *args):
    return cli("batch", "remind", "--contacts", str(contacts), *FAST, *args, profiles_dir=profiles)


def test_contacts_reached_through_a_symlink_resume_the_same_ledger(cli, env, server, tmp_path):
    contacts = write_contacts(tmp_path / "c.csv", many(5))
    assert batch(cli, env, contacts).exit_code == 0
    assert len(server.posts) == 5
    (tmp_path / "link.csv").symlink_to(contacts)
    again = batch(cli, env, tmp_path / "link.csv")
    assert again.exit_code == 0, again.stderr
    assert "resuming batch" in again.stderr
    assert len(server.posts) == 5  # nobody was called again
    assert not (tmp_path / "link.csv.ledger.db").exists()


def test_a_copy_of_the_contacts_elsewhere_is_stopped_by_the_repeat_guard(
    cli, env, server, tmp_path
):
    contacts = write_contacts(tmp_path / "c.csv", many(5))
    assert batch(cli, env, contacts).exit_code == 0
    (tmp_path / "elsewhere").mkdir()
    copy = tmp_path / "elsewhere" / "today.csv"
    shutil.copy(contacts, copy)
    again = batch(cli, env, copy)
    assert again.exit_code == 0, again.stderr
    assert len(server.posts) == 5  # every number was placed within --min-interval
    assert states(tmp_path / "elsewhere" / "today.csv.ledger.db") == {"skipped": 5}
    assert "repeat: a call to this number was placed" in again.stderr
    assert "by profile remind" in again.stderr
    # A larger file (another batch) with one new number calls only that one.
    write_contacts(tmp_path / "more.csv", many(6))
    more = batch(cli, env, tmp_path / "more.csv", "--ledger", str(tmp_path / "other.db"))
    assert more.exit_code == 0, more.stderr
    assert server.numbers()[5:] == [number(5)]
    # With the guard off, the copy is called: the guard, not the ledger, stopped it.
    copy2 = tmp_path / "elsewhere" / "again.csv"
    shutil.copy(contacts, copy2)
    assert batch(cli, env, copy2, "--min-interval", "0").exit_code == 0
    assert len(server.posts) == 11


def test_the_same_ledger_through_a_symlink_is_one_lock(tmp_path, server):
    """A second process on the same batch through another spelling of the ledger is refused
    while the first holds its POST."""
    profiles = write_profile(tmp_path)
    write_contacts(tmp_path / "c.csv", many(3))
    (tmp_path / "l").mkdir()
    (tmp_path / "l" / "link.db").symlink_to(tmp_path / "c.csv.ledger.db")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELNYX_", "CALLPROFILE_"))}
    env.update(TELNYX_API_KEY=API_KEY, TELNYX_BASE_URL=server.base_url, PYTHONPATH=str(ROOT))
    argv = [sys.executable, "-m", "runner", "--profiles-dir", str(profiles), "batch", "remind"]
    argv += ["--contacts", "c.csv", *FAST]
    reached, release = server.hold_at(1)
    first = subprocess.Popen(argv, cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert reached.wait(WAIT)
        second = subprocess.run(
            [*argv, "--ledger", "l/link.db"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=WAIT,
        )
    finally:
        release.set()
        first.wait(WAIT)
    assert second.returncode == 6, second.stderr
    assert "already running" in second.stderr and "IntegrityError" not in second.stderr
    assert first.returncode == 0
    assert sorted(server.numbers()) == [number(i) for i in range(3)]


def test_an_output_path_that_is_an_input_is_refused(cli, env, server, tmp_path):
    contacts = write_contacts(tmp_path / "c.csv", many(2))
    before = contacts.read_bytes()
    (tmp_path / "alias.csv").symlink_to(contacts)
    dnc = tmp_path / "dnc.txt"
    dnc.write_text(number(9) + "\n", encoding="utf-8")
    cases = [
        ("--report", str(contacts), "--contacts"),
        ("--report", str(tmp_path / "alias.csv"), "--contacts"),
        ("--report", str(tmp_path / "." / "dnc.txt"), "--dnc"),
        ("--report", str(env / "remind.yaml"), "the profile remind"),
        ("--ledger", str(contacts), "--contacts"),
    ]
    for flag, path, words in cases:
        result = batch(cli, env, contacts, "--dnc", str(dnc), flag, path)
        assert result.exit_code == 2, (flag, path, result.stderr)
        assert words in result.stderr and "nothing was" in result.stderr, result.stderr
    assert contacts.read_bytes() == before
    assert server.posts == []
    # The report may not replace the ledger either, in batch or batch-status.
    assert batch(cli, env, contacts).exit_code == 0
    ledger = tmp_path / "c.csv.ledger.db"
    result = batch(cli, env, contacts, "--report", str(ledger))
    assert result.exit_code == 2 and "the ledger" in result.stderr
    status = cli("batch-status", "--ledger", str(ledger), "--report", f"{ledger}-wal")
    assert status.exit_code == 2, status.stderr
    assert {r["state"] for r in ledger_rows(ledger)} == {"placed"}


def test_run_sandbox_log_may_not_overwrite_a_profile(cli, profiles):
    target = profiles / "appointment-reminder.yaml"
    before = target.read_bytes()
    result = cli(
        "run",
        "appointment-reminder",
        "--sandbox",
        "--sandbox-log",
        str(target),
        "--to",
        "+13125550123",
        "--var",
        "customer_name=Ada",
        "--var",
        "appointment_time=noon",
        profiles_dir=profiles,
    )
    assert result.exit_code == 2 and "--sandbox-log" in result.stderr
    assert target.read_bytes() == before


def test_a_min_interval_too_long_to_compute_is_a_usage_error(cli, env, tmp_path):
    contacts = write_contacts(tmp_path / "c.csv", many(1))
    for text in ("800000d", "9" * 400 + "d"):
        result = batch(cli, env, contacts, "--min-interval", text, "--dry-run")
        assert result.exit_code == 2, result.stderr
        assert "--min-interval" in result.stderr and "internal error" not in result.stderr


def test_numbers_without_a_zone_are_reported_not_deferred_forever(cli, env, server, tmp_path):
    rows = [
        {"to": "+18005550123", "name": "toll-free"},
        {"to": "+80012345678", "name": "global freephone"},
        {"to": "+18885550123", "name": "with zone", "timezone": "America/Chicago"},
        {"to": "+61412345678", "name": "eight zones"},
        {"to": number(1), "name": "chicago"},
    ]
    contacts = write_contacts(tmp_path / "c.csv", rows)
    # The whole day but one minute: every ordinary number is callable at almost any time.
    window = ("--window", "00:00-23:59")
    dry = batch(cli, env, contacts, *window, "--dry-run")
    assert dry.exit_code == 1, dry.stderr
    assert "c.csv row 2" in dry.stderr and "toll-free number has no time zone" in dry.stderr
    assert "c.csv row 3" in dry.stderr and "global service number" in dry.stderr
    result = batch(cli, env, contacts, *window)
    again = batch(cli, env, contacts, *window)
    for run in (result, again):
        assert run.exit_code in (1, 6), run.stderr  # 6 only if run in the one closed minute
    if result.exit_code == 1:
        assert sorted(server.numbers()) == sorted(["+18885550123", "+61412345678", number(1)])
        assert again.exit_code == 1 and len(server.posts) == 3  # finished, not deferred
    rows_now = {r["row_no"]: r for r in ledger_rows(tmp_path / "c.csv.ledger.db")}
    assert rows_now[2]["state"] == rows_now[3]["state"] == "skipped"
    assert rows_now[2]["skip_kind"] == "invalid"  # the contacts file needs a fix: exit 1
    assert "add a timezone column" in rows_now[2]["reason"]


def test_zones_never_inside_the_window_together_are_reported(cli, env, tmp_path):
    """Alaska's 907 is both Anchorage and Adak time, an hour apart: a 30-minute window is never
    open in both at once, so waiting would never help."""
    contacts = write_contacts(tmp_path / "c.csv", [{"to": "+19075550188", "name": "ak"}])
    dry = batch(cli, env, contacts, "--window", "09:00-09:30", "--dry-run")
    assert dry.exit_code == 1, dry.stderr
    assert "2 possible time zones" in dry.stderr and "never all inside" in dry.stderr
    wide = batch(cli, env, contacts, "--window", "00:00-23:59", "--dry-run")
    assert wide.exit_code == 0 or "outside the window now" in wide.stderr


def _file_size_limit(limit: int):
    def apply() -> None:
        import resource
        import signal

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_FSIZE")
def test_a_full_disk_under_the_ledger_stops_cleanly_and_calls_no_one_twice(tmp_path, server):
    """The file size limit makes every write past 500 KB fail as a full disk would."""
    profiles = write_profile(tmp_path)
    write_contacts(tmp_path / "c.csv", many(200))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELNYX_", "CALLPROFILE_"))}
    env.update(TELNYX_API_KEY=API_KEY, TELNYX_BASE_URL=server.base_url, PYTHONPATH=str(ROOT))
    argv = [sys.executable, "-m", "runner", "--profiles-dir", str(profiles), "batch", "remind"]
    argv += ["--contacts", "c.csv", *FAST]
    full = subprocess.run(
        argv,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=WAIT,
        preexec_fn=_file_size_limit(500_000),
    )
    assert full.returncode in (5, 6), full.stderr
    assert "internal error" not in full.stderr and "Traceback" not in full.stderr
    assert "cannot write the ledger" in full.stderr or "journal" in full.stderr, full.stderr
    assert 0 < len(server.posts) < 200  # it stopped part way

    again = subprocess.run(
        argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=WAIT
    )
    assert again.returncode in (0, 5), again.stderr
    numbers = server.numbers()
    assert len(numbers) == len(set(numbers))  # nobody was called twice
    rows = ledger_rows(tmp_path / "c.csv.ledger.db")
    assert len(rows) == 200
    assert {r["state"] for r in rows} <= {"placed", "unknown"}
    for row in rows:
        if row["state"] == "placed":
            assert row["e164"] in numbers
