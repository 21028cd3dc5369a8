"""Ledger writes of several rows at a time, what they carry, and what a claim comes to.

A backend that can do each group in one transaction overrides these (the SQLite ledger: one
fsync covers many claims); the defaults here go row by row through the single-row operations,
so a backend without its own grouping (PostgreSQL, with its leases) keeps its own semantics.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any


@dataclass
class Claim:
    # "claimed" | "repeat" | "capped" (the 24 h cap: the row is deferred) | "gone" | "lapsed"
    # (this runner's lease ran out)
    outcome: str
    reason: str = ""


@dataclass
class Finish:
    """Telnyx's answer for a claimed row, as ``Ledger.finish`` records it."""

    row_no: int
    state: str
    reason: str | None = None
    call_sid: str | None = None
    http_status: int | None = None
    error_code: str | None = None


@dataclass
class ClaimAsk:
    """One claim of ``write_group``. ``repeat`` is the reason when the journal of recent calls
    saw the number called by another batch: the row is skipped as a repeat instead."""

    row_no: int
    min_interval: timedelta | None
    cap: tuple[int, str] | None = None
    caller: str | None = None
    repeat: str | None = None


class RowGroups:
    """Mixed into ``Ledger``: the grouped operations, row by row."""

    state_of: Any
    add_pending: Any
    finish: Any
    claim: Any
    skip: Any

    def states_of(self, batch_id: str, rows: list[int]) -> dict[int, str]:
        """The states of those of ``rows`` the ledger has."""
        found = {row: self.state_of(batch_id, row) for row in rows}
        return {row: state for row, state in found.items() if state is not None}

    def add_pending_many(self, batch_id: str, rows: list[tuple[int, str]]) -> dict[int, int]:
        """``add_pending`` for each (row, e164): the duplicates, each with its first row."""
        duplicates: dict[int, int] = {}
        for row_no, e164 in rows:
            first = self.add_pending(batch_id, row_no, e164)
            if first is not None:
                duplicates[row_no] = first
        return duplicates

    def write_group(
        self, batch_id: str, finishes: list[Finish], claims: list[ClaimAsk], *, runner: str = ""
    ) -> list[Claim]:
        """Record ``finishes``, then make ``claims``: every answer is durable before any of the
        claims is, and each claim is durable when this returns."""
        for f in finishes:
            self.finish(
                batch_id,
                f.row_no,
                f.state,
                reason=f.reason,
                call_sid=f.call_sid,
                http_status=f.http_status,
                error_code=f.error_code,
            )
        out = []
        for ask in claims:
            if ask.repeat is not None:
                skipped = self.skip(batch_id, ask.row_no, "repeat", ask.repeat)
                out.append(Claim("repeat", ask.repeat) if skipped else Claim("gone"))
                continue
            out.append(
                self.claim(
                    batch_id,
                    ask.row_no,
                    ask.min_interval,
                    ask.cap,
                    runner=runner,
                    caller=ask.caller,
                )
            )
        return out
