"""Write verified callbacks to the ledger in groups, from one thread.

Each callback must be on disk before the receiver answers 200 (Telnyx retries anything else, so
an answer given early could lose a callback in a crash). A synced commit per callback would cap
the receiver at the disk's fsync rate; instead the callbacks that arrive while one commit runs go
into the next, so one fsync covers many, and each waiting request is answered when its own
commit returns.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from runner.outcomes.callbacks import Callback

MAX_GROUP = 512  # callbacks per commit
# After the first callback of a group, wait this long for more: under load a group then holds
# tens of callbacks (one fsync for all); alone, a callback is answered 5 ms later. Either way the
# sender gets its answer only after the commit.
GROUP_WINDOW = 0.005
SWEEP_EVERY = 1.0  # seconds between attempts to match kept callbacks to new rows

Done = Callable[[str], None]
_STOP = object()


class Writer:
    """Owns a :class:`runner.batch.ledger.Ledger` (opened by the caller) and its thread."""

    def __init__(self, ledger: Any, on_error: Callable[[str], None] | None = None):
        self.ledger = ledger
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._on_error = on_error
        # Calls whose callbacks arrived before any row held them, and after the last sweep at
        # stop, how many of those still match no row.
        self._early: set[str] = set()
        self.still_unmatched: int | None = None
        # Set after each write that recorded a callback (a batch's --follow waits on it).
        self.recorded = threading.Event()
        self._thread = threading.Thread(target=self._run, name="callprofile-ledger-writer")
        self._thread.daemon = True
        self._thread.start()

    def submit(self, callback: Callback, done: Done) -> None:
        """Queue ``callback``; ``done(result)`` is called from the writer thread with
        ``recorded``, ``unmatched``, ``duplicate`` or ``error``."""
        self._queue.put([(callback, done)])

    def submit_all(self, items: list[tuple[Callback, Done]]) -> None:
        """Queue several at once (one wake-up of the writer thread for all of them)."""
        if items:
            self._queue.put(items)

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued, match what can be matched, and close the ledger."""
        self._queue.put(_STOP)
        self._thread.join(timeout)

    def _run(self) -> None:
        try:
            while True:
                try:
                    first = self._queue.get(timeout=SWEEP_EVERY)
                except queue.Empty:
                    self._sweep()
                    continue
                if first is _STOP:
                    break
                group = list(first)
                stopping = False
                deadline = time.monotonic() + GROUP_WINDOW
                while len(group) < MAX_GROUP:
                    left = deadline - time.monotonic()
                    try:
                        item = (
                            self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
                        )
                    except queue.Empty:
                        break
                    if item is _STOP:
                        stopping = True
                        break
                    group.extend(item)
                self._write(group)
                if stopping:
                    break
            self._sweep()
            self._count_unmatched()
        finally:
            self.ledger.close()

    def _write(self, group: list[tuple[Callback, Done]]) -> None:
        try:
            results = self.ledger.record_callbacks(cb for cb, _ in group)
        except Exception as exc:  # a full disk or a lock held too long must not end the thread
            self._report(exc)
            results = ["error"] * len(group)
        for (callback, done), result in zip(group, results, strict=True):
            if result == "unmatched":
                self._early.add(callback.call_sid)
            done(result)
        if "recorded" in results:
            self.recorded.set()

    def _sweep(self) -> None:
        try:
            if self.ledger.match_unmatched():
                self.recorded.set()  # callbacks that came first now count for their row
        except Exception as exc:
            self._report(exc)

    def _count_unmatched(self) -> None:
        try:
            self.still_unmatched = self.ledger.still_unmatched(self._early)
        except Exception as exc:
            self._report(exc)

    def _report(self, exc: Exception) -> None:
        if self._on_error is not None:
            # The type and SQLite's message only: no callback content, no traceback.
            self._on_error(f"{type(exc).__name__}: {exc}")
