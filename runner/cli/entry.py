"""The ``callprofile`` executable.

``callprofile --help`` is the first thing a new user runs and what shell completion and scripts
call most, yet importing click alone costs about 3.5 times a bare interpreter's start. So the
top-level help is printed here without click, in click's exact layout (a test compares the two
byte for byte), and the commonest ``render`` and ``run --dry-run`` command lines go through
:mod:`runner.cli.fastpath`; every other invocation goes to :func:`runner.cli.main.main`.

The command list is ``COMMANDS`` in ``runner/cli/commands.py``, a module that imports nothing,
so adding a command there needs no change here.
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
    args = sys.argv[1:]
    if args in HELP_FLAGS and _columns() >= 80:
        text = fast_help()
        if text is not None:
            sys.stdout.write(text)
            return
    if args[:1] != ["--help"]:
        from runner.cli.fastpath import answer

        if answer(args):
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
    """The command table (a function, so a test can offer a longer one)."""
    from runner.cli.commands import COMMANDS

    return COMMANDS


def _wrap(text: str, width: int) -> list[str]:
    """``textwrap.wrap(text, width)``; a help that already fits on one line is the common case
    and is answered without importing textwrap (and the regular expressions it compiles)."""
    if len(text) <= width and text == text.strip() and text.isprintable():
        return [text] if text else []
    import textwrap

    return textwrap.wrap(text, width)


def fast_help() -> str | None:
    """The root help text as click prints it at 80 columns, or None to let click print it."""
    found = commands()
    if not found:
        return None
    names = sorted(found)
    first = min(max(len(n) for n in names), 30) + 2
    lines = [HEAD, "\nCommands:\n"]
    for name in names:
        wrapped = _wrap(found[name][2], max(WIDTH - first - 2, 10)) or [""]
        if len(name) <= first - 2:
            lines.append(f"  {name}{' ' * (first - len(name))}{wrapped[0]}\n")
        else:
            lines.append(f"  {name}\n{' ' * (first + 2)}{wrapped[0]}\n")
        lines.extend(f"{' ' * (first + 2)}{line}\n" for line in wrapped[1:])
    return "".join(lines)
