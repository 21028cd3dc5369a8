"""Read a contacts file (CSV with a header row, or JSON lines) as a stream of rows.

Rows are data: each value is handed to templates as a variable, never compiled. A row is named
by the line it starts on, as a spreadsheet or editor shows it (a CSV's header is line 1), so the
same file always gives the same row numbers. Memory stays flat: one row at a time.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

from runner import codes
from runner.diagnostics import Diagnostic, ProfileError
from runner.textsafety import describe_invalid
from runner.textsafety import is_valid_unicode as valid

TIMEZONE_COLUMN = "timezone"
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")


@dataclass
class Row:
    line: int  # where the row starts in the file (1-based)
    values: dict[str, str] = field(default_factory=dict)  # non-empty cells, by column name
    problem: str | None = None  # why the row cannot be read at all

    def get(self, column: str) -> str | None:
        return self.values.get(column)


def file_error(path: str, message: str, line: int | None = None) -> ProfileError:
    return ProfileError(
        [Diagnostic(message, codes.CONTACTS_FILE, file=path, line=line, col=1 if line else None)]
    )


def detect_format(path: str) -> str:
    """``csv`` or ``jsonl``: by extension, else by the first non-blank character."""
    if path.lower().endswith(JSONL_SUFFIXES):
        return "jsonl"
    if path.lower().endswith((".csv", ".tsv", ".txt")):
        return "csv"
    with open(path, "rb") as fh:
        head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return "jsonl" if head.startswith(b"{") else "csv"


def digest(path: str) -> str:
    """sha256 of the file's bytes (part of the batch identity), read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class _Hashing(io.RawIOBase):
    """A file read through a hash: every byte the parser reads is hashed on the way."""

    def __init__(self, raw: io.FileIO):
        self.raw = raw
        self.sha256 = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = self.raw.readinto(buffer)
        if count:
            self.sha256.update(memoryview(buffer)[:count])
        return count or 0

    def drain(self) -> None:
        for chunk in iter(lambda: self.raw.read(1 << 20), b""):
            self.sha256.update(chunk)


class Contacts:
    """One pass over a contacts file: its rows in order, then (once the last row is read) the
    sha256 of its bytes and how many rows it held. Reading the rows is the only read."""

    def __init__(self, path: str, to_column: str = "to"):
        self.path = path
        self.to_column = to_column
        self.sha256: str | None = None
        self.count = 0

    def __iter__(self) -> Iterator[Row]:
        path = self.path
        if not os.path.isfile(path):
            raise file_error(path, "contacts file not found (or not a regular file)")
        jsonl = detect_format(path) == "jsonl"
        reader = _jsonl if jsonl else _csv
        with open(path, "rb", buffering=0) as raw:
            hashing = _Hashing(raw)
            text = io.TextIOWrapper(
                io.BufferedReader(hashing, 1 << 16),
                encoding="utf-8-sig",
                newline=None if jsonl else "",
            )
            try:
                for row in reader(path, text, self.to_column):
                    self.count += 1
                    yield row
            except UnicodeDecodeError as exc:
                raise file_error(path, f"not UTF-8 text (byte {exc.start})") from None
            except csv.Error as exc:
                raise file_error(path, f"not readable as CSV: {exc}") from None
            hashing.drain()
            self.sha256 = hashing.sha256.hexdigest()


def read_rows(path: str, to_column: str = "to") -> Iterator[Row]:
    """Every row of ``path`` in order. Raises ProfileError for a file that cannot be read as a
    whole (missing, not UTF-8, no such column); a single bad row comes back with ``problem``."""
    return iter(Contacts(path, to_column))


def scan(path: str, to_column: str = "to") -> Contacts:
    """Read ``path`` to the end in one pass: proves the whole file is readable before any call,
    and gives its row count and sha256."""
    contacts = Contacts(path, to_column)
    for _ in contacts:
        pass
    return contacts


def count_rows(path: str, to_column: str = "to") -> int:
    """How many rows ``path`` holds. Also proves the whole file is readable before any call."""
    return scan(path, to_column).count


def _csv(path: str, fh: TextIO, to_column: str) -> Iterator[Row]:
    reader = csv.reader(fh)
    header: list[str] | None = None
    last = 0
    for record in reader:
        start, last = last + 1, reader.line_num
        if not any(map(str.strip, record)):  # no cells, or only blank ones
            continue
        if header is None:
            header = [name.strip() for name in record]
            _check_header(path, header, to_column)
            continue
        if len(record) != len(header):
            yield Row(
                start,
                problem=f"has {len(record)} cell(s) but the header has {len(header)} column(s)",
            )
            continue
        yield Row(start, {k: v for k, v in zip(header, record, strict=True) if v != ""})
    if header is None:
        raise file_error(path, "the contacts file is empty (expected a header row)")


def _check_header(path: str, header: list[str], to_column: str) -> None:
    seen: set[str] = set()
    for name in header:
        if not name:
            raise file_error(path, "the header row has an empty column name", 1)
        if name in seen:
            raise file_error(path, f"the header names column {name!r} twice", 1)
        seen.add(name)
    if to_column not in seen:
        near = [n for n in header if n.lower() == to_column.lower()]
        hint = f"; did you mean {near[0]!r}?" if near else ""
        raise file_error(
            path,
            f"no column {to_column!r} for the number to call (columns: {', '.join(header)})"
            f"{hint}; name it with --to-column",
            1,
        )


def _jsonl(path: str, fh: TextIO, to_column: str) -> Iterator[Row]:
    for number, text in enumerate(fh, start=1):
        if not text.strip():
            continue
        try:
            data = json.loads(
                text,
                object_pairs_hook=_unique_keys,
                parse_constant=_refuse_constant,
                parse_float=_number_text,
                parse_int=_number_text,
            )
        except _Refused as exc:
            yield Row(number, problem=str(exc))
            continue
        except (ValueError, RecursionError) as exc:
            yield Row(number, problem=f"is not valid JSON ({exc})")
            continue
        if not isinstance(data, dict):
            yield Row(number, problem="is not a JSON object")
            continue
        values: dict[str, str] = {}
        problem = None
        for key, value in data.items():
            bad = next((t for t in (key, value) if isinstance(t, str) and not valid(t)), None)
            if bad is not None:
                problem = f"holds text that is not valid Unicode ({describe_invalid(bad)})"
                break
            if value is None or value == "":
                continue
            if not isinstance(value, str):  # numbers arrive as _Number, their text as written
                problem = f"field {key!r} must be text or a number"
                break
            values[key] = str(value)
        yield Row(number, values, problem)


class _Refused(ValueError):
    """A JSON line that parses but cannot be taken as written."""


class _Number(str):
    """A JSON number kept as the text it was written as (cells are text)."""


MAX_NUMBER_TEXT = 64  # characters: longer numbers are not phone numbers, counts or amounts


def _number_text(text: str) -> _Number:
    import math

    if len(text) > MAX_NUMBER_TEXT:
        raise _Refused(f"holds a number of {len(text)} characters (at most {MAX_NUMBER_TEXT})")
    if not math.isfinite(float(text)):
        raise _Refused(f"holds the number {text}, which is too large to be a number")
    return _Number(text)


def _refuse_constant(name: str) -> None:
    raise _Refused(f"holds {name}, which is not a number JSON allows")


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in pairs:
        if key in out:
            raise _Refused(
                f"names the key {key!r} twice (JSON readers would keep only one of the values)"
            )
        out[key] = value
    return out
