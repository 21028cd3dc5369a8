"""A reader that goes away (``callprofile list | head -1``) is a normal Unix event, not a bug.

The pattern the Python documentation recommends: on ``BrokenPipeError``, point the standard
streams at /dev/null (so nothing else, not even the interpreter's final flush, fails again) and
exit quietly. The exit status is 141 (128 + SIGPIPE), what a shell reports for any other Unix
tool stopped the same way, so ``set -o pipefail`` scripts see the same as for ``cat``, and a
check cut short by a pipe never reads as a success.

Commands that act (``run``, a live ``batch``) record the exit code of what they did before they
print it: that code is kept, since "the call may have been placed" (5) must never be lost.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import NoReturn

EXIT_CLOSED = 141  # 128 + SIGPIPE (13)

_outcome: int | None = None


def settled(code: int) -> None:
    """Record the exit code of what the command did; a closed pipe then exits with it."""
    global _outcome
    _outcome = int(code)


def outcome() -> int | None:
    return _outcome


def silence() -> None:
    """Send everything still to be written to stdout and stderr to /dev/null."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        return
    try:
        for stream in (sys.__stdout__, sys.__stderr__, sys.stdout, sys.stderr):
            try:
                fd = stream.fileno() if stream is not None else -1
            except (AttributeError, ValueError, OSError):
                continue  # not a real file (a test runner's buffer)
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def exit_code() -> int:
    return _outcome if _outcome is not None else EXIT_CLOSED


def closed() -> NoReturn:
    """Leave quietly after a closed pipe."""
    silence()
    raise SystemExit(exit_code())
