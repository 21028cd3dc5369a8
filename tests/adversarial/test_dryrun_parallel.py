"""A dry run checked in worker processes (runner.batch.dryfan) prints exactly what one process
prints: the same stdout and stderr, byte for byte, and the same exit code, for rows of every kind
(valid, invalid cells, missing variables, templates rendered into integers, oversize values, bad
numbers, duplicates, do-not-call entries, policy skips and deferrals, secrets), and for a file
that stops being readable half-way. Ctrl-C stops it cleanly, and no worker outlives it.

The runs are subprocesses (a process running threads, like pytest's, keeps a dry run in one
process). The test hook starts the workers after 5 rows with blocks of 7 rows, so a short file
crosses many blocks, and each worker writes its pid to a file, which proves workers ran.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.helpers.env import SIP_PASSWORD, assert_no_secrets
from tests.helpers.submit import clean_env

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="workers are forked (Linux)"
)

PROFILE = """\
description: Dry-run parity profile.
connection_id: "conn-parity"
variables:
  name:
    required: true
  wait:
    default: "30"
  pw:
    default: "none-given"
call:
  From: "+13120001234"
  AIAssistantId: "assistant-parity"
  Timeout: "{{ wait }}"
  SipAuthUsername: "agent"
  SipAuthPassword: "{{ pw }}"
  AIAssistantDynamicVariables:
    name: "{{ name }}"
campaign:
  policy:
    consent: required
    purpose: telemarketing
"""

COLUMNS = ["to", "name", "wait", "pw", "consent", "consent_date", "state", "timezone"]


def _number(i: int) -> str:
    return f"+1312555{i % 10000:04d}"


def _rows(count: int, seed: int, used: list[str] | None = None) -> list[list[str]]:
    """Rows of every kind, in a seeded random mix; ``used`` gets the rows' secrets."""
    rng = random.Random(seed)
    used = used if used is not None else []
    rows = []
    for i in range(count):
        row = {
            "to": _number(i),
            "name": f"Person {i}",
            "consent": "written",
            "consent_date": "2025-01-02",
            "timezone": "Etc/GMT-2",  # inside the window (see _window)
        }
        kind = rng.randrange(16)
        if kind == 0:
            row["to"] = rng.choice(["abc", "+1312555", "", "+44 20 7946 0958x", "12"])
        elif kind == 1:
            row["name"] = ""  # a required variable missing
        elif kind == 2:
            row["wait"] = rng.choice(["45", "abc", "1e3", " 7 ", "-1", "99999999999"])
        elif kind == 3:
            row["name"] = "x" * rng.choice([100, 5_000, 20_000])  # oversize values
        elif kind == 4:
            row["to"] = _number(rng.randrange(max(1, i)))  # a duplicate of an earlier row
        elif kind == 5:
            row["to"] = _number(9000 + rng.randrange(5))  # on the do-not-call list
        elif kind == 6:
            row["consent"] = rng.choice(["", "express", "maybe"])
        elif kind == 7:
            row["consent_date"] = rng.choice(["2025-13-40", "yesterday", ""])
        elif kind == 8:
            row["state"] = rng.choice(["ZZ", "IL", "fl"])
        elif kind == 9:
            row["timezone"] = rng.choice(["UTC", "Mars/Base", ""])  # UTC: deferred
        elif kind == 10:
            row["pw"] = f"pw-secret-{i}"
            used.append(row["pw"])
        elif kind == 11 and used:
            row["name"] = rng.choice(used)  # an earlier row's secret, in a field shown
        elif kind == 12:
            row["pw"] = SIP_PASSWORD
        elif kind == 13:
            row["name"] = rng.choice(["Zoë", "名前", "tab\there", "{{ 7 * 7 }}", '"quoted"'])
        cells = [row.get(c, "") for c in COLUMNS]
        if kind == 14:
            cells.append("one cell too many")  # a row that cannot be read
        rows.append(cells)
    return rows


def _write(tmp_path: Path, rows: list[list[str]], name: str = "contacts.csv") -> Path:
    import csv

    path = tmp_path / name
    if name.endswith(".jsonl"):
        import json

        with open(path, "w", encoding="utf-8") as fh:
            for cells in rows:
                record = dict(zip(COLUMNS, cells, strict=False))
                if len(cells) > len(COLUMNS):
                    record["to"] = 12  # a number where text is expected
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        return path
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    return path


