"""The ``callprofile`` executable.

``callprofile --help`` is the first thing a new user runs and what shell completion and scripts
call most, yet importing click alone costs about 3.5 times a bare interpreter's start. So the
top-level help is printed here without click, in click's exact layout (a test compares the two
byte for byte), and every other invocation goes to :func:`runner.cli.main.main`.

The command list is read from ``COMMANDS`` in ``runner/cli/main.py`` (parsed, not imported, since
importing it imports click), so adding a command there needs no change here.
"""

from __future__ import annotations

import os
import sys

HELP_FLAGS = (["--help"], ["-h"])
WIDTH = 78  # click: min(terminal columns, 80) - 2
HEAD = """\
Usage: callprofile [OPTIONS] COMMAND [ARGS]...

  Place Telnyx AI calls from named, version-controlled YAML profiles.

Options:
  --version                 Show the version and exit.
  --profiles-dir DIRECTORY  Directory holding the profiles (env:
                            CALLPROFILE_DIR).  [default: profiles]
  --no-color                Never colour the output (also: NO_COLOR set, or
                            output not a terminal).
  -h, --help                Show this message and exit.
"""


def main() -> None:
    try:
        try:
            _dispatch()
        finally:
            # Flush here, not at interpreter exit, so a closed pipe is caught below instead
            # of printing "Exception ignored ... BrokenPipeError" and exiting 120.
            sys.stdout.flush()
    except BrokenPipeError:
        from runner.cli.pipes import closed

        closed()


def _dispatch() -> None:
    if sys.argv[1:] in HELP_FLAGS and _columns() >= 80:
        text = fast_help()
        if text is not None:
            sys.stdout.write(text)
            return
    from runner.cli.main import main as full

    full()


def _columns() -> int:
    """Terminal width as click finds it (shutil.get_terminal_size, without importing shutil)."""
    try:
        columns = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            stdout = sys.__stdout__
            columns = os.get_terminal_size(stdout.fileno()).columns if stdout else 0
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns if columns > 0 else 80


def commands() -> dict[str, tuple[str, str, str]] | None:
    """``COMMANDS`` from runner/cli/main.py, or None when it cannot be read as a literal."""
    import ast

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "main.py")
    try:
        with open(path, encoding="utf-8") as fh:
            tree = ast.parse(fh.read(), path)
        for node in tree.body:
            if isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(isinstance(t, ast.Name) and t.id == "COMMANDS" for t in targets):
                    value = ast.literal_eval(node.value)  # type: ignore[arg-type]
                    return value if isinstance(value, dict) else None
    except (OSError, SyntaxError, ValueError):
        return None
    return None


def fast_help() -> str | None:
    """The root help text as click prints it at 80 columns, or None to let click print it."""
    found = commands()
    if not found:
        return None
    import textwrap

    names = sorted(found)
    first = min(max(len(n) for n in names), 30) + 2
    lines = [HEAD, "\nCommands:\n"]
    for name in names:
        wrapped = textwrap.wrap(found[name][2], max(WIDTH - first - 2, 10)) or [""]
        if len(name) <= first - 2:
            lines.append(f"  {name}{' ' * (first - len(name))}{wrapped[0]}\n")
        else:
            lines.append(f"  {name}\n{' ' * (first + 2)}{wrapped[0]}\n")
        lines.extend(f"{' ' * (first + 2)}{line}\n" for line in wrapped[1:])
    return "".join(lines)
