"""Read the `console` examples out of Markdown files, run them, and compare what they print.

The format (documented in CONTRIBUTING.md, "Examples in the docs are tests"):

- a fenced block whose info string starts with ``console`` is an example; any other block is
  not. Blocks of one file whose info strings carry the same ``session=NAME`` run as one example,
  in one shell, in file order (a tutorial split by prose); every other block runs alone;
- a line starting with ``$ `` is a command; a trailing ``\\`` continues it on the next line, and a
  here-document (``<<'EOF'`` ... ``EOF``) takes the lines up to its terminator;
- the lines after a command, up to the next command, are its expected output (stdout and stderr
  together, as a terminal shows them);
- ``...`` alone on a line matches any number of lines (none included);
- ``…`` (one character, U+2026) inside a line matches any text within that line;
- ``[exit N]`` as the last expected line says the command exits N; without it, 0 is expected.

Trailing whitespace and trailing blank lines are not compared.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ANY_LINES = "..."
ANY_TEXT = "…"
FENCE = re.compile(r"^( {0,3})(`{3,}|~{3,})\s*([^`]*)$")
EXIT = re.compile(r"^\[exit (\d+)\]$")
HEREDOC = re.compile(r"<<(-?)\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\2")


@dataclass
class Step:
    command: str
    line: int  # where the command starts in the Markdown file (1-based)
    expected: list[str] = field(default_factory=list)
    exit_code: int = 0


@dataclass
class Example:
    path: str  # relative to the repository root, with forward slashes
    line: int  # the opening fence
    steps: list[Step]

    @property
    def name(self) -> str:
        return f"{self.path}:{self.line}"


class ExampleSyntaxError(ValueError):
    pass


def fenced_blocks(text: str) -> list[tuple[int, str, list[str]]]:
    """(line of the opening fence, info string, content lines) for every fenced block."""
    blocks: list[tuple[int, str, list[str]]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opened = FENCE.match(lines[i])
        if not opened:
            i += 1
            continue
        indent, fence, info = len(opened.group(1)), opened.group(2), opened.group(3).strip()
        closing = re.compile(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        start, body = i + 1, []
        i += 1
        while i < len(lines) and not closing.match(lines[i]):
            line = lines[i]
            body.append(line[min(indent, len(line) - len(line.lstrip(" "))) :])
            i += 1
        blocks.append((start, info, body))
        i += 1  # the closing fence (or the end of the file)
    return blocks


def parse_console(lines: list[str], first_line: int) -> list[Step]:
    """The steps of one console block; ``first_line`` is the file line of ``lines[0]``."""
    steps: list[Step] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.startswith("$ "):
            if not steps:
                if not line.strip():
                    i += 1
                    continue
                raise ExampleSyntaxError(
                    f"line {first_line + i}: a console example starts with a '$ ' command"
                )
            steps[-1].expected.append(line)
            i += 1
            continue
        start = i
        command = [line[2:]]
        while command[-1].endswith("\\") and i + 1 < len(lines):
            i += 1
            command.append(lines[i])
        heredoc = HEREDOC.search("\n".join(command))
        if heredoc:
            strip_tabs, terminator = heredoc.group(1) == "-", heredoc.group(3)
            while True:
                i += 1
                if i >= len(lines):
                    raise ExampleSyntaxError(
                        f"line {first_line + start}: here-document without its {terminator} line"
                    )
                command.append(lines[i])
                if (lines[i].lstrip("\t") if strip_tabs else lines[i]) == terminator:
                    break
        steps.append(Step(command="\n".join(command), line=first_line + start))
        i += 1
    for step in steps:
        _take_exit_code(step)
    if not steps:
        raise ExampleSyntaxError(f"line {first_line}: a console block without a command")
    return steps


def _take_exit_code(step: Step) -> None:
    lines = _trim(step.expected)
    if lines:
        marked = EXIT.match(lines[-1].strip())
        if marked:
            step.exit_code = int(marked.group(1))
            lines = _trim(lines[:-1])
    step.expected = lines


def _trim(lines: list[str]) -> list[str]:
    out = [line.rstrip() for line in lines]
    while out and not out[-1]:
        out.pop()
    return out


def _drop_blank_tail(lines: list[str]) -> list[str]:
    out = list(lines)
    while out and not out[-1].strip():
        out.pop()
    return out


def examples_in(path: Path, root: Path) -> list[Example]:
    """The examples of one file: each ``console`` block, except that blocks sharing a
    ``session=NAME`` in their info string run together, as one example, in file order."""
    relative = path.relative_to(root).as_posix()
    found: list[Example] = []
    sessions: dict[str, Example] = {}
    for line, info, body in fenced_blocks(path.read_text(encoding="utf-8")):
        words = info.split()
        if not words or words[0] != "console":
            continue
        try:
            steps = parse_console(body, line + 1)
        except ExampleSyntaxError as exc:
            raise ExampleSyntaxError(f"{relative}: {exc}") from None
        session = next((w[len("session=") :] for w in words[1:] if w.startswith("session=")), None)
        if session is not None and session in sessions:
            sessions[session].steps.extend(steps)
            continue
        example = Example(relative, line, steps)
        found.append(example)
        if session is not None:
            sessions[session] = example
    return found


def line_pattern(expected: str) -> re.Pattern[str]:
    parts = expected.rstrip().split(ANY_TEXT)
    return re.compile(".*".join(re.escape(part) for part in parts) + r"\s*", re.DOTALL)


def matches(expected: list[str], actual: list[str]) -> bool:
    """Whether ``actual`` has the shape of ``expected`` (``...`` lines and ``…`` inside lines)."""
    expected, actual = _trim(expected), _drop_blank_tail(actual)
    patterns = [None if e.strip() == ANY_LINES else line_pattern(e) for e in expected]
    memo: dict[tuple[int, int], bool] = {}

    def match(i: int, j: int) -> bool:
        key = (i, j)
        if key not in memo:
            if i == len(patterns):
                memo[key] = j == len(actual)
            elif patterns[i] is None:
                memo[key] = match(i + 1, j) or (j < len(actual) and match(i, j + 1))
            else:
                pattern = patterns[i]
                assert pattern is not None
                memo[key] = (
                    j < len(actual) and pattern.fullmatch(actual[j]) is not None
                ) and match(i + 1, j + 1)
        return memo[key]

    return match(0, 0)


@dataclass
class Outcome:
    step: Step
    output: list[str]
    exit_code: int | None  # None: the block stopped before this step ran


def callprofile_bin(shims: Path) -> Path:
    """A directory whose ``callprofile`` is the installed entry point of this interpreter's
    environment (the venv's script), else a shim running ``python -m runner``."""
    here = Path(sys.executable).parent
    if (here / "callprofile").is_file() and os.access(here / "callprofile", os.X_OK):
        return here
    shims.mkdir(parents=True, exist_ok=True)
    shim = shims / "callprofile"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m runner "$@"\n', encoding="utf-8")
    shim.chmod(0o755)
    return shims


def clean_env(home: Path, bin_dir: Path) -> dict[str, str]:
    """Nothing of the developer's: no TELNYX_*, no CALLPROFILE_*, no colour, a fixed width."""
    path = os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")
    # This interpreter's directory next: an example's python3 can import callprofile.
    here = Path(sys.executable).parent
    return {
        "PATH": os.pathsep.join(dict.fromkeys([str(bin_dir), str(here), path])),
        "HOME": str(home),
        # Crash logs land here, where the docs test looks for them.
        "XDG_STATE_HOME": str(home / "state"),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TZ": "UTC",
        "TERM": "dumb",
        "COLUMNS": "80",
        "LINES": "24",
        # Unbuffered, so stdout and stderr interleave in the order a terminal shows them.
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "Docs Example",
        "GIT_AUTHOR_EMAIL": "docs@example.com",
        "GIT_COMMITTER_NAME": "Docs Example",
        "GIT_COMMITTER_EMAIL": "docs@example.com",
    }


def run_example(example: Example, tmp: Path, profiles: Path, timeout: float = 180) -> list[Outcome]:
    """Run the steps in order, in one bash, in ``tmp/work`` holding a copy of ``profiles``.
    ``HOME`` is ``tmp/home``; crash logs go to ``crash_logs(tmp)``."""
    work, out, home = tmp / "work", tmp / "out", tmp / "home"
    shutil.copytree(profiles, work / "profiles")
    out.mkdir()
    home.mkdir()
    script = ["cd " + _quote(str(work))]
    for n, step in enumerate(example.steps):
        rc = _quote(str(out / f"{n}.rc"))
        # The trap records the code of a command that ends the shell (exit); later steps then
        # do not run, as in a terminal.
        script.append(
            f"trap 'echo $? >{rc}' EXIT\n"
            f"{{\n{step.command}\n}} >{_quote(str(out / f'{n}.txt'))} 2>&1 </dev/null\n"
            f"echo $? >{rc}\ntrap - EXIT"
        )
    env = clean_env(home, callprofile_bin(tmp / "bin"))
    process = subprocess.Popen(
        ["bash", "--noprofile", "--norc", "-c", "\n".join(script)],
        cwd=work,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass
    finally:
        # Background jobs an example started (a sandbox server) end with the example.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    outcomes = []
    for n, step in enumerate(example.steps):
        rc_file = out / f"{n}.rc"
        text_file = out / f"{n}.txt"
        # Bytes, not read_text: universal newlines would turn a stray \r into a line break.
        raw = text_file.read_bytes() if text_file.exists() else b""
        text = raw.decode("utf-8", errors="replace")
        rc = int(rc_file.read_text().strip()) if rc_file.exists() else None
        # Split on newlines only: a stray carriage return stays visible inside its line.
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        outcomes.append(Outcome(step, lines, rc))
    return outcomes


def crash_logs(tmp: Path) -> list[Path]:
    """Crash logs the commands of an example wrote (an internal error, even one a pipe hid)."""
    return sorted((tmp / "home" / "state").glob("callprofile/crash-*.log"))


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def mismatch(example: Example, outcome: Outcome) -> str | None:
    """A readable account of how one step differs from its example, or None when it does not."""
    step = outcome.step
    if outcome.exit_code == step.exit_code and matches(step.expected, outcome.output):
        return None
    where = f"{example.path}:{step.line}"
    ran = "did not finish" if outcome.exit_code is None else f"exit {outcome.exit_code}"
    return "\n".join(
        [
            f"{where}: the example does not match what the program printed",
            "command:",
            *("    " + line for line in step.command.splitlines()),
            f"expected (exit {step.exit_code}):",
            *("    " + line for line in step.expected),
            f"actual ({ran}):",
            *("    " + _visible(line) for line in outcome.output),
        ]
    )


def _visible(line: str) -> str:
    """Control characters as escapes, so a stray \\r or escape sequence shows in a report."""
    return "".join(c if c == "\t" or ord(c) >= 32 else f"\\x{ord(c):02x}" for c in line)