def _window() -> str:
    """A window from 90 to 210 minutes from now, UTC: a row in UTC+2 (local time now + 120
    minutes) is inside it, a row in UTC is outside, each with at least 30 minutes to spare."""
    now = datetime.now(timezone.utc)
    start, end = now + timedelta(minutes=90), now + timedelta(minutes=210)
    return f"{start:%H:%M}-{end:%H:%M}"


def _setup(tmp_path: Path) -> tuple[Path, Path]:
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "parity.yaml").write_text(PROFILE, encoding="utf-8")
    dnc = tmp_path / "dnc.txt"
    dnc.write_text("".join(f"{_number(9000 + k)}\n" for k in range(5)), encoding="utf-8")
    return profiles, dnc


def _argv(profiles: Path, contacts: Path, dnc: Path, window: str, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "runner", "--profiles-dir", str(profiles), "batch", "parity",
        "--contacts", str(contacts), "--dry-run", "--dnc", str(dnc), "--window", window, *extra,
    ]  # fmt: skip


def _run(argv: list[str], cwd: Path, hook: str | None) -> subprocess.CompletedProcess[bytes]:
    env = clean_env({"CALLPROFILE_TEST_DRY_RUN": hook} if hook else None)
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, timeout=120)


def _pids(pidfile: Path) -> list[int]:
    return [int(p) for p in pidfile.read_text().split()] if pidfile.exists() else []


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize(("seed", "name"), [(1, "c.csv"), (2, "c.csv"), (3, "c.jsonl")])
def test_workers_print_exactly_what_one_process_prints(tmp_path, seed, name):
    profiles, dnc = _setup(tmp_path)
    used: list[str] = []
    contacts = _write(tmp_path, _rows(400, seed, used), name)
    window = _window()
    pidfile = tmp_path / "pids"
    one = _run(_argv(profiles, contacts, dnc, window, "--jobs", "1"), tmp_path, "5,7")
    many = _run(_argv(profiles, contacts, dnc, window, "--jobs", "2"), tmp_path, f"5,7,{pidfile}")
    assert len(_pids(pidfile)) == 2  # two workers checked rows
    assert many.stdout == one.stdout
    assert many.stderr == one.stderr
    assert many.returncode == one.returncode == 1  # some rows are invalid
    out = one.stdout.decode("utf-8")
    err = one.stderr.decode("utf-8")
    # The mix really holds every kind of row.
    for fragment in ("duplicate", "do-not-call", "invalid", "outside the window", "would be sent"):
        assert fragment in err
    assert '"Timeout": 45' in out  # a template rendered into an integer
    if name.endswith(".csv"):
        assert "cell(s) but the header has" in err  # a row that cannot be read
    assert_no_secrets(out + err)
    assert used
    assert not [secret for secret in used if secret in out]  # hidden in later rows too
    assert not [pid for pid in _pids(pidfile) if _alive(pid)]


def test_a_file_that_breaks_half_way_is_reported_after_the_same_rows(tmp_path):
    profiles, dnc = _setup(tmp_path)
    contacts = _write(tmp_path, _rows(120, 7))
    with open(contacts, "ab") as fh:
        fh.write(b"+13125550999,Bad \xff byte,,,written,2025-01-02,,\n")
    window = _window()
    pidfile = tmp_path / "pids"
    one = _run(_argv(profiles, contacts, dnc, window, "--jobs", "1"), tmp_path, "5,7")
    many = _run(_argv(profiles, contacts, dnc, window), tmp_path, f"5,7,{pidfile}")
    assert _pids(pidfile)
    assert b"not UTF-8" in one.stderr
    assert (many.stdout, many.stderr, many.returncode) == (one.stdout, one.stderr, one.returncode)


