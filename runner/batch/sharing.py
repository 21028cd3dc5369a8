"""Several runners on one batch: which rows this runner dials, and taking over from the dead.

Every runner reads the whole contacts file and records the rows it finds (idempotently); it
then reserves the rows it will dial a small chunk at a time (``Ledger.reserve``: rows nobody
live holds, locked with ``SKIP LOCKED`` so runners never wait on each other) and hands only
those to its workers. When its pass over the file ends, it adopts rows no live runner holds any
more (a runner died, or stopped early) and reads the file again for them, and it waits while
other live runners still hold rows to dial or calls in flight: if one of them dies, its rows are
not left behind, and the runners end together, with the same summary.

A ledger one process owns (SQLite) reserves every row it is asked about and has nothing to
adopt, so there the chunk is one row and the sweep ends at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from runner.batch.ledger import Ledger

ADOPT = 256  # rows adopted at a time (each adoption reads the contacts file once more)
POLL = 0.5  # seconds between looks at the other runners while they still hold rows


def chunk_size(ledger: Ledger, concurrency: int, max_calls: int | None) -> int:
    if not ledger.shared or max_calls is not None:
        # --max-calls: read no further than the budget reaches, so the summary's "not
        # reached" stays exact.
        return 1
    return max(2, min(16, 2 * concurrency))


def dispatch(
    ledger: Ledger,
    batch: str,
    runner: str,
    jobs: list[Any],
    hand_over: Callable[[Any], bool],
    on_elsewhere: Callable[[Any], None] = lambda job: None,
) -> bool:
    """Reserve ``jobs`` and hand the ones now held by this runner to ``hand_over`` (False from
    it stops the run). Rows other runners hold go to ``on_elsewhere``."""
    if not jobs:
        return True
    mine = set(ledger.reserve(batch, runner, [job.row for job in jobs]))
    for job in jobs:
        if job.row not in mine:
            on_elsewhere(job)
        elif not hand_over(job):
            return False
    return True


def sweep(
    ledger: Ledger,
    batch: str,
    runner: str,
    *,
    rows: Callable[[], Iterable[Any]],
    admit: Callable[[Any], Any],
    hand_over: Callable[[Any], bool],
    stopping: Callable[[], bool],
    wait: Callable[[float], object],
    chunk: int,
) -> None:
    """After the first pass: adopt and dial rows no live runner holds, until none is left and
    no other live runner has any to dial or in flight."""
    if not ledger.shared:
        return
    while not stopping():
        adopted = set(ledger.adopt(batch, runner, ADOPT))
        if adopted:
            if not _again(ledger, batch, runner, adopted, rows, admit, hand_over, stopping, chunk):
                return
            continue
        if not ledger.others_busy(batch, runner):
            return
        wait(POLL)


def _again(
    ledger: Ledger,
    batch: str,
    runner: str,
    wanted: set[int],
    rows: Callable[[], Iterable[Any]],
    admit: Callable[[Any], Any],
    hand_over: Callable[[Any], bool],
    stopping: Callable[[], bool],
    chunk: int,
) -> bool:
    """Read the file once more for the adopted rows and dial them."""
    jobs: list[Any] = []
    for row in rows():
        if stopping() or not wanted:
            break
        if row.line not in wanted:
            continue
        wanted.discard(row.line)
        job = admit(row)
        if job is None:
            continue
        jobs.append(job)
        if len(jobs) >= chunk:
            if not dispatch(ledger, batch, runner, jobs, hand_over):
                return False
            jobs = []
    return dispatch(ledger, batch, runner, jobs, hand_over)
