"""``--max-calls N``: never more than N calls placed in one run, even with many workers.

A slot is reserved before a row is handed to a worker and given back if the row is not placed
(rejected, deferred, skipped, never sent). A call whose outcome is unknown keeps its slot: it may
have rung.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class Budget:
    def __init__(self, limit: int | None):
        self.limit = limit
        self.used = 0  # placed or possibly placed
        self.reserved = 0
        self._cond = threading.Condition()

    def reserve(self, cancelled: Callable[[], bool], tick: float = 0.25) -> bool:
        """Wait for a free slot. False when the limit is reached for good (or on cancel)."""
        if self.limit is None:
            return not cancelled()
        with self._cond:
            while True:
                if cancelled() or self.used >= self.limit:
                    return False
                if self.used + self.reserved < self.limit:
                    self.reserved += 1
                    return True
                self._cond.wait(tick)

    def spent(self) -> None:
        self._settle(used=True)

    def release(self) -> None:
        self._settle(used=False)

    def _settle(self, used: bool) -> None:
        if self.limit is None:
            return
        with self._cond:
            self.reserved -= 1
            if used:
                self.used += 1
            self._cond.notify_all()

    @property
    def exhausted(self) -> bool:
        return self.limit is not None and self.used >= self.limit
