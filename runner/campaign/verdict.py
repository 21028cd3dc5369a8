"""May this number be called now? The verdict and every rule that decided it.

Pure: facts and a time in, a verdict out. Skips are for reasons waiting will not change (no
consent, do-not-call); deferrals are for time (outside calling hours, a quiet day, the 24-hour
cap), so a later run may call the row. Every finding names its rule and the text it comes from:
a citation for the built-in rules, the profile line for the profile's own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Literal

from runner import codes
from runner.campaign import rules
from runner.campaign.allowed import allowed_at, local_time, next_allowed
from runner.campaign.callee import Callee
from runner.campaign.consent import Evidence
from runner.campaign.policy import Hours, Policy

Action = Literal["call", "skip", "defer"]

CODE_NO_CONSENT = codes.NO_CONSENT
CODE_WRITTEN = codes.WRITTEN_CONSENT
CODE_DNC = codes.ON_DNC
CODE_REVOKED = codes.CONSENT_REVOKED
CODE_HOURS = codes.OUTSIDE_HOURS
CODE_QUIET = codes.QUIET_DAY
CODE_CAP = codes.ATTEMPTS_CAP
CODE_ZONE = codes.UNKNOWN_ZONE


@dataclass(frozen=True)
class Finding:
    rule: str  # "fl-hours", "policy.hours", ...
    ok: bool
    effect: str  # what a failure does: "skip" | "defer"
    message: str
    citation: str  # the rule's source text, or the profile line that declared it
    code: str = ""

    def text(self) -> str:
        return f"{self.message} [{self.rule}: {self.citation}]"

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "ok": self.ok,
            "effect": None if self.ok else self.effect,
            "message": self.message,
            "citation": self.citation,
            "code": None if self.ok else self.code,
        }


@dataclass(frozen=True)
class DncEntry:
    revoked_on: date | None = None  # a dated entry records when consent was revoked
    source: str = ""  # the list's file


@dataclass(frozen=True)
class Facts:
    callee: Callee
    consent: Evidence = field(default_factory=Evidence)
    dnc: DncEntry | None = None
    attempts_24h: int | None = None  # calls to the number in the last 24 h; None: not known


@dataclass(frozen=True)
class Verdict:
    action: Action
    findings: tuple[Finding, ...]
    callee: Callee
    at: datetime
    next_allowed: datetime | None = None

    @property
    def callable(self) -> bool:
        return self.action == "call"

    @property
    def blocking(self) -> list[Finding]:
        return [f for f in self.findings if not f.ok]

    @property
    def code(self) -> str:
        first = next(iter(self.blocking), None)
        return first.code if first else ""

    def reason(self) -> str:
        """One line for the ledger and reports: every failing rule with its citation."""
        text = "; ".join(f.text() for f in self.blocking)
        if self.next_allowed is not None:
            text += f"; next allowed {self.next_allowed:%Y-%m-%dT%H:%MZ}"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {
            "number": self.callee.e164,
            "at": self.at.astimezone(timezone.utc).isoformat().replace("+00:00", "Z"),
            "verdict": self.action,
            "callable": self.callable,
            "state": self.callee.describe_state(),
            "time_zones": list(self.callee.zones),
            "next_allowed": None
            if self.next_allowed is None
            else self.next_allowed.isoformat().replace("+00:00", "Z"),
            "rules": [f.as_dict() for f in self.findings],
        }


def judge(facts: Facts, policy: Policy, at: datetime) -> Verdict:
    """The verdict for one number at instant ``at`` (timezone-aware)."""
    return Judge(policy)(facts, at)


class Judge:
    """``judge`` for one policy and many numbers (a batch's rows): the rules that apply
    depend only on the policy and the callee's states, so they are looked up once per set of
    states, not once per row. Same verdicts as ``judge`` (tests/adversarial/
    test_dryrun_fastpaths.py)."""

    def __init__(self, policy: Policy):
        self.policy = policy
        self.quiet = policy.quiet_days
        self._hours: dict[frozenset[str] | None, list[tuple[str, Hours, str]]] = {}
        self._caps: dict[frozenset[str] | None, list[tuple[str, int, str]]] = {}
        # No rule but the do-not-call list can apply: no consent, hours, quiet days or caps.
        self.inert = not (
            policy.consent_required
            or policy.hours is not None
            or policy.state_rules
            or policy.max_attempts is not None
            or self.quiet
        )

    def hour_rules(self, callee: Callee) -> list[tuple[str, Hours, str]]:
        states = callee.states
        found = self._hours.get(states)
        if found is None:
            found = self._hours[states] = hour_rules(self.policy, callee)
        return found

    def caps(self, facts: Facts) -> list[tuple[str, int, str]]:
        states = facts.callee.states
        found = self._caps.get(states)
        if found is None:
            found = self._caps[states] = caps(facts, self.policy)
        return found

    def __call__(self, facts: Facts, at: datetime) -> Verdict:
        if self.inert:
            listed = _dnc(facts)
            action: Action = "skip" if any(not f.ok for f in listed) else "call"
            return Verdict(action, tuple(listed), facts.callee, at)
        policy = self.policy
        callee = facts.callee
        findings: list[Finding] = []
        findings.extend(_dnc(facts))
        findings.extend(_consent(facts.consent, policy, at))
        windows = self.hour_rules(callee)
        quiet = self.quiet
        if windows or quiet:
            zone_problem = _zone_problem(callee)
            zones = callee.zones
            closed = len(zones) > 1 and bool(windows) and not allowed_at(windows, (), zones, at)
            if zone_problem is None and closed and next_allowed(windows, (), zones, at) is None:
                zone_problem = _never_together(callee)
            if zone_problem is not None:
                findings.append(zone_problem)
            else:
                findings.extend(_hours(windows, callee.zones, at))
                findings.extend(_quiet(quiet, policy.source("quiet_days"), callee.zones, at))
        findings.extend(_caps(facts, self.caps(facts)))
        failed = [f for f in findings if not f.ok]
        action = "call"
        if any(f.effect == "skip" for f in failed):
            action = "skip"
        elif failed:
            action = "defer"
        later = None
        if action == "defer" and all(f.code in (CODE_HOURS, CODE_QUIET) for f in failed):
            later = next_allowed(windows, quiet, callee.zones, at)
        return Verdict(action, tuple(findings), callee, at, later)


# --- the rules ---------------------------------------------------------------------------


def _dnc(facts: Facts) -> list[Finding]:
    entry = facts.dnc
    if entry is None:
        return []
    if entry.revoked_on is None:
        rule = rules.federal("dnc")
        message = f"on the do-not-call list {entry.source}".rstrip()
        return [Finding(rule.id, False, "skip", message, rule.citation, CODE_DNC)]
    rule = rules.federal("revocation")
    given = facts.consent
    revoked = entry.revoked_on.isoformat()
    if given.kind is not None and given.on is not None and given.on > entry.revoked_on:
        message = f"consent revoked on {revoked}, given again on {given.on.isoformat()}"
        return [Finding(rule.id, True, "skip", message, rule.citation)]
    message = f"consent revoked on {revoked} (do-not-call list {entry.source})".replace(" )", ")")
    return [Finding(rule.id, False, "skip", message, rule.citation, CODE_REVOKED)]


def _consent(evidence: Evidence, policy: Policy, at: datetime) -> list[Finding]:
    if not policy.consent_required:
        return []
    declared = f"consent: required at {policy.source('consent')}"
    written = policy.telemarketing
    rule = rules.federal("written-consent" if written else "consent")
    citation = f"{rule.citation}; {declared}"
    if written:
        citation += f", purpose: telemarketing at {policy.source('purpose')}"

    def fail(message: str, code: str = CODE_NO_CONSENT) -> list[Finding]:
        return [Finding(rule.id, False, "skip", message, citation, code)]

    if evidence.kind is None:
        return fail(
            "no consent evidence: the row needs consent (written or express) and consent_date"
        )
    if evidence.on is None:
        return fail(f"{evidence.kind} consent without a consent_date")
    if evidence.on > at.astimezone(timezone.utc).date() + timedelta(days=1):
        return fail(f"consent_date {evidence.on.isoformat()} is in the future")
    if written and evidence.kind != "written":
        return fail(
            "telemarketing needs prior express written consent; "
            f"the row has {evidence.kind} consent",
            CODE_WRITTEN,
        )
    return [Finding(rule.id, True, "skip", evidence.describe(), citation)]


def hour_rules(policy: Policy, callee: Callee) -> list[tuple[str, Hours, str]]:
    """(rule id, hours, citation) for every calling-hours rule that applies to ``callee``."""
    out: list[tuple[str, Hours, str]] = []
    own = policy.hours
    if own is not None:
        source = policy.source("hours")
        if own.federal:
            fed = rules.federal("hours")
            out.append((fed.id, own, f"{fed.citation}; hours: us-federal at {source}"))
        else:
            label = source if source.startswith("--") else f"hours at {source}"
            out.append(("policy.hours", own, label))
    if policy.state_rules:
        fed = rules.federal("hours")
        if not any(rule_id == fed.id for rule_id, _, _ in out):
            out.append((fed.id, _hours_of(fed), fed.citation))
        states = callee.states
        for rule in rules.state_rules(states, "hours"):
            note = "; state unknown: strictest candidate applies" if states is None else ""
            out.append((rule.id, _hours_of(rule), rule.citation + note))
    return out


def _hours_of(rule: rules.Rule) -> Hours:
    assert rule.start is not None and rule.end is not None
    return Hours(rule.start, rule.end)


def _zone_problem(callee: Callee) -> Finding | None:
    """A callee whose local time cannot be known: a number that says nothing about where the
    callee is (toll-free, premium, +800...) or one with no known zone. Calling hours can never
    allow it without the row's own zone, so it is skipped and reported, never deferred for
    ever (a number in several zones is judged in all of them: see ``_never_together``)."""
    if callee.zone_given:
        return None
    from runner.batch.window import non_geographic

    kind = non_geographic(callee.e164)
    if kind is not None:
        what = f"{kind} has no time zone of its own"
    elif not callee.zones:
        what = "the callee's time zone is unknown"
    else:
        return None
    return _no_zone(what)


def _never_together(callee: Callee) -> Finding:
    zones = callee.zones
    return _no_zone(
        f"the number's {len(zones)} possible time zones ({zones[0]} ... {zones[-1]}) are never "
        "all inside the calling hours at once"
    )


def _no_zone(what: str) -> Finding:
    return Finding(
        "time-zone",
        False,
        "skip",
        f"{what}: add a timezone column (IANA name) to call it under calling hours",
        "calling hours are in the callee's local time",
        CODE_ZONE,
    )


def _hours(
    windows: list[tuple[str, Hours, str]], zones: tuple[str, ...], at: datetime
) -> list[Finding]:
    found: list[Finding] = []
    for rule_id, hours, citation in windows:
        locals_ = [(zone, local_time(at, zone)) for zone in zones]
        outside = [(zone, t) for zone, t in locals_ if not hours.contains(t.time())]
        if outside:
            zone, t = outside[0]
            message = f"{t:%H:%M} in {zone} is outside {hours}"
            found.append(Finding(rule_id, False, "defer", message, citation, CODE_HOURS))
        else:
            shown = ", ".join(f"{t:%H:%M} in {zone}" for zone, t in locals_)
            found.append(Finding(rule_id, True, "defer", f"{shown}: within {hours}", citation))
    return found


def _quiet(
    days: tuple[date, ...], source: str, zones: tuple[str, ...], at: datetime
) -> list[Finding]:
    if not days:
        return []
    citation = f"quiet_days at {source}"
    for zone in zones:
        local = local_time(at, zone).date()
        if local in days:
            message = f"{local.isoformat()} is a quiet day ({zone})"
            return [Finding("policy.quiet_days", False, "defer", message, citation, CODE_QUIET)]
    return [Finding("policy.quiet_days", True, "defer", "not a quiet day", citation)]


def caps(facts: Facts, policy: Policy) -> list[tuple[str, int, str]]:
    """(rule id, calls allowed per 24 h, citation) for every cap that applies to the callee."""
    found: list[tuple[str, int, str]] = []
    if policy.max_attempts is not None:
        source = policy.source("max_attempts_per_24h")
        found.append(("policy.max_attempts_per_24h", policy.max_attempts, f"at {source}"))
    if policy.state_rules:
        states = facts.callee.states
        for rule in rules.state_rules(states, "attempts"):
            note = "; state unknown: strictest candidate applies" if states is None else ""
            assert rule.max_per_24h is not None
            found.append((rule.id, rule.max_per_24h, rule.citation + note))
    return found


def _caps(facts: Facts, every: list[tuple[str, int, str]]) -> list[Finding]:
    found: list[Finding] = []
    count = facts.attempts_24h
    for rule_id, cap, citation in every:
        if count is None:
            message = f"at most {cap} call(s) per 24 h (not counted here: no call history given)"
            found.append(Finding(rule_id, True, "defer", message, citation))
        elif count >= cap:
            message = f"{count} call(s) to this number in the last 24 h; at most {cap} allowed"
            found.append(Finding(rule_id, False, "defer", message, citation, CODE_CAP))
        else:
            message = f"{count} call(s) in the last 24 h, under the cap of {cap}"
            found.append(Finding(rule_id, True, "defer", message, citation))
    return found
