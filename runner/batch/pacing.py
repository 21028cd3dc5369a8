"""One token bucket shared by every worker, with a global pause for 429 answers.

Telnyx counts dials over a rolling 5 s window (150 by default). A bucket holding at most
``burst`` tokens and refilling at ``rate`` per second lets through at most ``burst + 5 * rate``
calls in any 5 s, so the default rate stays far below the limit. When Telnyx answers 429, the
whole batch waits, not just the worker that heard it. The clock and the wait are injectable so
tests run on a fake clock without sleeping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

DEFAULT_RATE = 10.0
# The highest --rate. Telnyx's default is 30 dials a second and higher limits are granted per
# account; this bound only refuses a typo. It sits well above what one runner sends (about 1,000
# calls a second against a local sandbox), so that a rate chosen to be out of the way is: at
# 1,000 the one-token buckets would space calls a millisecond apart and pace the batch.
MAX_RATE = 10_000.0

Clock = Callable[[], float]
Wait = Callable[[float], object]  # wait up to this many seconds (may return early)
Observer = Callable[[str, float, float], None]  # (event, clock time, value)


class TokenBucket:
    def __init__(
        self,
        rate: float = DEFAULT_RATE,
        burst: float = 1.0,
        *,
        clock: Clock = time.monotonic,
        wait: Wait = time.sleep,
        observer: Observer | None = None,
    ):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = max(1.0, burst)
        self.clock = clock
        self._wait = wait
        self._observer = observer
        self._lock = threading.Lock()
        self._tokens = self.burst
        self._last = clock()
        self._paused_until = float("-inf")

    def acquire(self, cancelled: Callable[[], bool] = lambda: False) -> bool:
        """Take one token, waiting as needed. False if ``cancelled()`` became true first."""
        while True:
            if cancelled():
                return False
            with self._lock:
                now = self.clock()
                self._refill(now)
                if now < self._paused_until:
                    delay = self._paused_until - now
                elif self._tokens >= 1.0:
                    self._tokens -= 1.0
                    if self._observer:
                        self._observer("grant", now, self._tokens)
                    return True
                else:
                    delay = (1.0 - self._tokens) / self.rate
            self._wait(delay)

    def twin(self) -> TokenBucket:
        """A second bucket with the same rate, burst, clock and wait (and no observer)."""
        return TokenBucket(self.rate, self.burst, clock=self.clock, wait=self._wait)

    def pause(self, seconds: float) -> None:
        """Hold every worker for ``seconds`` (a 429's Retry-After), then restart slowly."""
        with self._lock:
            now = self.clock()
            until = now + max(0.0, seconds)
            if until > self._paused_until:
                self._paused_until = until
            self._tokens = 0.0
            self._last = max(self._last, self._paused_until)
            if self._observer:
                self._observer("pause", now, self._paused_until)

    @property
    def paused_until(self) -> float:
        with self._lock:
            return self._paused_until

    def _refill(self, now: float) -> None:
        if now > self._last:
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
