"""The calling policy as a batch applies it: once when a row is read (skip, defer or admit),
again when a worker is about to dial (the clock moved), and the 24-hour cap at the claim, where
the ledger counts earlier calls under its write lock.

A profile without a policy still gets the batch's own guardrails through here (the do-not-call
list, ``--window``), so every skip and deferral carries a rule and its source.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from runner.campaign.decide import row_facts
from runner.campaign.policy import Hours, Policy, resolve
from runner.campaign.retry import RetryRule
from runner.campaign.retry import resolve as resolve_retry
from runner.campaign.verdict import (
    CODE_DNC,
    CODE_REVOKED,
    CODE_ZONE,
    Facts,
    Verdict,
    caps,
    judge,
)

if TYPE_CHECKING:
    from runner.batch.dnc import DoNotCall
    from runner.batch.window import Window
    from runner.profiles.store import Store


@dataclass(frozen=True)
class Cap:
    limit: int
    rule: str  # "fl-attempts: Fla. Stat. 501.616(6)(b)", for the ledger's reason


class Guard:
    def __init__(self, policy: Policy, dnc: DoNotCall | None = None):
        self.policy = policy
        self.dnc = dnc
        self.replaced = ""  # the profile's hours that --window replaced, and where they were set
        self.retry: RetryRule | None = None  # campaign.retry, for a batch

    @classmethod
    def for_batch(
        cls, store: Store, profile: str, window: Window | None, dnc: DoNotCall | None
    ) -> Guard:
        """The profile's policy, with ``--window`` replacing its hours for this run."""
        policy = resolve(store, profile)
        replaced = ""
        if window is not None:
            if policy.hours is not None:
                replaced = f"hours {policy.shown('hours')} set at {policy.source('hours')}"
            flag = f"--window {window}"
            policy = policy.with_window(Hours(window.start, window.end), flag)
        guard = cls(policy, dnc)
        guard.replaced = replaced
        guard.retry = resolve_retry(store, profile)
        return guard

    def facts(self, e164: str, values: Mapping[str, str], zone: str | None) -> Facts:
        """Raises RowError for a state or consent cell that cannot be read."""
        return row_facts(e164, values, zone, self.dnc)

    def judge(self, facts: Facts, now: datetime) -> Verdict:
        return judge(facts, self.policy, now)

    def cap(self, facts: Facts) -> Cap | None:
        """The strictest 24-hour cap for this callee (checked by the ledger at the claim)."""
        found = caps(facts, self.policy)
        if not found:
            return None
        limit = min(cap for _, cap, _ in found)
        rules = "; ".join(f"{rule}: {citation}" for rule, cap, citation in found if cap == limit)
        return Cap(limit, rules)

    @staticmethod
    def skip_kind(verdict: Verdict) -> str:
        """How the ledger files a skip: ``dnc`` for do-not-call entries, ``invalid`` for a row
        that needs a timezone column (the contacts file must be fixed), else ``policy``."""
        if verdict.code in (CODE_DNC, CODE_REVOKED):
            return "dnc"
        return "invalid" if verdict.code == CODE_ZONE else "policy"
