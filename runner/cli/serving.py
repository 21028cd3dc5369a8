"""Keep a foreground server (sandbox, listen) running until the user or a supervisor stops it."""

from __future__ import annotations

import signal
import threading


def wait_until_stopped() -> None:
    """Return on SIGTERM or Ctrl-C, with the previous SIGTERM handler put back.

    The wait wakes every half second because an untimed Event.wait() in the main thread is not
    interrupted by Ctrl-C on every platform Python supports."""
    stopping = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        while not stopping.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
