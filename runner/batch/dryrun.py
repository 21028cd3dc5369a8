"""``--dry-run``: resolve and validate every row and show what would be sent.

No ledger, no claim, no request. Duplicates are found with a throwaway SQLite table, not a set
in memory, so a long file keeps memory flat here too.
"""

from __future__ import annotations

import sqlite3

from runner.batch.contacts import read_rows
from runner.batch.model import Hooks, Options, Outcome, RowEvent, RowInvalid
from runner.batch.rows import prepare_row
from runner.campaign.decide import RowError
from runner.campaign.guard import Guard
from runner.diagnostics import Diagnostic
from runner.flow.compose import Composed
from runner.phone import mask


def dry_run(composed: Composed, opts: Options, hooks: Hooks, guard: Guard) -> Outcome:
    """Check every row against ``composed`` (the profile composed once for the whole file)."""
    seen = sqlite3.connect("")
    # A temporary database spills to disk past its page cache; SQLite's default cache (2 MB)
    # would make a long file's peak memory 2 MB higher than a short one's.
    seen.execute("PRAGMA cache_size = -256")  # KiB
    seen.execute("CREATE TABLE seen (e164 TEXT PRIMARY KEY, row_no INTEGER) WITHOUT ROWID")
    stats = dict.fromkeys(("rows", "send", "invalid", "duplicate", "dnc", "policy", "deferred"), 0)
    try:
        for row in read_rows(opts.contacts, opts.to_column):
            stats["rows"] += 1
            try:
                job = prepare_row(composed, opts, row)
                job.facts = guard.facts(job.e164, row.values, job.zone)
            except RowError as bad:
                where = f"{opts.contacts} row {row.line}"
                diagnostics = [Diagnostic(str(bad), bad.code, origin=where)]
                stats["invalid"] += 1
                hooks.on_row(RowEvent(row.line, "invalid", str(bad), diagnostics))
                continue
            except RowInvalid as exc:
                stats["invalid"] += 1
                hooks.on_row(RowEvent(row.line, "invalid", str(exc), exc.diagnostics))
                continue
            added = seen.execute("INSERT OR IGNORE INTO seen VALUES (?, ?)", (job.e164, row.line))
            first = None
            if added.rowcount == 0:
                first = seen.execute(
                    "SELECT row_no FROM seen WHERE e164 = ?", (job.e164,)
                ).fetchone()
            if first is not None:
                stats["duplicate"] += 1
                hooks.on_row(
                    RowEvent(
                        row.line,
                        "duplicate",
                        f"{mask(job.e164)} is also on row {first[0]}; called once",
                    )
                )
                continue
            verdict = guard.judge(job.facts, hooks.now())
            if verdict.action == "skip":
                kind = guard.skip_kind(verdict)
                stats[kind] += 1
                hooks.on_row(RowEvent(row.line, kind, f"{mask(job.e164)}: {verdict.reason()}"))
                continue
            if verdict.action == "defer":
                stats["deferred"] += 1
                hooks.on_row(RowEvent(row.line, "deferred", verdict.reason()))
                continue
            stats["send"] += 1
            hooks.on_dry_run(row.line, job.e164, job.request)
    finally:
        seen.close()
    return Outcome(None, dry_run=stats)
