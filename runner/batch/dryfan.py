"""A long dry run checked in several processes, its rows settled in order by the main process.

Checking a row (render, validate, the policy's facts and verdict, the output line) depends on
nothing but the row, so worker processes do it, one block of rows at a time. The main process
reads the file once, hands out blocks, and takes the results back in row order
(runner.batch.dryrun settles duplicates, counts and output there), so the output is the same
as one process's. Workers are forked: the composed profile, the options (the API key among
them) and the policy are inherited, never pickled. A block carries only its rows' cells, and
comes back as output lines and, for a row whose request holds secrets, those values (the main
process must mask them in later lines, as one process would); both travel through a pipe between
the processes, never to a file or a log. At most two blocks per worker are in flight, so memory
stays flat.

The first ``SERIAL_ROWS`` rows are checked in this process, so a short file never pays for
starting processes; a platform without ``fork``, a process already running threads, or
``--jobs 1`` keeps the whole run here. Ctrl-C reaches only the main process (workers ignore
it); workers die with the main process (Linux), and stop when the run ends however it ends.
"""

from __future__ import annotations

import os
import sys
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from runner.batch.contacts import Row
from runner.batch.rowcheck import Checked, check, serial

if TYPE_CHECKING:
    from concurrent.futures import Future

    from runner.batch.model import Hooks, Options
    from runner.campaign.guard import Guard
    from runner.flow.compose import Composed

SERIAL_ROWS = 2_000  # rows checked in this process before any worker starts
BLOCK_ROWS = 500  # rows per block handed to a worker
IN_FLIGHT = 2  # blocks per worker sent and not yet settled
# Tests only: "SERIAL_ROWS,BLOCK_ROWS[,PIDFILE]"; each worker appends its pid to PIDFILE.
TEST_HOOK = "CALLPROFILE_TEST_DRY_RUN"

Cells = tuple[int, dict[str, str], "str | None"]

# What a worker needs, set before the workers are forked (so inherited, not pickled).
_work: tuple[Composed, Options, Guard, Hooks] | None = None


class WorkerCrash(Exception):
    """A row's check failed with an error that is a bug (the worker's traceback, as text)."""


def jobs_for(opts: Options, hooks: Hooks) -> int:
    """How many worker processes a dry run may use (1: none, all in this process)."""
    if hooks.dry_run_text is None:
        return 1
    if opts.jobs is not None:
        return opts.jobs
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def checked(
    composed: Composed, opts: Options, guard: Guard, hooks: Hooks, rows: Iterable[Row]
) -> Iterator[list[Checked]]:
    """Every row checked, in row order, in blocks: one row at a time when checked here (a row is
    checked only once the one before is settled, as its secrets must be remembered in order),
    a worker's block at a time from workers."""
    jobs = jobs_for(opts, hooks)
    rows = iter(rows)
    if jobs <= 1:
        yield from _single(composed, opts, guard, hooks, rows)
        return
    serial_rows, block_rows, pidfile = _settings()
    head, error = _take(rows, serial_rows)
    yield from _single(composed, opts, guard, hooks, head)
    if error is not None:
        raise error
    first, error = _take(rows, block_rows)
    if not first and error is None:
        return
    if not _can_fork():
        yield from _single(composed, opts, guard, hooks, first)
        if error is not None:
            raise error
        yield from _single(composed, opts, guard, hooks, rows)
        return
    yield from _fanned(
        composed, opts, guard, hooks, rows, jobs, (first, error, block_rows, pidfile)
    )


