"""``# callprofile: ignore[CODE, ...]`` comments.

A comment silences the named codes on its own line (a trailing comment) or, when it stands
alone on a line, on the line directly below it (for findings on lines too long to carry one),
like yamllint's ``disable-line``. Nothing else is silenced: no file- or block-wide switches, so
every exception stays next to the value it excuses.
"""

from __future__ import annotations

import re
from functools import cache

_COMMENT = re.compile(r"(?:^|\s)#\s*callprofile:\s*ignore\[([A-Za-z0-9_,\s]*)\]")


def codes_in(line: str) -> set[str]:
    found: set[str] = set()
    for match in _COMMENT.finditer(line):
        found |= {c.strip().upper() for c in match.group(1).split(",") if c.strip()}
    return found


def silenced(lines: list[str], line: int) -> set[str]:
    """Codes silenced on 1-based ``line``."""
    codes: set[str] = set()
    if 1 <= line <= len(lines):
        codes |= codes_in(lines[line - 1])
    if 2 <= line <= len(lines) + 1 and lines[line - 2].lstrip().startswith("#"):
        codes |= codes_in(lines[line - 2])
    return codes


@cache
def _file_lines(path: str) -> tuple[str, ...]:
    try:
        with open(path, encoding="utf-8") as fh:
            return tuple(fh.read().splitlines())
    except (OSError, UnicodeDecodeError):
        return ()


def is_silenced(path: str, line: int | None, code: str) -> bool:
    if line is None:
        return False
    return code in silenced(list(_file_lines(path)), line)


def forget() -> None:
    """Drop cached file contents (files may change between runs in one process, e.g. tests)."""
    _file_lines.cache_clear()
