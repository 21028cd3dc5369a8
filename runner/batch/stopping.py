"""Ctrl-C for a batch: the first stops claiming rows and lets calls in flight finish; the second
stops at once (rows still in flight become ``unknown``).

Only the main thread receives signals, so the handler just sets events that the workers and the
main loop check; it never raises into the middle of a ledger write.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any


class Stopper:
    def __init__(self) -> None:
        self.soft = threading.Event()  # stop claiming new rows
        self.hard = threading.Event()  # stop now
        self.reason = ""
        self.code: int | None = None  # an exit code the reason calls for (e.g. 4 for a bad key)
        self.interrupted = False
        self._previous: Any = None
        self._installed = False

    def stop(self, reason: str, code: int | None = None) -> None:
        if not self.soft.is_set():
            self.reason = reason
            self.code = code
        self.soft.set()

    @property
    def stopping(self) -> bool:
        return self.soft.is_set()

    def install(self, on_signal: Callable[[bool], None]) -> None:
        """Handle SIGINT while a batch runs (main thread only). ``on_signal(hard)`` may print."""
        if threading.current_thread() is not threading.main_thread():
            return

        def handler(signum: int, frame: object) -> None:
            self.interrupted = True
            if self.soft.is_set() and self.reason == "interrupted":
                self.hard.set()
                on_signal(True)
            else:
                self.reason = "interrupted"
                self.soft.set()
                on_signal(False)

        self._previous = signal.signal(signal.SIGINT, handler)
        self._installed = True

    def restore(self) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False