def _fanned(
    composed: Composed,
    opts: Options,
    guard: Guard,
    hooks: Hooks,
    rows: Iterator[Row],
    jobs: int,
    start: tuple[list[Row], BaseException | None, int, str | None],
) -> Iterator[list[Checked]]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    global _work
    block, error, block_rows, pidfile = start
    _work = (composed, opts, guard, hooks)
    # A forked child flushes what it inherited in the standard streams' buffers when it ends.
    sys.stdout.flush()
    sys.stderr.flush()
    pool = ProcessPoolExecutor(
        jobs,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_start,
        initargs=(os.getpid(), pidfile),
    )
    # Each block sent, with its rows: should a worker die (killed, out of memory), the rows it
    # took are checked again here, so every row is still accounted for, in order.
    pending: deque[tuple[Future[tuple[list[Checked], str | None]], list[Row]]] = deque()
    try:
        try:
            while block or pending:
                while block and len(pending) < IN_FLIGHT * jobs:
                    pending.append((pool.submit(_check_block, [_cells(r) for r in block]), block))
                    block = []
                    if error is None:
                        block, error = _take(rows, block_rows)
                done, crash = pending[0][0].result()
                pending.popleft()
                yield done
                if crash is not None:
                    raise WorkerCrash(crash)
        except BrokenProcessPool:
            hooks.on_notice(
                "a worker process of the dry run ended unexpectedly; the rows left are checked "
                "in this process"
            )
            for _, sent in pending:
                yield from _single(composed, opts, guard, hooks, sent)
            yield from _single(composed, opts, guard, hooks, block)
            if error is None:
                yield from _single(composed, opts, guard, hooks, rows)
        if error is not None:  # the file stopped being readable: after every row read before
            raise error
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        _work = None


def _single(
    composed: Composed, opts: Options, guard: Guard, hooks: Hooks, rows: Iterable[Row]
) -> Iterator[list[Checked]]:
    for item in serial(composed, opts, guard, hooks, rows):
        yield [item]


def _take(rows: Iterator[Row], count: int) -> tuple[list[Row], BaseException | None]:
    """Up to ``count`` rows, and the error that stopped the reading early (raised once the rows
    read before it are settled, as one process would)."""
    block: list[Row] = []
    if count <= 0:
        return block, None
    try:
        for row in rows:
            block.append(row)
            if len(block) >= count:
                break
    except Exception as exc:
        return block, exc
    return block, None


def _cells(row: Row) -> Cells:
    return (row.line, row.values, row.problem)


def _settings() -> tuple[int, int, str | None]:
    hook = os.environ.get(TEST_HOOK)
    if not hook:
        return SERIAL_ROWS, BLOCK_ROWS, None
    parts = hook.split(",", 2)
    try:
        serial_rows, block_rows = int(parts[0]), max(1, int(parts[1]))
    except (ValueError, IndexError):
        return SERIAL_ROWS, BLOCK_ROWS, None  # not the tests' setting: the defaults
    return serial_rows, block_rows, parts[2] if len(parts) > 2 else None


def _can_fork() -> bool:
    """Forking is safe only while this process runs one thread (a lock another thread holds
    would stay held forever in the child)."""
    import multiprocessing

    return "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1


def _start(parent: int, pidfile: str | None) -> None:
    """A worker's set-up: Ctrl-C is the main process's to handle, and the worker must not
    outlive it."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with(parent)
    devnull = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 (the worker's lifetime)
    sys.stdout = sys.stderr = devnull
    assert _work is not None
    _, opts, guard, _ = _work
    if guard.dnc is not None and opts.dnc:
        # SQLite connections must not be used across fork: the worker reads its own copy.
        from runner.batch.dnc import DoNotCall

        guard.dnc = DoNotCall(opts.dnc, opts.region)
    if pidfile:
        with open(pidfile, "a", encoding="utf-8") as fh:
            fh.write(f"{os.getpid()}\n")


def _die_with(parent: int) -> None:
    """Ask Linux to kill this worker when the main process dies (even by SIGKILL)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the main process died before the request took effect
        os._exit(1)


def _check_block(block: list[Cells]) -> tuple[list[Checked], str | None]:
    """Runs in a worker: check each row of ``block``. A bug stops the block; the rows before it
    still come back, so the main process shows them before it reports the failure."""
    assert _work is not None
    composed, opts, guard, hooks = _work
    out: list[Checked] = []
    for line, values, problem in block:
        try:
            out.append(check(composed, opts, guard, hooks, Row(line, values, problem), True))
        except Exception:
            import traceback

            from runner.secrets import scrub

            return out, scrub(traceback.format_exc())
    return out, None
