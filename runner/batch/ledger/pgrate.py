"""One send rate for every runner of a batch: a schedule of send times kept in the database.

The batch's ``rate_slots`` row holds the next free send time. Taking a slot is one short
``UPDATE ... RETURNING``: the slot is ``max(next free time, now, end of a 429 pause)`` and the next
free time moves on by ``1 / rate``, so slots are ``1 / rate`` apart however many runners ask, and
any window of ``w`` seconds holds at most ``w * rate + 1`` of them. Each runner then waits for its
own slot locally. Only one thread per runner asks at a time, so at most one slot per runner is
ever handed out ahead; a 429 moves the pause forward for everyone, and a runner that waited for
a slot checks the pause once more before it sends.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from runner.batch.ledger.pgconn import Session
from runner.batch.pacing import TokenBucket

TICK = 0.25  # seconds: how often a wait looks at ``cancelled``
# After a wait this long, look for a 429 pause that began meanwhile (a shorter wait is no more
# exposed than a request already on its way).
RECHECK = 0.05


class SharedRate:
    def __init__(
        self, session: Session, batch_id: str, rate: float, wait: Callable[[float], object]
    ):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.session = session
        self.batch_id = batch_id
        self.rate = rate
        self._wait = wait
        self._local = threading.Lock()

    def acquire(self, cancelled: Callable[[], bool] = lambda: False) -> bool:
        """Take the batch's next send slot and wait for it. False if ``cancelled()`` first."""
        while not self._local.acquire(timeout=TICK):
            if cancelled():
                return False
        try:
            while True:
                if cancelled():
                    return False
                delay = self.session.run(self._take, single=True)
                if delay <= 0:
                    return True
                if not self._sleep(delay, cancelled):
                    return False
                if delay < RECHECK or self.session.run(self._paused, single=True) <= 0:
                    return True
                # A 429 paused the batch while this runner waited: take a slot after it.
        finally:
            self._local.release()

    def _sleep(self, seconds: float, cancelled: Callable[[], bool]) -> bool:
        import time

        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return True
            if cancelled():
                return False
            self._wait(min(left, TICK))

    def _take(self, c: Any) -> float:
        interval = 1.0 / self.rate
        c.execute(
            "UPDATE rate_slots SET next_at = greatest(next_at, clock_timestamp(), paused_until) "
            "+ make_interval(secs => %s) WHERE batch_id = %s "
            "RETURNING extract(epoch FROM next_at - clock_timestamp())",
            (interval, self.batch_id),
        )
        row = c.fetchone()
        if row is None:
            raise LookupError(f"batch {self.batch_id[:12]} has no send schedule")
        return float(row[0]) - interval

    def _paused(self, c: Any) -> float:
        c.execute(
            "SELECT extract(epoch FROM paused_until - clock_timestamp()) FROM rate_slots "
            "WHERE batch_id = %s",
            (self.batch_id,),
        )
        row = c.fetchone()
        return float(row[0]) if row and row[0] is not None else 0.0

    def pause(self, seconds: float) -> None:
        """Hold every runner of the batch for ``seconds`` (a 429's Retry-After)."""
        self.session.run(
            lambda c: c.execute(
                "UPDATE rate_slots SET paused_until = greatest(paused_until, "
                "clock_timestamp() + make_interval(secs => %s)) WHERE batch_id = %s",
                (max(0.0, seconds), self.batch_id),
            ),
            single=True,
        )

    def twin(self) -> TokenBucket:
        """This runner's own gate after a claim: a local bucket at the same rate."""
        return TokenBucket(self.rate, wait=self._wait)
