"""The shapes shared by lint rules: a rule's entry in the table, and what a rule reports."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from runner.profiles.merge import Path, Provenance

Scope = Literal["file", "effective", "store", "schema"]


@dataclass(frozen=True)
class Finding:
    """A rule's verdict: the offending path (in the file, or in the merged document for
    effective rules), the message, and whether to point at the key rather than the value."""

    path: Path
    message: str
    at_key: bool = True


@dataclass(frozen=True)
class Effective:
    """A runnable profile after merging its extends chain: what the API will be sent."""

    name: str
    document: dict[str, Any]
    provenance: Provenance

    @property
    def call(self) -> dict[str, Any]:
        call = self.document.get("call")
        return call if isinstance(call, dict) else {}

    def where(self, field: str) -> str:
        """``file:line:col`` of the value of call field ``field`` (for messages)."""
        from runner.profiles.merge import origin_of

        hit = origin_of(self.provenance, ("call", field))
        return hit[0].where(("call", field)) if hit else "?"


@dataclass(frozen=True)
class Rule:
    code: str
    severity: Literal["error", "warning"]
    scope: Scope
    summary: str  # what the rule finds, one line
    why: str  # why it matters, one line
    # Findings, or (profile, finding) pairs for store rules; None: reported elsewhere.
    check: Callable[..., Iterable[Any]] | None = None


def rule_table(rules: Iterable[Rule]) -> list[dict[str, str]]:
    return [
        {"code": r.code, "severity": r.severity, "summary": r.summary, "why": r.why} for r in rules
    ]
