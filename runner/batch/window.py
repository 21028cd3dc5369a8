"""Calling windows in the callee's local time, failing closed.

A number may be in several time zones (Alaska's 907 in two, an Australian mobile in eight); a row
is callable only if the time is inside the window in every one of them. A number that says
nothing about where the callee is (toll-free, premium, +800), one whose zone is unknown, and one
whose zones never share a moment inside the window are callable only with the row's zone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time

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


def zones_for(e164: str) -> tuple[str, ...]:
    import phonenumbers
    from phonenumbers import timezone as tz

    zones = tz.time_zones_for_number(phonenumbers.parse(e164, None))
    return tuple(z for z in zones if z != tz.UNKNOWN_TIMEZONE)


def non_geographic(e164: str) -> str | None:
    """What kind of number ``e164`` is when it says nothing about where the callee is
    (toll-free, premium rate, +800 and other global services), else None."""
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
    which replaces the guess from the number.

    The rule for numbers without a usable zone (README of the batch guide): a non-geographic
    number (toll-free, premium, +800...) or one with no known zone is callable under a window
    only with the row's ``timezone``; so is a number whose candidate zones never share a
    moment inside the window. Such a verdict is ``ambiguous``: the row is reported, not
    deferred, since waiting would never help."""
    from zoneinfo import ZoneInfo

    if zone:
        zones: tuple[str, ...] = (zone,)
    else:
        kind = non_geographic(e164)
        if kind is not None:
            return Verdict(
                False,
                f"{kind} has no time zone of its own: add a timezone column to call it under "
                "--window",
                ambiguous=True,
            )
        zones = zones_for(e164)
    if not zones:
        return Verdict(False, "time zone unknown (add a timezone column)", ambiguous=True)
    for name in zones:
        local = now.astimezone(ZoneInfo(name))
        if not window.contains(local.time()):
            if len(zones) > 1 and not _ever_callable(window, zones, now):
                return Verdict(
                    False,
                    f"the number's {len(zones)} possible time zones ({zones[0]} ... "
                    f"{zones[-1]}) are never all inside {window} at once: add a timezone "
                    "column",
                    ambiguous=True,
                )
            return Verdict(False, f"{local:%H:%M} in {name}, outside {window}")
    return Verdict(True)


_STEP_MINUTES = 5
_ever: dict[tuple[Window, tuple[str, ...], str], bool] = {}


def _ever_callable(window: Window, zones: tuple[str, ...], now: datetime) -> bool:
    """Is there a moment in the next day when every zone is inside the window?"""
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    key = (window, zones, now.strftime("%Y-%m-%d"))
    if key not in _ever:
        infos = [ZoneInfo(z) for z in zones]
        start = now.replace(second=0, microsecond=0)
        _ever[key] = any(
            all(window.contains(instant.astimezone(info).time()) for info in infos)
            for instant in (
                start + timedelta(minutes=m) for m in range(0, 24 * 60 + 1, _STEP_MINUTES)
            )
        )
    return _ever[key]
