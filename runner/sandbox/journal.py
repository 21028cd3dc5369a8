"""What the sandbox saw: a bounded window of recent records in memory, everything in the log.

Memory stays flat whatever the number of requests (the window keeps the last ``window``
records; counters keep the totals), and every record goes to the JSON-lines log, flushed before
the request it describes is answered, so a client that has its answer finds its record there.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, TextIO

DEFAULT_WINDOW = 2_000


def now_text() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Journal:
    def __init__(
        self,
        log_path: str | None = None,
        window: int = DEFAULT_WINDOW,
        on_record: Callable[[dict[str, Any]], None] | None = None,
    ):
        self.log_path = log_path
        self._window: deque[dict[str, Any]] = deque(maxlen=max(1, window))
        self._on_record = on_record
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._log: TextIO | None = None
        self.counts: dict[str, int] = {}

    def open(self) -> None:
        if self.log_path:
            self._log = open(self.log_path, "a", encoding="utf-8")  # noqa: SIM115

    def close(self) -> None:
        with self._lock:
            if self._log is not None:
                self._log.close()
                self._log = None

    def record(self, record: dict[str, Any]) -> None:
        """Keep ``record`` (in the window and the log), then show it to ``on_record``, which
        runs in the caller's thread before the caller goes on (a test can hold an answer)."""
        record.setdefault("time", now_text())
        line = json.dumps(record, ensure_ascii=False) + "\n" if self._log is not None else ""
        with self._changed:
            self._window.append(record)
            kind = _kind(record)
            self.counts[kind] = self.counts.get(kind, 0) + 1
            if self._log is not None:
                self._log.write(line)
                self._log.flush()
            self._changed.notify_all()
        if self._on_record is not None:
            self._on_record(record)

    @property
    def records(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._window)

    def count(self, kind: str) -> int:
        with self._lock:
            return self.counts.get(kind, 0)

    def wait_for(self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: predicate(list(self._window)), timeout)


def _kind(record: dict[str, Any]) -> str:
    """The counter a record adds to: ``call`` for a POST that reached the call endpoint."""
    kind = str(record.get("kind"))
    if kind == "request" and record.get("method") == "POST" and record.get("connection_id"):
        return "call"
    return kind
