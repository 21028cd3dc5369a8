"""The do-not-call list: E.164 numbers, one a line, normalised like the contacts.

A line may end with a date (``+13125550123, 2026-05-01``): the day the person revoked consent.
An undated entry is never called; a dated one may be called again only on consent given after
that day (runner/campaign/verdict.py judges it).

The list is loaded into a private temporary SQLite database, not a Python set, so a large list
keeps memory flat. A line that is not a number stops the batch before any call: a number that
cannot be read cannot be honoured.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Iterator
from datetime import date

from runner import codes
from runner.diagnostics import Diagnostic, ProfileError
from runner.phone import NumberError, normalise

MAX_REPORTED = 20
# A trailing ISO date, after a comma, semicolon or blanks: the number itself may hold spaces.
_DATED = re.compile(r"^(.*?)[\s,;]+(\d{4}-\d{2}-\d{2})$")


class DoNotCall:
    def __init__(self, path: str, region: str | None = None):
        self.path = path
        self.sha256 = ""
        self.count = 0
        # "" is SQLite's private on-disk temporary database, deleted on close.
        self._db = sqlite3.connect("")
        self._db.execute("CREATE TABLE dnc (e164 TEXT PRIMARY KEY, revoked TEXT) WITHOUT ROWID")
        problems: list[Diagnostic] = []
        digest = hashlib.sha256()
        try:
            with open(path, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
            # An undated entry (never call) outranks a dated one; of two dates the later counts.
            self._db.executemany(
                "INSERT INTO dnc VALUES (?, ?) ON CONFLICT (e164) DO UPDATE SET revoked = "
                "CASE WHEN dnc.revoked IS NULL OR excluded.revoked IS NULL THEN NULL "
                "ELSE max(dnc.revoked, excluded.revoked) END",
                self._numbers(path, region, problems),
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
    ) -> Iterator[tuple[str, str | None]]:
        with open(path, encoding="utf-8-sig") as fh:
            for line, text in enumerate(fh, start=1):
                entry = text.split("#", 1)[0].strip()
                if not entry:
                    continue
                revoked = None
                dated = _DATED.match(entry)
                if dated:
                    entry, revoked = dated.group(1), dated.group(2)
                    try:
                        date.fromisoformat(revoked)
                    except ValueError:
                        problems.append(
                            Diagnostic(
                                f"{revoked!r} on the do-not-call list is not a calendar date",
                                codes.DNC_LIST,
                                file=path,
                                line=line,
                                col=text.index(revoked) + 1,
                            )
                        )
                        continue
                try:
                    yield (normalise(entry, region), revoked)
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

    def lookup(self, e164: str) -> tuple[bool, date | None]:
        """(listed, the revocation date of a dated entry)."""
        found = self._db.execute("SELECT revoked FROM dnc WHERE e164 = ?", (e164,)).fetchone()
        if found is None:
            return False, None
        return True, date.fromisoformat(found[0]) if found[0] else None

    def close(self) -> None:
        self._db.close()