def test_json_output_and_short_files_stay_in_one_process(tmp_path):
    profiles, dnc = _setup(tmp_path)
    contacts = _write(tmp_path, _rows(60, 4))
    window = _window()
    pidfile = tmp_path / "pids"
    hook = f"5,7,{pidfile}"
    one = _run(
        _argv(profiles, contacts, dnc, window, "--output", "json", "--jobs", "1"), tmp_path, hook
    )
    many = _run(_argv(profiles, contacts, dnc, window, "--output", "json"), tmp_path, hook)
    assert not _pids(pidfile)  # the JSON document is written from the requests themselves
    assert (many.stdout, many.returncode) == (one.stdout, one.returncode)
    short = _run(_argv(profiles, contacts, dnc, window), tmp_path, None)
    assert not _pids(pidfile)  # 60 rows: under the 2,000 a worker is started for
    assert (
        short.stdout
        == _run(_argv(profiles, contacts, dnc, window, "--jobs", "1"), tmp_path, None).stdout
    )


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_ctrl_c_stops_a_dry_run_cleanly(tmp_path, jobs):
    profiles, dnc = _setup(tmp_path)
    contacts = tmp_path / "long.csv"
    with open(contacts, "w", encoding="utf-8") as fh:
        fh.write(",".join(COLUMNS) + "\n")
        for i in range(300_000):
            fh.write(f"+1312{2_000_000 + i:07d},P {i},,,written,2025-01-02,,\n")
    pidfile = tmp_path / "pids"
    env = clean_env({"CALLPROFILE_TEST_DRY_RUN": f"5,50,{pidfile}"})
    argv = _argv(profiles, contacts, dnc, "00:00-23:59", "--jobs", jobs)
    proc = subprocess.Popen(
        argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None
    for _ in range(600):  # past the 5 rows checked before the workers start
        assert proc.stdout.readline()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    text = err.decode("utf-8")
    assert proc.returncode == 130, text
    assert "Traceback" not in text
    assert "stopped early: interrupted" in text
    assert "would be sent" in text  # the counts of the rows settled before the stop
    assert len(_pids(pidfile)) == (2 if jobs == "2" else 0)
    assert not [pid for pid in _pids(pidfile) if _alive(pid)]


def test_jobs_is_for_dry_runs_only(cli, tmp_path):
    profiles, _ = _setup(tmp_path)
    contacts = _write(tmp_path, _rows(3, 1))
    result = cli(
        "batch", "parity", "--contacts", str(contacts), "--jobs", "2", profiles_dir=profiles
    )
    assert result.exit_code == 2
    assert "--jobs applies to --dry-run only" in result.output


def test_a_worker_that_dies_loses_no_row(tmp_path):
    """A worker killed mid-run (out of memory, say): the rows it held are checked again in the
    main process, and the output is the one-process output, with one notice more."""
    profiles, dnc = _setup(tmp_path)
    contacts = _write(tmp_path, _rows(400, 5))
    with open(contacts, "a", encoding="utf-8") as fh:
        for i in range(60_000):
            fh.write(f"+1312{2_000_000 + i:07d},P {i},,,written,2025-01-02,,Etc/GMT-2\n")
    window = _window()
    one = _run(_argv(profiles, contacts, dnc, window, "--jobs", "1"), tmp_path, "5,50")
    pidfile = tmp_path / "pids"
    env = clean_env({"CALLPROFILE_TEST_DRY_RUN": f"5,50,{pidfile}"})
    argv = _argv(profiles, contacts, dnc, window, "--jobs", "2")
    proc = subprocess.Popen(
        argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stderr is not None
    errors: list[bytes] = []
    reader = threading.Thread(target=lambda: errors.append(proc.stderr.read()))  # type: ignore[union-attr]
    reader.start()
    head = b"".join(proc.stdout.readline() for _ in range(1_000))
    victim = _pids(pidfile)[0]
    os.kill(victim, signal.SIGKILL)
    out = proc.stdout.read()
    proc.wait(timeout=120)
    reader.join(timeout=120)
    err = errors[0]
    notice = b"callprofile: a worker process of the dry run ended unexpectedly"
    assert notice in err
    shown = b"".join(line for line in err.splitlines(keepends=True) if notice not in line)
    assert head + out == one.stdout
    assert shown == one.stderr
    assert proc.returncode == one.returncode == 1
    assert not [pid for pid in _pids(pidfile) if _alive(pid)]


@pytest.mark.parametrize("hook", ["abc", "5", ",", "5,x,/dev/null", "\u00e9,7"])
def test_a_malformed_test_hook_leaves_the_dry_run_as_it_is(tmp_path, hook):
    """The environment is input too: a value the tests would never set changes nothing."""
    profiles, dnc = _setup(tmp_path)
    contacts = _write(tmp_path, _rows(60, 5))
    window = _window()
    plain = _run(_argv(profiles, contacts, dnc, window), tmp_path, None)
    odd = _run(_argv(profiles, contacts, dnc, window), tmp_path, hook)
    assert (odd.stdout, odd.stderr, odd.returncode) == (plain.stdout, plain.stderr, 1)
