"""Crash logs: the traceback of a bug, with nothing secret in it, readable only by the user.

The command line is logged with the values of flags that can carry secrets or personal data
masked (``--set``/``--set-json`` for a field that is secret or unknown, every ``--var``), and the
whole text is scrubbed of every known secret in every encoding (runner.secrets). Arguments that
are not UTF-8 are written with escapes: the crash handler must never crash itself.
"""

from __future__ import annotations

import os
import sys
import time

MASKED = "***"
_VALUE_FLAGS = ("--set", "--set-json", "--var")


def mask_argv(argv: list[str]) -> tuple[list[str], list[str]]:
    """``argv`` with the values of secret-carrying flags replaced by ``***``, and the values
    that were hidden (so the rest of the log can be scrubbed of them too)."""
    out: list[str] = []
    hidden: list[str] = []
    pending: str | None = None
    for token in argv:
        if pending is not None:
            out.append(_masked(pending, token, hidden))
            pending = None
        elif token in _VALUE_FLAGS:
            out.append(token)
            pending = token
        else:
            flag, eq, rest = token.partition("=")
            if eq and flag in _VALUE_FLAGS:
                out.append(f"{flag}={_masked(flag, rest, hidden)}")
            else:
                out.append(token)
        if token == "--":
            pending = None
    return out, hidden


def _masked(flag: str, value: str, hidden: list[str]) -> str:
    name, eq, raw = value.partition("=")
    if not eq:
        if flag == "--var":
            hidden.append(value)
            return MASKED
        return value
    shown = f"{name}={MASKED}"
    if flag != "--var":
        try:
            from runner.cli.flags import flag_label

            shown = flag_label(flag, name, raw).split(" ", 1)[1]
        except Exception:  # the crash handler must not fail on its own masking
            pass
    if shown.endswith(MASKED):
        hidden.append(raw)
    return shown


def write(traceback_text: str, argv: list[str] | None = None) -> str:
    """Write a crash log and return its path (or a note saying it could not be written)."""
    from runner import __version__
    from runner.secrets import scrub

    argv = list(sys.argv if argv is None else argv)
    hidden: list[str] = []
    try:
        masked, hidden = mask_argv(argv)
        shown = " ".join(masked)
    except Exception:
        shown = "(the command line could not be shown)"
    text = scrub(f"callprofile {__version__}\n{shown}\n\n{traceback_text}", hidden)
    data = text.encode("utf-8", "backslashreplace")
    import tempfile

    stem = f"crash-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
    from runner.statedir import state_directory

    for directory in (state_directory(), tempfile.gettempdir()):
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
        except OSError:
            continue
        for attempt in range(5):
            path = os.path.join(directory, f"{stem}{f'-{attempt}' if attempt else ''}.log")
            try:
                # Created 0600 (never world-readable, whatever the umask); never follows a
                # planted symlink or appends to someone else's file.
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
            except FileExistsError:
                continue
            except OSError:
                break
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            return path
    return "(could not write a log)"


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
