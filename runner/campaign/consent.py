"""Consent evidence carried by a contact row: ``consent`` (written | express) and
``consent_date``. A missing cell is a fact the policy judges (the row is skipped with the rule);
a cell that cannot be read is an input error the user must fix."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from runner import codes

CODE_CONSENT = codes.BAD_CONSENT
CONSENT_COLUMN = "consent"
DATE_COLUMN = "consent_date"
KINDS = ("written", "express")


class ConsentError(ValueError):
    pass


@dataclass(frozen=True)
class Evidence:
    kind: str | None = None  # "written" | "express"; None when the row carries none
    on: date | None = None

    def describe(self) -> str:
        if self.kind is None:
            return "no consent recorded"
        when = f" on {self.on.isoformat()}" if self.on else " (no date)"
        return f"{self.kind} consent{when}"


def parse_date(text: str) -> date:
    """``YYYY-MM-DD``, or an ISO date-time (its date is used)."""
    raw = text.strip()
    try:
        return date.fromisoformat(raw)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00")).date()
    except ValueError:
        raise ConsentError(f"{raw[:40]!r} is not a date like 2026-03-01") from None


def evidence(values: Mapping[str, str]) -> Evidence:
    """The row's consent evidence. Raises ConsentError for a cell that cannot be read."""
    raw_kind = (values.get(CONSENT_COLUMN) or "").strip()
    raw_date = (values.get(DATE_COLUMN) or "").strip()
    kind = None
    if raw_kind:
        kind = raw_kind.lower()
        if kind not in KINDS:
            raise ConsentError(
                f"consent {raw_kind[:40]!r} is not one of {', '.join(KINDS)} "
                "(leave it empty when there is none)"
            )
    on = None
    if raw_date:
        try:
            on = parse_date(raw_date)
        except ConsentError as exc:
            raise ConsentError(f"consent_date: {exc}") from None
    return Evidence(kind, on)
