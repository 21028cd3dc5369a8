"""Policies and verdicts as text: where each setting came from, and why a number may or may not
be called now. Plain strings in, plain strings out (the CLI prints them)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from runner.campaign import rules
from runner.campaign.policy import KEYS, Policy
from runner.campaign.verdict import Verdict


def _columns(lines: Sequence[tuple[str, ...]]) -> str:
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]) - 1)]
    out = []
    for line in lines:
        cells = [f"{cell:<{widths[i]}}" for i, cell in enumerate(line[:-1])]
        out.append("  ".join([*cells, line[-1]]).rstrip() + "\n")
    return "".join(out)


def applicable_table(policy: Policy) -> list[rules.Rule]:
    """The built-in rules a policy turns on (every rule when state_rules is true)."""
    if policy.state_rules:
        return list(rules.table())
    table = []
    if policy.hours is not None and policy.hours.federal:
        table.append(rules.federal("hours"))
    if policy.consent_required:
        table.append(rules.federal("written-consent" if policy.telemarketing else "consent"))
    return table


def policy_text(policy: Policy) -> str:
    """explain's policy section: each setting, its value and the file:line:col (or flag) that
    set it, then the built-in rules it turns on with their citations."""
    if policy.empty:
        return ""
    import json

    lines: list[tuple[str, ...]] = [("POLICY", "VALUE", "SET BY")]
    for key in KEYS:
        if key in policy.settings:
            shown = policy.shown(key)
            text = shown if isinstance(shown, str) else json.dumps(shown)
            lines.append((key, text, policy.source(key)))
    out = "\n" + _columns(lines)
    table = applicable_table(policy)
    if table:
        out += "\n" + _columns(
            [("RULE", "APPLIES TO", "LIMIT", "AS OF", "CITATION")]
            + [(r.id, r.where, _limit(r), r.as_of.isoformat(), r.citation) for r in table]
        )
    out += f"\nnote: {rules.NOT_LEGAL_ADVICE}\n"
    return out


def _limit(rule: rules.Rule) -> str:
    if rule.start is not None and rule.end is not None:
        return f"{rule.start:%H:%M}-{rule.end:%H:%M}"
    if rule.max_per_24h is not None:
        return f"{rule.max_per_24h} per 24 h"
    return rule.kind


def policy_json(policy: Policy) -> dict[str, Any]:
    return {
        "settings": policy.as_dict(),
        "rules": [r.as_dict() for r in applicable_table(policy)],
        "notice": rules.NOT_LEGAL_ADVICE,
    }


def verdict_text(verdict: Verdict, profile: str | None) -> str:
    from runner.phone import mask

    at = verdict.at.strftime("%Y-%m-%dT%H:%M:%SZ")
    word = {"call": "CALLABLE", "skip": "NOT CALLABLE", "defer": "NOT NOW"}[verdict.action]
    head = f"{mask(verdict.callee.e164)} at {at}: {word}"
    if profile:
        head += f" (policy of profile {profile})"
    lines = [head, f"  state:      {verdict.callee.describe_state()}"]
    zones = ", ".join(verdict.callee.zones) or "unknown"
    lines.append(f"  time zones: {zones}" + (" (given)" if verdict.callee.zone_given else ""))
    if verdict.next_allowed is not None:
        lines.append(f"  next allowed: {verdict.next_allowed:%Y-%m-%dT%H:%M:%SZ}")
    if not verdict.findings:
        lines.append("  no rule applies (the profile declares no campaign.policy)")
    for finding in verdict.findings:
        mark = "ok  " if finding.ok else finding.effect
        code = f" [{finding.code}]" if finding.code and not finding.ok else ""
        lines.append(f"  {mark:<5} {finding.rule}: {finding.message}{code}")
        lines.append(f"        {finding.citation}")
    lines.append(f"note: {rules.NOT_LEGAL_ADVICE}")
    return "\n".join(lines) + "\n"
