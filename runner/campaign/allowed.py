"""When a call is allowed: the instants calling windows and quiet days open, in every zone the
callee may be in (zoneinfo makes them DST-correct). Used by verdict.py."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

from runner.campaign.policy import Hours

SEARCH_DAYS = 10  # how far ahead the next allowed time is looked for


def local_time(at: datetime, zone: str) -> datetime:
    from zoneinfo import ZoneInfo

    return at.astimezone(ZoneInfo(zone))


def allowed_at(
    windows: list[tuple[str, Hours, str]],
    quiet: tuple[date, ...],
    zones: tuple[str, ...],
    at: datetime,
) -> bool:
    for zone in zones:
        local = local_time(at, zone)
        if local.date() in quiet:
            return False
        if any(not hours.contains(local.time()) for _, hours, _ in windows):
            return False
    return True


def next_allowed(
    windows: list[tuple[str, Hours, str]],
    quiet: tuple[date, ...],
    zones: tuple[str, ...],
    at: datetime,
) -> datetime | None:
    """The first instant after ``at`` when every window and quiet day allows a call, looking
    at most SEARCH_DAYS ahead. Windows open at a start time (or at midnight after a quiet day)
    in some zone, so only those instants need checking; zoneinfo makes them DST-correct."""
    from zoneinfo import ZoneInfo

    if not zones:
        return None
    starts = {hours.start for _, hours, _ in windows} | {time(0, 0)}
    candidates: set[datetime] = set()
    for zone in zones:
        tz = ZoneInfo(zone)
        today = at.astimezone(tz).date()
        for offset in range(SEARCH_DAYS + 1):
            day = today + timedelta(days=offset)
            for start in starts:
                local = datetime.combine(day, start, tzinfo=tz)
                candidates.add(local.astimezone(timezone.utc))
    for moment in sorted(candidates):
        if moment > at and allowed_at(windows, quiet, zones, moment):
            return moment
    return None
