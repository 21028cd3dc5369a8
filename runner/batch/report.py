"""The end-of-run summary (every row accounted for), the exit code, and the CSV report."""

from __future__ import annotations

import csv
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any

from runner.batch.ledger import Ledger, RunnerShare
from runner.batch.ledger.outcomes import OutcomeCounts
from runner.exitcodes import ExitCode
from runner.outcomes.record import OUTCOMES

REPORT_COLUMNS = (
    "row",
    "to",
    "state",
    "skip_kind",
    "reason",
    "call_sid",
    "http_status",
    "error_code",
    "attempts",
    "sent_at",
    "updated_at",
    "outcome",
    "call_status",
    "answered_by",
    "duration",
    "attempt_outcomes",  # each attempt: "1 no-answer; 2 human" (campaign.retry)
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class Summary:
    batch_id: str
    profile: str
    contacts: str
    rows_total: int | None
    counts: dict[str, int]
    skipped_by_kind: dict[str, int] = field(default_factory=dict)
    interrupted: bool = False
    running: bool = False  # another process holds the batch (batch-status)
    runners: list[RunnerShare] = field(default_factory=list)  # a shared ledger's runners
    outcomes: OutcomeCounts = field(default_factory=OutcomeCounts)
    # Every attempt of the rows called more than once (Ledger.attempts).
    retried: list[dict[str, Any]] = field(default_factory=list)

    @property
    def recorded(self) -> int:
        return sum(self.counts.values())

    @property
    def not_read(self) -> int | None:
        if self.rows_total is None:
            return None
        return max(0, self.rows_total - self.recorded)

    @property
    def invalid(self) -> int:
        return self.skipped_by_kind.get("invalid", 0)

    def exit_code(self) -> ExitCode:
        """Precedence: unknown (5), interrupted (130), not finished (6: rows deferred by the
        window, pending after --max-calls or a stop, not reached, or not placed according to
        batch-reconcile), failed (4), invalid rows (1), else 0. "Not finished" outranks the
        permanent outcomes so a scheduler can re-run the same command while it exits 6; the
        finished batch then reports how it ended."""
        c = self.counts
        unknown = c["unknown"] + (0 if self.running else c["dialing"])
        if unknown:
            return ExitCode.UNKNOWN
        if self.interrupted:
            return ExitCode.INTERRUPTED
        waiting = c["pending"] or c["deferred"] or c["dialing"] or c.get("not-placed", 0)
        if waiting or (self.not_read or 0):
            return ExitCode.UNREACHABLE
        if c["failed"]:
            return ExitCode.REJECTED
        if self.invalid:
            return ExitCode.INVALID
        return ExitCode.OK

    def as_dict(self) -> dict[str, object]:
        """The summary as data (``-o json``): every row of the file is in one of the counts,
        or in ``not_reached``."""
        return {
            "batch_id": self.batch_id,
            "profile": self.profile,
            "contacts": self.contacts,
            "rows": self.rows_total,
            "counts": dict(self.counts),
            "skipped_by_kind": dict(self.skipped_by_kind),
            "not_reached": self.not_read,
            "running": self.running,
            "interrupted": self.interrupted,
            "exit_code": int(self.exit_code()),
            # What the callbacks said about the placed rows (listen, batch --listen).
            "outcomes": {key: self.outcomes.counts.get(key, 0) for key, _ in OUTCOMES},
            "callbacks_heard": self.outcomes.heard,
            # Rows called more than once (campaign.retry, --redial-unknown), with each attempt.
            "retried": retried_rows(self.retried),
            # A shared (PostgreSQL) ledger's runners and the rows each dialled; [] otherwise.
            "runners": [
                {
                    "runner": r.runner,
                    "label": r.label,
                    "started_at": r.started_at,
                    "running": r.alive,
                    "ended": r.ended or None,
                    "counts": dict(r.states),
                }
                for r in self.runners
            ],
        }

    def lines(self) -> list[str]:
        c = self.counts
        total = "?" if self.rows_total is None else str(self.rows_total)
        out = [
            f"batch {self.batch_id[:12]}  profile {self.profile}  contacts {self.contacts}"
            + ("  (running)" if self.running else ""),
            f"  rows      {total:>7}",
            f"  placed    {c['placed']:>7}",
            f"  failed    {c['failed']:>7}",
            f"  unknown   {c['unknown']:>7}"
            + (
                "  (sent; the call may have been placed: check before --redial-unknown)"
                if c["unknown"]
                else ""
            ),
        ]
        kinds = ", ".join(f"{k} {n}" for k, n in self.skipped_by_kind.items())
        out.append(f"  skipped   {c['skipped']:>7}" + (f"  ({kinds})" if kinds else ""))
        if c["dialing"]:
            what = "in flight" if self.running else "left by a run that ended; unknown on resume"
            out.append(f"  dialing   {c['dialing']:>7}  ({what})")
        out.append(
            f"  deferred  {c['deferred']:>7}"
            + ("  (outside the calling window: run again later)" if c["deferred"] else "")
        )
        out.append(f"  pending   {c['pending']:>7}")
        if c.get("not-placed"):
            out.append(
                f"  not placed {c['not-placed']:>6}  (batch-reconcile found no call: "
                "call them with --redial-unknown)"
            )
        if self.not_read:
            out.append(f"  not reached {self.not_read:>5}  (the run stopped before these rows)")
        if len(self.runners) > 1:
            out.extend(self._shares())
        if self.outcomes.heard:
            out.extend(self.outcome_lines())
        if self.retried:
            out.extend(self.attempt_lines())
        return out

    def attempt_lines(self) -> list[str]:
        """One line per row called more than once, with each attempt's outcome."""
        from runner.phone import mask

        rows = retried_rows(self.retried)
        out = [f"  attempts (rows called more than once: {len(rows)})"]
        for row in rows[:MAX_ATTEMPT_LINES]:
            out.append(f"    row {row['row']:<5} {mask(row['to'] or '')}  {attempt_text(row)}")
        if len(rows) > MAX_ATTEMPT_LINES:
            out.append(f"    ... {len(rows) - MAX_ATTEMPT_LINES} more (--report has every row)")
        return out

    def outcome_lines(self) -> list[str]:
        """What the callbacks said (shown once any callback for the batch was recorded)."""
        o = self.outcomes
        out = [f"  outcomes (callbacks heard for {o.heard} of {o.placed} placed)"]
        for key, label in OUTCOMES:
            count = o.counts.get(key, 0)
            if count or key not in ("answered", "canceled"):
                out.append(f"    {label:<26}{count:>7}")
        return out

    def _shares(self) -> list[str]:
        """Each runner of a shared batch and the rows it dialled."""
        alive = sum(1 for r in self.runners if r.alive)
        out = [f"  runners   {len(self.runners):>7}  ({alive} running)"]
        for r in self.runners:
            counts = ", ".join(
                f"{state} {r.states[state]}"
                for state in ("placed", "failed", "unknown", "dialing")
                if r.states.get(state)
            )
            status = "running" if r.alive else f"ended: {r.ended or 'done'}"
            out.append(f"    {r.runner[:8]}  {r.label}: {counts or 'nothing dialled'} ({status})")
        return out


def summarise(
    ledger: Ledger, batch_id: str, *, interrupted: bool = False, running: bool = False
) -> Summary:
    info = ledger.batch(batch_id)
    assert info is not None
    return Summary(
        batch_id=batch_id,
        profile=info.profile,
        contacts=info.contacts,
        rows_total=info.rows_total,
        counts=ledger.counts(batch_id),
        skipped_by_kind=ledger.skip_counts(batch_id),
        interrupted=interrupted,
        running=running,
        runners=ledger.runners(batch_id),
        outcomes=ledger.outcome_counts(batch_id),
        retried=ledger.attempts(batch_id),
    )


MAX_ATTEMPT_LINES = 50
_ATTEMPT_KEYS = ("attempt", "call_sid", "state", "sent_at", "outcome")


def retried_rows(attempts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``Ledger.attempts`` grouped by row: [{row, to, attempts: [{attempt, call_sid, state,
    sent_at, outcome}]}]."""
    rows: dict[int, dict[str, Any]] = {}
    for a in attempts:
        row = rows.setdefault(
            a["row_no"], {"row": a["row_no"], "to": a.get("e164"), "attempts": []}
        )
        row["attempts"].append(
            {k: a[k] for k in ("attempt", "call_sid", "state", "sent_at", "outcome")}
        )
    return list(rows.values())


def attempt_text(row: dict[str, Any]) -> str:
    """``1 no-answer; 2 busy; 3 human``: each attempt's outcome, or its state when it placed
    no call."""
    return "; ".join(f"{a['attempt']} {_word(a)}" for a in row["attempts"])


def _word(attempt: dict[str, Any]) -> str:
    outcome = attempt["outcome"]
    if outcome is None:
        return str(attempt["state"])
    return "awaiting" if outcome == "awaiting" else str(outcome)


def escape_cell(value: object) -> str:
    """A cell a spreadsheet will show as text, never run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def write_csv(ledger: Ledger, batch_id: str, path: str) -> None:
    """Each recorded row's state, call_sid or reason, and for a placed row its outcome as the
    callbacks told it (empty until they arrive). Written to a temporary file first, so a
    half-written report never replaces a good one."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".report-", suffix=".csv", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(REPORT_COLUMNS)
            retried = {r["row"]: attempt_text(r) for r in retried_rows(ledger.attempts(batch_id))}
            for row in ledger.report_rows(batch_id):
                once = f"1 {row['outcome'] or row['state']}" if row["attempts"] == 1 else ""
                writer.writerow(
                    [
                        escape_cell(v)
                        for v in (
                            row["row_no"],
                            row["e164"],
                            row["state"],
                            row["skip_kind"],
                            row["reason"],
                            row["call_sid"],
                            row["http_status"],
                            row["error_code"],
                            row["attempts"],
                            row["sent_at"],
                            row["updated_at"],
                            row["outcome"],
                            row["call_status"],
                            row["answered_by"],
                            row["duration"],
                            retried.get(row["row_no"], once),
                        )
                    ]
                )
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
