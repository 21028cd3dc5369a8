"""A terminal a person enjoys (issue 9, items 10-12): colour on a terminal only (never with
NO_COLOR, --no-color, or into a pipe), explain fits the terminal's width without cutting a
location, and the batch progress shows the current rate and an ETA.

Terminal tests run callprofile in a pseudo-terminal (``pty``), so stdout and stderr really are
TTYs; the output is read until the child closes its end, never by waiting a fixed time.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.helpers.core import make_profiles
from tests.helpers.env import EXAMPLE_PROFILES, ROOT
from tests.helpers.gitrepo import make_repo

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX pseudo-terminals")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
WAIT = 120
RUNNABLE = 'connection_id: "c"\ncall:\n  From: "+13125550100"\n  AIAssistantId: "a"\n'
BROKEN = {"x": RUNNABLE + "  Timeout: soon\n", "y": RUNNABLE + "  RecordingChannels: dual\n"}


def in_terminal(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run callprofile with stdout and stderr on a pseudo-terminal; (exit code, output)."""
    import pty

    master, slave = pty.openpty()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TELNYX_", "CALLPROFILE"))}
    base.pop("NO_COLOR", None)
    base.update(PYTHONPATH=str(ROOT), TERM="xterm", **(env or {}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "runner", *args],
        cwd=cwd,
        env=base,
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
    )
    os.close(slave)
    chunks: list[bytes] = []

    def read() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    code = proc.wait(WAIT)
    reader.join(WAIT)
    os.close(master)
    return code, b"".join(chunks).decode("utf-8", "replace")


def test_validate_colours_severity_and_location_on_a_terminal(tmp_path):
    root = make_profiles(tmp_path / "profiles", BROKEN)
    code, out = in_terminal(["--profiles-dir", str(root), "validate"], tmp_path)
    assert code == 1
    assert "\x1b[1mprofiles/x.yaml:5:12\x1b[0m" in out  # the location, bold
    assert "\x1b[31m\x1b[1merror\x1b[0m" in out  # the severity, red
    assert "\x1b[33m\x1b[1mwarning\x1b[0m" in out
    assert "expected an integer" in ANSI.sub("", out)


@pytest.mark.parametrize(
    ("argv", "env"),
    [
        (["validate", "--no-color"], {}),
        (["--no-color", "validate"], {}),
        (["validate"], {"NO_COLOR": "1"}),
    ],
    ids=["--no-color-after", "--no-color-before", "NO_COLOR"],
)
def test_colour_is_off_when_asked(tmp_path, argv, env):
    root = make_profiles(tmp_path / "profiles", BROKEN)
    code, out = in_terminal(["--profiles-dir", str(root), *argv], tmp_path, env)
    assert code == 1
    assert "profiles/x.yaml:5:12: error:" in out
    assert "\x1b[" not in out


def test_no_colour_into_a_pipe(tmp_path):
    root = make_profiles(tmp_path / "profiles", BROKEN)
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-m", "runner", "--profiles-dir", str(root), "validate"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )
    assert done.returncode == 1
    assert "\x1b[" not in done.stdout + done.stderr


def test_diff_colours_added_removed_and_changed(tmp_path, monkeypatch):
    repo = make_repo(tmp_path, monkeypatch)
    head = 'connection_id: "c"\ncall:\n  From: "+13125550100"\n  AIAssistantId: "a"\n'
    repo.write("profiles/x.yaml", head + "  Timeout: 25\n  TimeLimit: 60\n")
    repo.commit("first")
    repo.write("profiles/x.yaml", head + "  Timeout: 30\n  Record: true\n")
    env = {"GIT_CONFIG_GLOBAL": os.environ["GIT_CONFIG_GLOBAL"], "GIT_CONFIG_NOSYSTEM": "1"}
    code, out = in_terminal(["diff"], repo.root, env)
    assert code == 0, out
    assert "\x1b[33m~ Timeout: 25 -> 30\x1b[0m" in out
    assert "\x1b[32m+ Record: true\x1b[0m" in out
    assert "\x1b[31m- TimeLimit: 60\x1b[0m" in out
    code, plain = in_terminal(["diff", "--no-color"], repo.root, env)
    assert "  ~ Timeout: 25 -> 30" in plain and "\x1b[" not in plain


