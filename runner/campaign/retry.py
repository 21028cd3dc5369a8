"""The retry rule a profile declares (``campaign.retry``), merged through ``extends``.

``on`` names the final outcomes that earn another attempt (the categories listen folds a call's
callbacks into, ``runner.outcomes.record.classify``), ``after`` the least time between two
attempts, ``max_attempts`` the calls per number in one batch, the first included. The cap
across batches is the calling policy's ``max_attempts_per_24h`` (``campaign.policy``): one key
for one idea, so a campaign cannot state two different 24-hour caps. Each setting keeps the
``file:line:col`` that set it, for ``explain`` and ``diff``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from runner import codes
from runner.campaign.policy import merged_campaign, where
from runner.diagnostics import Diagnostic, ProfileError
from runner.profiles.merge import Path, Provenance, origin_of
from runner.profiles.store import Store

ROOT: Path = ("campaign", "retry")
KEYS = ("on", "after", "max_attempts")
MAX_AFTER = timedelta(days=30)  # a retry a month later is another campaign
_DURATION = re.compile(r"^([0-9]{1,7})([smhd])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_after(text: str) -> timedelta | None:
    """``2h`` -> 2 hours; None for text the schema refuses too."""
    match = _DURATION.match(text)
    if match is None:
        return None
    return timedelta(seconds=int(match.group(1)) * _UNIT[match.group(2)])


def show_after(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@dataclass(frozen=True)
class RetryRule:
    """A complete rule (all three settings present), with where each came from."""

    profile: str
    on: tuple[str, ...]
    after: timedelta
    max_attempts: int
    sources: dict[str, str] = field(default_factory=dict)

    def shown(self, key: str) -> Any:
        if key == "on":
            return list(self.on)
        if key == "after":
            return show_after(self.after)
        return self.max_attempts

    def as_dict(self) -> dict[str, Any]:
        return {
            key: {"value": self.shown(key), "set_by": self.sources.get(key, "")} for key in KEYS
        }

    def describe(self) -> str:
        return (
            f"retry on {', '.join(self.on)} after {show_after(self.after)}, "
            f"at most {self.max_attempts} attempt(s) per number"
        )


def resolve(store: Store, name: str) -> RetryRule | None:
    """The merged retry rule of profile ``name``, or None when it declares none. Raises
    ProfileError (file:line:col) for a rule that cannot work; the schema reported the shape of
    each value when the files were loaded."""
    document, prov = merged_campaign(store, name)
    raw = (document.get("campaign") or {}).get("retry")
    if not isinstance(raw, dict) or not raw:
        return None
    present = [k for k in KEYS if raw.get(k) is not None]
    if not present:
        return None
    missing = [k for k in KEYS if raw.get(k) is None]
    if missing:
        places = ", ".join(where(prov, (*ROOT, k)) for k in present)
        raise ProfileError(
            [
                _problem(
                    prov,
                    (*ROOT, present[0]),
                    f"campaign.retry needs on, after and max_attempts; {', '.join(missing)} "
                    f"{'is' if len(missing) == 1 else 'are'} not set (the rule is set at "
                    f"{places})",
                )
            ]
        )
    on = raw["on"]
    after = parse_after(str(raw["after"]))
    attempts = raw["max_attempts"]
    if (
        not isinstance(on, list)
        or after is None
        or not isinstance(attempts, int)
        or isinstance(attempts, bool)
    ):
        return None  # the schema reported it when the file was loaded
    if after > MAX_AFTER:
        raise ProfileError(
            [
                _problem(
                    prov,
                    (*ROOT, "after"),
                    f"campaign.retry.after {raw['after']} is longer than "
                    f"{MAX_AFTER.days} days; a retry that late belongs to another batch",
                )
            ]
        )
    sources = {key: where(prov, (*ROOT, key)) for key in KEYS}
    return RetryRule(name, tuple(str(o) for o in on), after, attempts, sources)


def _problem(prov: Provenance, path: Path, message: str) -> Diagnostic:
    hit = origin_of(prov, path)
    if hit is None or hit[0].source is None:
        return Diagnostic(message, codes.RETRY_VALUE)
    return hit[0].source.diag(path, message, codes.RETRY_VALUE)


def text(rule: RetryRule | None, cap: tuple[int, str] | None) -> str:
    """explain's retry section: each setting, its value and where it was set, and the 24-hour
    cap that bounds the retries across batches."""
    if rule is None:
        return ""
    import json

    lines = [("RETRY", "VALUE", "SET BY")]
    for key in KEYS:
        shown = rule.shown(key)
        lines.append(
            (key, shown if isinstance(shown, str) else json.dumps(shown), rule.sources[key])
        )
    if cap is not None:
        lines.append(("max_attempts_per_24h", str(cap[0]), cap[1]))
    else:
        lines.append(("max_attempts_per_24h", "-", "not set (campaign.policy); no 24-hour cap"))
    widths = [max(len(line[i]) for line in lines) for i in range(2)]
    out = "".join(f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c}".rstrip() + "\n" for a, b, c in lines)
    return "\n" + out
