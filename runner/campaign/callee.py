"""What the number (and the contact row) says about the callee: state(s) and time zone(s).

A US geographic area code belongs to one state, and Florida and Oklahoma presume a number with
one of their area codes belongs to a resident, so the area code names a state even when a row
names another: both apply and the strictest rule wins. A number whose state cannot be known
(toll-free, non-geographic) is judged by every state rule in the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from runner import codes, phone
from runner.campaign.rules import STATE_NAMES, state_for_area_code

CODE_STATE = codes.BAD_STATE
STATE_COLUMN = "state"


class StateError(ValueError):
    pass


@dataclass(frozen=True)
class Callee:
    e164: str
    region: str | None  # phonenumbers' region code: US, CA, PR, GB...
    area_state: str | None  # the state of the US area code, when it is geographic
    given_state: str | None  # from --state or the row's state column
    zone: str | None = None  # the row's own IANA zone, when it names one

    @property
    def zone_given(self) -> bool:
        return self.zone is not None

    @cached_property
    def zones(self) -> tuple[str, ...]:
        """Candidate IANA zones (the row's own zone when it names one). Worked out when first
        asked: a policy without calling hours or quiet days never asks, and a batch need not
        look a million numbers up for nothing."""
        from runner.batch.window import zones_for

        return (self.zone,) if self.zone else zones_for(self.e164)

    @property
    def states(self) -> frozenset[str] | None:
        """States whose rules apply; ``None`` when a US number's state cannot be known."""
        known = frozenset(s for s in (self.area_state, self.given_state) if s)
        if known:
            return known
        return None if self.region == "US" else frozenset()

    def describe_state(self) -> str:
        parts = []
        if self.area_state:
            parts.append(f"{self.area_state} (area code {self.e164[2:5]})")
        if self.given_state and self.given_state != self.area_state:
            parts.append(f"{self.given_state} (given)")
        if parts:
            return ", ".join(parts)
        if self.region == "US":
            return "unknown (non-geographic number)"
        return f"none (region {self.region or 'unknown'})"


def parse_state(text: str) -> str:
    code = text.strip().upper()
    if code not in STATE_NAMES:
        raise StateError(
            f"{text.strip()!r} is not a US state code (two letters, e.g. FL, OK, NY, DC)"
        )
    return code


def callee(e164: str, *, state: str | None = None, zone: str | None = None) -> Callee:
    """Facts about ``e164`` (already normalised). ``state`` and ``zone`` come from the row or
    flags and were checked by the caller."""
    parsed, region, _ = phone.known(e164)
    area_state = None
    if parsed.country_code == 1 and region == "US":
        area_state = state_for_area_code(str(parsed.national_number)[:3])
    return Callee(e164, region, area_state, state, zone or None)
