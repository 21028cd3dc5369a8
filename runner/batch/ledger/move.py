"""``batch-migrate``: copy batches from one ledger to another (a SQLite file to the shared
PostgreSQL database, or back), every row and event as stored.

Nothing is copied unless everything can be: a batch the target already holds is refused before
the first write, and each batch is written in one transaction, so a failure leaves the target
as it was. A batch that is running is refused too: its rows are still changing.
"""

from __future__ import annotations

from dataclasses import dataclass

from runner.batch.ledger.base import BatchInfo, Ledger, LedgerError


class BatchRunning(LedgerError):
    """The batch is being run now; copy it once it ends."""


@dataclass
class Moved:
    batch_id: str
    profile: str
    rows: int


def choose(source: Ledger, prefix: str | None) -> list[BatchInfo]:
    found = [b for b in source.batches() if b.batch_id.startswith(prefix or "")]
    if not found:
        what = f"batch {prefix}" if prefix else "batch"
        raise LedgerError(f"no {what} in {source.location}")
    return found


def copy_batches(source: Ledger, target: Ledger, batches: list[BatchInfo]) -> list[Moved]:
    for info in batches:
        if source.running(info.batch_id):
            raise BatchRunning(
                f"batch {info.batch_id[:12]} is running on {source.location}; copy it when it "
                "has ended (nothing was copied)"
            )
        if target.batch(info.batch_id) is not None:
            raise LedgerError(
                f"{target.location} already holds batch {info.batch_id[:12]}; nothing was "
                "copied (a batch is moved once: resume it where it is now)"
            )
    moved = []
    for info in batches:
        rows = target.load(source.dump(info.batch_id))
        moved.append(Moved(info.batch_id, info.profile, rows))
    return moved
