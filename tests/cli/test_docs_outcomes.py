"""docs/guide/outcomes.md: every ``console`` block runs as written and prints what it shows.

Each block runs in one temporary directory holding a copy of the example profiles, in order,
with bash, against a sandbox started here (as the guide says: ``callprofile sandbox`` and
``TELNYX_BASE_URL``). A ``$ `` line is a command, ``> `` lines continue it, heredoc lines up to
their end marker belong to it; the lines after it are its output (stdout and stderr together),
where a line ``...`` matches any number of lines. The guide's fixed receiver port is swapped for
a free one, so parallel runs do not collide.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from runner.sandbox import Sandbox
from tests.helpers.env import API_KEY, EXAMPLE_PROFILES, ROOT, assert_no_secrets
from tests.helpers.outcomes import free_port

GUIDE = ROOT / "docs" / "guide" / "outcomes.md"
GUIDE_PORT = "8788"
_BLOCK = re.compile(r"^```console[^\n]*\n(.*?)^```", re.S | re.M)
_HEREDOC = re.compile(r"<<-?\s*'?\"?(\w+)'?\"?")


def examples(text: str) -> list[tuple[str, list[str]]]:
    """(command, expected output lines) in the order the guide gives them."""
    found: list[tuple[str, list[str]]] = []
    for block in _BLOCK.findall(text):
        lines = block.splitlines()
        i = 0
        while i < len(lines):
            line = lines[i]
            assert line.startswith("$ "), f"output before any command: {line!r}"
            command = [line[2:]]
            i += 1
            while command[-1].endswith("\\") and i < len(lines) and lines[i].startswith("> "):
                command.append(lines[i][2:])
                i += 1
            heredoc = _HEREDOC.search(command[0])
            if heredoc:
                while i < len(lines):
                    command.append(lines[i])
                    i += 1
                    if command[-1] == heredoc.group(1):
                        break
            output = []
            while i < len(lines) and not lines[i].startswith("$ "):
                output.append(lines[i])
                i += 1
            found.append(("\n".join(command), output))
    return found


def matches(expected: list[str], actual: list[str]) -> bool:
    if not expected:
        return not actual
    if expected[0] == "...":
        return any(matches(expected[1:], actual[k:]) for k in range(len(actual) + 1))
    return bool(actual) and expected[0] == actual[0] and matches(expected[1:], actual[1:])


def test_every_console_example_in_the_outcomes_guide_runs_as_shown(tmp_path: Path):
    shutil.copytree(EXAMPLE_PROFILES, tmp_path / "profiles")
    port = str(free_port())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELNYX_", "CALLPROFILE_"))}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        TELNYX_API_KEY=API_KEY,
        NO_COLOR="1",
        COLUMNS="80",
    )
    cases = examples(GUIDE.read_text(encoding="utf-8"))
    assert len(cases) >= 5
    with Sandbox() as sandbox:
        env["TELNYX_BASE_URL"] = sandbox.base_url
        for command, expected in cases:
            done = subprocess.run(
                ["bash", "-c", command.replace(GUIDE_PORT, port)],
                cwd=tmp_path,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=120,
            )
            assert_no_secrets(done.stdout)
            want = [line.replace(GUIDE_PORT, port) for line in expected]
            assert matches(want, done.stdout.splitlines()), (command, done.stdout)
