"""Shared set-up for the batch tests: a profile, contacts files, and the ledger as data."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

PROFILE = """\
description: Batch test profile.
connection_id: "conn-batch"
variables:
  name:
    required: true
  note:
    default: "none"
call:
  From: "+13120001234"
  AIAssistantId: "assistant-batch"
  AIAssistantDynamicVariables:
    name: "{{ name }}"
    note: "{{ note }}"
"""


def number(i: int, area: str = "312") -> str:
    return f"+1{area}555{i:04d}"


def write_profile(root: Path, text: str = PROFILE, name: str = "remind") -> Path:
    path = root / "profiles" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return root / "profiles"


def write_contacts(
    path: Path, rows: list[dict[str, str]], columns: list[str] | None = None
) -> Path:
    import csv

    columns = columns or sorted({k for r in rows for k in r}, key=lambda k: (k != "to", k))
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def many(n: int, start: int = 0) -> list[dict[str, str]]:
    return [{"to": number(i), "name": f"Person {i}"} for i in range(start, start + n)]


def is_url(spec: Path | str) -> bool:
    return str(spec).startswith(("postgresql://", "postgres://"))


def _query(path: Path | str, sql: str) -> list[dict[str, Any]]:
    if is_url(path):
        from tests.helpers.postgres import query

        return query(str(path), sql)
    db = sqlite3.connect(path)
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute(sql)]
    finally:
        db.close()


def ledger_rows(path: Path | str) -> list[dict[str, Any]]:
    return _query(path, "SELECT * FROM rows ORDER BY batch_id, row_no")


def ledger_exists(spec: Path | str) -> bool:
    """Whether anything was written: the file exists, or the database holds the tables."""
    if is_url(spec):
        found = _query(spec, "SELECT to_regclass('batches') IS NOT NULL AS made")
        return bool(found[0]["made"])
    return Path(spec).exists()


def ledger_events(path: Path | str) -> list[dict[str, Any]]:
    return _query(path, "SELECT * FROM events ORDER BY id")


def states(path: Path | str) -> dict[str, int]:
    out: dict[str, int] = {}
    for row in ledger_rows(path):
        out[row["state"]] = out.get(row["state"], 0) + 1
    return out
