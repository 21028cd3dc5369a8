"""Refuse to write an output over an input.

``--report contacts.csv`` would silently replace the contacts file with the report, and a
ledger or a log written over a profile destroys it. Paths are compared as files, not as text:
through symlinks, ``..``, hard links and relative spellings.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

# Files SQLite keeps beside a database: writing the report there corrupts the ledger.
_LEDGER_SIDECARS = ("", "-wal", "-shm", "-journal")


def _identity(path: str) -> tuple[object, ...]:
    try:
        info = os.stat(path)
        return ("inode", info.st_dev, info.st_ino)
    except OSError:
        return ("path", os.path.realpath(path))


def clash(output: str, inputs: Iterable[tuple[str, str]]) -> str | None:
    """The label of the first input that ``output`` would overwrite, or None."""
    target = _identity(output)
    for label, path in inputs:
        if path and _identity(path) == target:
            return label
    return None


def ledger_files(label: str, ledger: str) -> list[tuple[str, str]]:
    return [(label, ledger + suffix) for suffix in _LEDGER_SIDECARS]


def profile_files(root: str) -> list[tuple[str, str]]:
    """Every profile file under the profiles directory, as an input."""
    from pathlib import Path

    from runner.profiles.store import Store

    store = Store(Path(root))
    return [(f"the profile {name}", str(path)) for name, path, _ in store.scan()]
