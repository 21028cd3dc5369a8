"""Profiles with a calling policy, shared by the campaign tests."""

from __future__ import annotations

from pathlib import Path

COMPLIANCE = """\
description: The calling policy every campaign starts from.
abstract: true
campaign:
  policy:
    hours: us-federal
    state_rules: true
    consent: required
"""

OFFER = """\
description: A telemarketing offer.
extends: base/compliance
connection_id: "conn-offer"
variables:
  name:
    required: true
    example: Ada
call:
  From: "+13120001234"
  AIAssistantId: "assistant-offer"
  AIAssistantDynamicVariables:
    name: "{{ name }}"
campaign:
  policy:
    purpose: telemarketing
"""

REMINDER = """\
description: An appointment reminder (informational).
extends: base/compliance
connection_id: "conn-remind"
call:
  From: "+13120001234"
  AIAssistantId: "assistant-remind"
campaign:
  policy:
    purpose: informational
    quiet_days: [2026-12-25]
"""


def write_campaign_profiles(root: Path) -> Path:
    """profiles/base/compliance.yaml, profiles/offer.yaml, profiles/reminder.yaml under root."""
    profiles = root / "profiles"
    for name, text in {
        "base/compliance": COMPLIANCE,
        "offer": OFFER,
        "reminder": REMINDER,
    }.items():
        path = profiles / f"{name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return profiles
