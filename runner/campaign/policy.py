"""The calling policy a profile declares (``campaign.policy``), merged through ``extends``.

Each setting keeps where it came from (``file:line:col``, or the flag that replaced it for one
run), so every decision can say which reviewed line made it. The block is merged like the rest
of a profile: mappings merge, lists and scalars replace, ``null`` removes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time
from typing import Any

from runner import codes
from runner.diagnostics import Diagnostic, ProfileError
from runner.profiles.merge import Layer, Path, Provenance, merge, origin_of
from runner.profiles.resolve import chain
from runner.profiles.store import Store

CODE_POLICY = codes.POLICY_VALUE
ROOT: Path = ("campaign", "policy")
KEYS = ("hours", "state_rules", "consent", "purpose", "max_attempts_per_24h", "quiet_days")
US_FEDERAL = "us-federal"


@dataclass(frozen=True)
class Setting:
    value: Any
    source: str  # "profiles/x.yaml:4:10", or the flag that set it for this run


@dataclass(frozen=True)
class Hours:
    start: time
    end: time  # exclusive; an end before the start wraps past midnight (--window only)
    federal: bool = False

    def contains(self, local: time) -> bool:
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True)
class Policy:
    """Settings present in the merged profile (absent ones are simply not in ``settings``)."""

    profile: str
    settings: dict[str, Setting] = field(default_factory=dict)

    def get(self, key: str) -> Any:
        found = self.settings.get(key)
        return None if found is None else found.value

    def source(self, key: str) -> str:
        found = self.settings.get(key)
        return "" if found is None else found.source

    @property
    def empty(self) -> bool:
        return not self.settings

    @property
    def hours(self) -> Hours | None:
        value = self.get("hours")
        return value if isinstance(value, Hours) else None

    @property
    def state_rules(self) -> bool:
        return self.get("state_rules") is True

    @property
    def consent_required(self) -> bool:
        return self.get("consent") == "required"

    @property
    def telemarketing(self) -> bool:
        return self.get("purpose") == "telemarketing"

    @property
    def max_attempts(self) -> int | None:
        value = self.get("max_attempts_per_24h")
        return value if isinstance(value, int) else None

    @property
    def quiet_days(self) -> tuple[date, ...]:
        value = self.get("quiet_days")
        return tuple(value) if isinstance(value, tuple) else ()

    def with_window(self, hours: Hours, flag: str) -> Policy:
        """This policy with its hours replaced for one run (``--window``)."""
        return Policy(self.profile, {**self.settings, "hours": Setting(hours, flag)})

    def shown(self, key: str) -> Any:
        """A setting as plain data, for explain and plan files."""
        value = self.get(key)
        if isinstance(value, Hours):
            return US_FEDERAL if value.federal else str(value)
        if isinstance(value, tuple):
            return [d.isoformat() for d in value]
        return value

    def as_dict(self) -> dict[str, Any]:
        return {
            key: {"value": self.shown(key), "set_by": self.source(key)}
            for key in KEYS
            if key in self.settings
        }


FEDERAL_HOURS = Hours(time(8, 0), time(21, 0), federal=True)


def resolve(store: Store, name: str) -> Policy:
    """The merged policy of profile ``name``. Raises ProfileError (file:line:col) for a value
    that cannot work; schema problems were reported when the files were loaded."""
    document, prov = merged_campaign(store, name)
    raw = (document.get("campaign") or {}).get("policy") or {}
    settings: dict[str, Setting] = {}
    problems: list[Diagnostic] = []
    for key in KEYS:
        if key not in raw:
            continue
        value = _interpret(key, raw[key], prov, problems)
        if value is not None:
            settings[key] = Setting(value, _where(prov, (*ROOT, key)))
    if problems:
        raise ProfileError(problems)
    return Policy(name, settings)


def merged_campaign(store: Store, name: str) -> tuple[dict[str, Any], Provenance]:
    """The ``campaign`` blocks of the extends chain merged (mappings merge, lists and scalars
    replace, ``null`` removes), with the provenance of every value."""
    document: dict[str, Any] = {}
    prov: Provenance = {}
    for profile in chain(store, name):
        block = profile.data.get("campaign")
        if block is None:
            continue
        layer = Layer(profile.file, {"campaign": block}, kind="file", source=profile.source)
        document = merge(document, layer, prov)
    return document, prov


def where(prov: Provenance, path: Path) -> str:
    """The file:line:col that set ``path`` (several, comma-separated, for a mapping that
    two files built)."""
    return _where(prov, path)


def _where(prov: Provenance, path: Path) -> str:
    if path in prov:
        return prov[path][-1].where(path)
    # A mapping (hours: {start, end}) has no entry of its own and may come from two files.
    layers = [ls[-1] for p, ls in prov.items() if p[: len(path)] == path and ls]
    unique = list(dict.fromkeys(layers))
    if len(unique) == 1:
        return unique[0].where(path)
    places = [ls[-1].where(p) for p, ls in prov.items() if p[: len(path)] == path and ls]
    return ", ".join(dict.fromkeys(places)) or "?"


def _problem(prov: Provenance, path: Path, message: str) -> Diagnostic:
    hit = origin_of(prov, path)
    if hit is None or hit[0].source is None:
        return Diagnostic(message, CODE_POLICY, json_path=None)
    return hit[0].source.diag(path, message, CODE_POLICY)


def _interpret(key: str, value: Any, prov: Provenance, problems: list[Diagnostic]) -> Any:
    """The typed value of one setting (the schema already checked the shape)."""
    from runner.campaign.rules import parse_hhmm

    path = (*ROOT, key)
    if key == "hours":
        if value == US_FEDERAL:
            return FEDERAL_HOURS
        if not isinstance(value, dict):
            return None
        missing = [k for k in ("start", "end") if not isinstance(value.get(k), str)]
        if missing:
            problems.append(
                _problem(prov, path, f"hours needs both start and end (missing {missing[0]})")
            )
            return None
        start, end = parse_hhmm(value["start"]), parse_hhmm(value["end"])
        if start is None or end is None:
            return None  # reported by the schema
        if not start < end:
            problems.append(
                _problem(
                    prov,
                    (*path, "end"),
                    f"hours end {value['end']} is not after start {value['start']}; "
                    "calling hours lie within one local day",
                )
            )
            return None
        return Hours(start, end)
    if key == "quiet_days":
        days: list[date] = []
        for index, text in enumerate(value if isinstance(value, list) else []):
            try:
                days.append(date.fromisoformat(str(text)))
            except ValueError:
                problems.append(
                    _problem(prov, (*path, index), f"quiet day {text!r} is not a calendar date")
                )
        return tuple(sorted(days))
    if key == "max_attempts_per_24h":
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    return value