# --- explain fits the terminal ---------------------------------------------------------------

EXPLAIN = (
    "explain", "sales/followup", "--set", "DetectionMode=Premium", "--to", "+13125550123",
    "--var", "customer_name=Grace",
)  # fmt: skip


def _whole(cli) -> tuple[set[str], set[str]]:
    """The locations and the field names explain prints (never cut)."""
    doc = json.loads(cli(*EXPLAIN, "-o", "json", profiles_dir=EXAMPLE_PROFILES).stdout)
    found = set()
    for f in doc["fields"]:
        found.add(f["set_by"])
        found.update(o["set_by"] for o in f["overrode"])
    return {w for w in found if ".yaml:" in w}, {f["field"] for f in doc["fields"]}


@pytest.mark.parametrize("columns", [100, 80, 60, 40])
def test_explain_fits_the_terminal_and_keeps_every_location_whole(cli, tmp_path, columns):
    args = ["--profiles-dir", str(EXAMPLE_PROFILES), *EXPLAIN]
    code, out = in_terminal(args, tmp_path, {"COLUMNS": str(columns)})
    assert code == 0, out
    lines = [line.rstrip("\r") for line in out.splitlines() if not line.startswith("note:")]
    locations, fields = _whole(cli)
    assert locations
    for line in lines:
        shown = [w for w in locations if w in line]
        # A line is within the width unless a whole location or field name alone needs more.
        assert len(line) <= columns or shown or line in fields, (columns, line)
    for where in locations:
        assert where in out, where
    assert '"Premium"' in out


def test_explain_in_a_real_terminal_fits_its_width(tmp_path):
    code, out = in_terminal(
        ["--profiles-dir", str(EXAMPLE_PROFILES), *EXPLAIN], tmp_path, {"COLUMNS": "90"}
    )
    assert code == 0
    assert max(len(line.rstrip("\r")) for line in out.splitlines()) <= 90


def test_explain_into_a_file_or_pipe_keeps_full_rows(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")  # exported, as some environments do: not a terminal
    result = cli(*EXPLAIN, profiles_dir=EXAMPLE_PROFILES)
    assert result.stdout.splitlines()[0].split() == ["FIELD", "VALUE", "SET", "BY", "OVERRODE"]


# --- batch progress: rate and ETA ------------------------------------------------------------


def test_batch_progress_bar_shows_rate_and_eta_on_a_terminal(tmp_path):
    from tests.helpers.batch import many, write_contacts, write_profile

    profiles = write_profile(tmp_path)
    write_contacts(tmp_path / "c.csv", many(30))
    args = ["--profiles-dir", str(profiles), "batch", "remind", "--contacts", "c.csv"]
    code, out = in_terminal([*args, "--sandbox", "--rate", "25"], tmp_path)
    assert code == 0, out
    assert "calling" in out
    assert re.search(r"placed \d+ failed 0 .* \d+\.\d/s eta (\d+s|\d+m\d\ds|\?)", out), out


def test_batch_progress_lines_show_rate_and_eta_off_a_terminal(cli, tmp_path, monkeypatch):
    from runner.cli import batch_view
    from tests.helpers.batch import many, write_contacts, write_profile

    monkeypatch.setattr(batch_view, "PLAIN_EVERY", 0.0)
    profiles = write_profile(tmp_path)
    contacts = write_contacts(tmp_path / "c.csv", many(5))
    result = cli("batch", "remind", "--contacts", str(contacts), "--sandbox", profiles_dir=profiles)
    assert result.exit_code == 0, result.stderr
    lines = [x for x in result.stderr.splitlines() if x.startswith("progress: ")]
    assert lines[-1].startswith("progress: 5/5 rows done, placed 5 failed 0")
    assert lines[-1].endswith(" eta 0s")
    assert all(re.search(r" \d+\.\d/s eta ", x) for x in lines)
