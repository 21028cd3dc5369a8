"""The built-in calling rules table (``state_rules.json``) and the area-code table.

Each rule carries the text it summarises (a citation) and the date it was last checked, so every
decision the policy makes can name its source. The tables are data shipped with the package,
read once and checked for shape, so a broken edit fails loudly rather than silently allowing
calls.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, time
from functools import cache
from pathlib import Path
from typing import Any, Literal

Kind = Literal["hours", "attempts", "consent", "written-consent", "dnc", "revocation"]
KINDS: tuple[str, ...] = ("hours", "attempts", "consent", "written-consent", "dnc", "revocation")
FEDERAL = "US"
NOT_LEGAL_ADVICE = (
    "callprofile applies the rules in its table as written; this is not legal advice. "
    "Verify each rule against the cited text before relying on it."
)
_HERE = Path(__file__).resolve().parent
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class TableError(ValueError):
    """A shipped data file is malformed (a packaging bug, never the user's input)."""


@dataclass(frozen=True)
class Rule:
    id: str
    jurisdiction: str  # "US" (federal) or a two-letter state code
    kind: str
    summary: str
    citation: str
    as_of: date
    start: time | None = None
    end: time | None = None
    max_per_24h: int | None = None
    presumption: str = ""

    @property
    def where(self) -> str:
        return "federal" if self.jurisdiction == FEDERAL else state_name(self.jurisdiction)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "jurisdiction": self.jurisdiction,
            "kind": self.kind,
            "summary": self.summary,
            "citation": self.citation,
            "as_of": self.as_of.isoformat(),
        }
        if self.start is not None and self.end is not None:
            out["hours"] = f"{self.start:%H:%M}-{self.end:%H:%M}"
        if self.max_per_24h is not None:
            out["max_per_24h"] = self.max_per_24h
        return out


def parse_hhmm(text: str) -> time | None:
    match = _HHMM.match(text)
    return time(int(match.group(1)), int(match.group(2))) if match else None


def _rule(raw: Any, index: int) -> Rule:
    where = f"state_rules.json rule {index + 1}"
    if not isinstance(raw, dict):
        raise TableError(f"{where} is not an object")
    for key in ("id", "jurisdiction", "kind", "summary", "citation", "as_of"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise TableError(f"{where} has no {key}")
    if raw["kind"] not in KINDS:
        raise TableError(f"{where}: unknown kind {raw['kind']!r}")
    try:
        as_of = date.fromisoformat(raw["as_of"])
    except ValueError:
        raise TableError(f"{where}: as_of {raw['as_of']!r} is not a date") from None
    start = end = None
    if raw["kind"] == "hours":
        start, end = parse_hhmm(str(raw.get("start"))), parse_hhmm(str(raw.get("end")))
        if start is None or end is None or not start < end:
            raise TableError(f"{where}: hours need start < end as HH:MM")
    cap = raw.get("max_per_24h")
    if raw["kind"] == "attempts" and (not isinstance(cap, int) or isinstance(cap, bool) or cap < 1):
        raise TableError(f"{where}: attempts need a positive max_per_24h")
    return Rule(
        id=raw["id"],
        jurisdiction=raw["jurisdiction"],
        kind=raw["kind"],
        summary=raw["summary"],
        citation=raw["citation"],
        as_of=as_of,
        start=start,
        end=end,
        max_per_24h=cap if raw["kind"] == "attempts" else None,
        presumption=str(raw.get("presumption", "")),
    )


@cache
def table() -> tuple[Rule, ...]:
    data = json.loads((_HERE / "state_rules.json").read_text(encoding="utf-8"))
    rules = tuple(_rule(raw, i) for i, raw in enumerate(data.get("rules", [])))
    ids = [r.id for r in rules]
    if len(set(ids)) != len(ids):
        raise TableError("state_rules.json repeats a rule id")
    for rule in rules:
        if rule.jurisdiction != FEDERAL and rule.jurisdiction not in STATE_NAMES:
            raise TableError(f"state_rules.json: {rule.id} names unknown state {rule.jurisdiction}")
    return rules


def federal(kind: str) -> Rule:
    return next(r for r in table() if r.jurisdiction == FEDERAL and r.kind == kind)


def state_rules(states: frozenset[str] | None, kind: str) -> list[Rule]:
    """The state rules of ``kind`` for ``states``; ``None`` means unknown: every state's rule."""
    return [
        r
        for r in table()
        if r.kind == kind
        and r.jurisdiction != FEDERAL
        and (states is None or r.jurisdiction in states)
    ]


@cache
def _area_codes() -> dict[str, str]:
    data = json.loads((_HERE / "areacodes.json").read_text(encoding="utf-8"))
    out: dict[str, str] = {}
    for state, codes in data["states"].items():
        if state not in STATE_NAMES:
            raise TableError(f"areacodes.json: unknown state {state}")
        for code in codes:
            if code in out:
                raise TableError(f"areacodes.json: area code {code} listed twice")
            out[code] = state
    return out


def state_for_area_code(npa: str) -> str | None:
    return _area_codes().get(npa)


def state_name(code: str) -> str:
    return STATE_NAMES.get(code, code)


STATE_NAMES = {
    "AL": "Alabama",
    "AK": "Alaska",
    "AZ": "Arizona",
    "AR": "Arkansas",
    "CA": "California",
    "CO": "Colorado",
    "CT": "Connecticut",
    "DE": "Delaware",
    "DC": "District of Columbia",
    "FL": "Florida",
    "GA": "Georgia",
    "HI": "Hawaii",
    "ID": "Idaho",
    "IL": "Illinois",
    "IN": "Indiana",
    "IA": "Iowa",
    "KS": "Kansas",
    "KY": "Kentucky",
    "LA": "Louisiana",
    "ME": "Maine",
    "MD": "Maryland",
    "MA": "Massachusetts",
    "MI": "Michigan",
    "MN": "Minnesota",
    "MS": "Mississippi",
    "MO": "Missouri",
    "MT": "Montana",
    "NE": "Nebraska",
    "NV": "Nevada",
    "NH": "New Hampshire",
    "NJ": "New Jersey",
    "NM": "New Mexico",
    "NY": "New York",
    "NC": "North Carolina",
    "ND": "North Dakota",
    "OH": "Ohio",
    "OK": "Oklahoma",
    "OR": "Oregon",
    "PA": "Pennsylvania",
    "RI": "Rhode Island",
    "SC": "South Carolina",
    "SD": "South Dakota",
    "TN": "Tennessee",
    "TX": "Texas",
    "UT": "Utah",
    "VT": "Vermont",
    "VA": "Virginia",
    "WA": "Washington",
    "WV": "West Virginia",
    "WI": "Wisconsin",
    "WY": "Wyoming",
}
