"""The do-not-call list: E.164 numbers, one a line, normalised like the contacts.

The list is loaded into a private temporary SQLite database, not a Python set, so a large list
keeps memory flat. A line that is not a number stops the batch before any call: a number that
cannot be read cannot be honoured.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator

from runner import codes
from runner.diagnostics import Diagnostic, ProfileError
from runner.phone import NumberError, normalise

MAX_REPORTED = 20


class DoNotCall:
    def __init__(self, path: str, region: str | None = None):
        self.path = path
        self.sha256 = ""
        self.count = 0
        # "" is SQLite's private on-disk temporary database, deleted on close.
        self._db = sqlite3.connect("")
        self._db.execute("CREATE TABLE dnc (e164 TEXT PRIMARY KEY) WITHOUT ROWID")
        problems: list[Diagnostic] = []
        digest = hashlib.sha256()
        try:
            with open(path, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
            self._db.executemany(
                "INSERT OR IGNORE INTO dnc VALUES (?)", self._numbers(path, region, problems)
            )
        except OSError as exc:
            raise ProfileError(
                [
                    Diagnostic(
                        f"cannot read the do-not-call list: {exc.strerror}",
                        codes.DNC_LIST,
                        file=path,
                    )
                ]
            ) from None
        except UnicodeDecodeError as exc:
            raise ProfileError(
                [Diagnostic(f"not UTF-8 text (byte {exc.start})", codes.DNC_LIST, file=path)]
            ) from None
        if problems:
            raise ProfileError(problems[:MAX_REPORTED])
        self.sha256 = digest.hexdigest()
        self.count = self._db.execute("SELECT count(*) FROM dnc").fetchone()[0]

    def _numbers(
        self, path: str, region: str | None, problems: list[Diagnostic]
    ) -> Iterator[tuple[str]]:
        with open(path, encoding="utf-8-sig") as fh:
            for line, text in enumerate(fh, start=1):
                entry = text.split("#", 1)[0].strip()
                if not entry:
                    continue
                try:
                    yield (normalise(entry, region),)
                except NumberError as exc:
                    problems.append(
                        Diagnostic(
                            f"not a phone number on the do-not-call list: {exc}",
                            codes.DNC_LIST,
                            file=path,
                            line=line,
                            col=1,
                        )
                    )

    def __contains__(self, e164: str) -> bool:
        return self._db.execute("SELECT 1 FROM dnc WHERE e164 = ?", (e164,)).fetchone() is not None

    def close(self) -> None:
        self._db.close()
