"""``--dry-run``: resolve and validate every row and show what would be sent.

No ledger, no claim, no request. Each row is checked on its own (``check``: render, validate,
the policy's verdict), which a long file spreads over several processes (runner.batch.dryfan);
what depends on the rows before it (duplicates, the counts, the order of the output) is settled
here, in the main process, in row order, so the output is the same either way. Duplicates are
found with a throwaway SQLite table, not a set in memory, so a long file keeps memory flat.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from runner import secrets
from runner.batch import dryfan
from runner.batch.contacts import read_rows
from runner.batch.model import Hooks, Options, Outcome, RowEvent
from runner.batch.rowcheck import DEFERRED, REFUSED, SEND, Checked
from runner.campaign.guard import Guard
from runner.exitcodes import ExitCode
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
    rows = read_rows(opts.contacts, opts.to_column)
    results = dryfan.checked(composed, opts, guard, hooks, rows)
    try:
        stopped = _settle(results, seen, stats, hooks)
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            close()  # stops the worker processes, whatever ended the run
        seen.close()
    if stopped:
        return Outcome(None, dry_run=stats, stopped=stopped, stop_code=int(ExitCode.INTERRUPTED))
    return Outcome(None, dry_run=stats)


def _settle(
    blocks: Iterable[list[Checked]],
    seen: sqlite3.Connection,
    stats: dict[str, int],
    hooks: Hooks,
) -> str:
    """Settle the checked rows in row order; returns why the run stopped early, or ""."""
    for block in blocks:
        # A worker's block usually holds no number seen before: one statement says so.
        fresh = len(block) > 1 and _all_new(seen, block)
        for item in block:
            if _one(item, fresh, seen, stats, hooks):
                return hooks.stopper.reason or "interrupted"
    return ""


def _one(
    item: Checked, fresh: bool, seen: sqlite3.Connection, stats: dict[str, int], hooks: Hooks
) -> bool:
    """Settle one row; True when the run must stop (Ctrl-C)."""
    line, kind, e164, payload, diagnostics, found = item
    if found:
        secrets.remember(*found)  # as prepare_row did in the worker
    stats["rows"] += 1
    if kind == REFUSED:
        stats["invalid"] += 1
        hooks.on_row(RowEvent(line, "invalid", payload, diagnostics))
    elif not fresh and (first := _first(seen, e164, line)) is not None:
        stats["duplicate"] += 1
        message = f"{mask(e164)} is also on row {first}; called once"
        hooks.on_row(RowEvent(line, "duplicate", message))
    elif kind == SEND:
        stats["send"] += 1
        if isinstance(payload, str):
            hooks.on_dry_run_text(line, e164, payload)
        else:
            hooks.on_dry_run(line, e164, payload)
    elif kind == DEFERRED:
        stats["deferred"] += 1
        hooks.on_row(RowEvent(line, "deferred", payload))
    else:
        stats[kind] += 1
        hooks.on_row(RowEvent(line, kind, payload))
    return hooks.stopper.stopping


def _all_new(seen: sqlite3.Connection, block: list[Checked]) -> bool:
    """Record every number of ``block`` as seen, if none of them was seen before (nor twice in
    the block), and say so; else record nothing (each row is then looked up in turn)."""
    numbers = [(item[2], item[0]) for item in block if item[1] != REFUSED]
    seen.execute("SAVEPOINT block")
    added = seen.executemany("INSERT OR IGNORE INTO seen VALUES (?, ?)", numbers).rowcount
    if added == len(numbers):
        seen.execute("RELEASE block")
        return True
    seen.execute("ROLLBACK TO block")
    seen.execute("RELEASE block")
    return False


def _first(seen: sqlite3.Connection, e164: str, line: int) -> int | None:
    """The row that already holds ``e164``, or None (and ``line`` now holds it)."""
    added = seen.execute("INSERT OR IGNORE INTO seen VALUES (?, ?)", (e164, line))
    if added.rowcount:
        return None
    found = seen.execute("SELECT row_no FROM seen WHERE e164 = ?", (e164,)).fetchone()
    return int(found[0])
