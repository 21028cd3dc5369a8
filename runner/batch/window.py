"""Calling windows in the callee's local time, failing closed.

A number may be in several time zones (a US toll-free number in dozens, Alaska's 907 in two); a
row is callable only if the time is inside the window in every one of them. A number whose zone
is unknown or too vague is not callable unless the row names its zone.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time
from functools import cache
from typing import Any

from runner import phone

MAX_ZONES = 4  # more candidate zones than this is "ambiguous": the number says little
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


class WindowError(ValueError):
    pass


@dataclass(frozen=True)
class Window:
    start: time
    end: time  # exclusive; an end before the start wraps past midnight

    @classmethod
    def parse(cls, text: str) -> Window:
        parts = text.split("-")
        if len(parts) != 2:
            raise WindowError(f"{text!r} is not a window like 09:00-20:00")
        ends: list[time] = []
        for part in parts:
            match = _HHMM.match(part.strip())
            if not match:
                raise WindowError(f"{part.strip()!r} in {text!r} is not a time like 09:00")
            ends.append(time(int(match.group(1)), int(match.group(2))))
        if ends[0] == ends[1]:
            raise WindowError(f"{text!r} is an empty window")
        return cls(ends[0], ends[1])

    def contains(self, local: time) -> bool:
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True)
class Verdict:
    callable: bool
    reason: str = ""
    ambiguous: bool = False  # no usable zone: waiting will not help


def zone_error(name: str) -> str | None:
    """Why ``name`` is not an IANA time zone, or None if it is one."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if not name or name.startswith(("/", ".")) or ".." in name:
        return f"{name!r} is not an IANA time zone (e.g. America/Chicago)"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return f"{name!r} is not an IANA time zone (e.g. America/Chicago)"
    return None


@cache
def _zone_lookup() -> tuple[int, Callable[[int, int], bool], Any]:
    """phonenumbers' zone lookup, imported once (zones_for runs for every contacts row)."""
    from phonenumbers import PhoneNumberType, is_number_type_geographical
    from phonenumbers import timezone as tz

    return PhoneNumberType.UNKNOWN, is_number_type_geographical, tz


def zones_for(e164: str) -> tuple[str, ...]:
    unknown, is_number_type_geographical, tz = _zone_lookup()
    parsed, _, kind = phone.known(e164)
    country = parsed.country_code
    if kind != unknown and country and is_number_type_geographical(kind, country):
        # time_zones_for_number, without classifying the number a second time.
        zones = tz.time_zones_for_geographical_number(parsed)
    else:
        zones = tz.time_zones_for_number(parsed)
    return tuple(z for z in zones if z != tz.UNKNOWN_TIMEZONE)


NON_GEOGRAPHIC_TYPES = (
    "TOLL_FREE",
    "PREMIUM_RATE",
    "SHARED_COST",
    "VOIP",
    "PERSONAL_NUMBER",
    "PAGER",
    "UAN",
    "VOICEMAIL",
)


def non_geographic(e164: str) -> str | None:
    """What kind of number ``e164`` is when it says nothing about where the callee is
    (toll-free, premium rate, +800 and other global services), else None. Such a number's
    candidate zones (42 for a US toll-free one) are the whole country's, not the callee's."""
    import phonenumbers

    parsed = phonenumbers.parse(e164, None)
    if phonenumbers.region_code_for_number(parsed) == "001":
        return "a global service number (+800, +808, +870, +88x...)"
    kind = phonenumbers.number_type(parsed)
    for name in NON_GEOGRAPHIC_TYPES:
        if kind == getattr(phonenumbers.PhoneNumberType, name):
            return f"a {name.lower().replace('_', '-')} number"
    return None


def check(window: Window, e164: str, now: datetime, zone: str | None = None) -> Verdict:
    """Is ``e164`` callable at ``now`` (timezone-aware)? ``zone`` is the row's own IANA zone,
    which replaces the guess from the number."""
    from zoneinfo import ZoneInfo

    zones = (zone,) if zone else zones_for(e164)
    if not zones:
        return Verdict(False, "time zone unknown (add a timezone column)", ambiguous=True)
    if len(zones) > MAX_ZONES:
        return Verdict(
            False,
            f"number spans {len(zones)} time zones (add a timezone column)",
            ambiguous=True,
        )
    for name in zones:
        local = now.astimezone(ZoneInfo(name))
        if not window.contains(local.time()):
            return Verdict(False, f"{local:%H:%M} in {name}, outside {window}")
    return Verdict(True)
