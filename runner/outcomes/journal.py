"""The receiver's log: one JSON line per request, and the running counts.

A refused request is logged with its status, code and reason, never with its body: a body whose
signature failed is not evidence of anything but the attempt. Values that came from the network
(the path, a call id) are cut to a fixed length, so a hostile client cannot grow the log by more
than one short line per request.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, TextIO

_MAX_TEXT = 200


def _short(value: Any) -> Any:
    if isinstance(value, str) and len(value) > _MAX_TEXT:
        return value[:_MAX_TEXT] + "..."
    return value


class Journal:
    """Thread-safe. ``on_entry`` sees each entry (the CLI prints it); ``path`` appends JSON
    lines (flushed per line, so ``tail -f`` and a crash see every entry)."""

    def __init__(
        self,
        path: str | None = None,
        on_entry: Callable[[dict[str, Any]], None] | None = None,
    ):
        self._lock = threading.Lock()
        self._file: TextIO | None = None
        if path:
            self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._on_entry = on_entry
        self.counts: Counter[str] = Counter()
        self.refused: Counter[int] = Counter()

    def write(self, entry: dict[str, Any]) -> None:
        entry = {k: _short(v) for k, v in entry.items() if v is not None}
        entry.setdefault(
            "time",
            datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        )
        with self._lock:
            result = str(entry.get("result", "other"))
            self.counts[result] += 1
            if result in ("rejected", "error"):
                self.refused[int(entry.get("status", 0))] += 1
            if self._file is not None:
                self._file.write(json.dumps(entry, ensure_ascii=True) + "\n")
                self._file.flush()
        if self._on_entry is not None:
            self._on_entry(entry)

    def summary(self, still_unmatched: int | None = None) -> str:
        """The counts; ``still_unmatched``: calls whose callbacks still match no row (known
        once the ledger writer has stopped)."""
        with self._lock:
            c = self.counts
            text = (
                f"{c['recorded'] + c['unmatched'] + c['accepted']} accepted, "
                f"{c['duplicate']} duplicate(s), {c['rejected']} rejected"
            )
            if self.refused:
                text += " (" + ", ".join(f"{s}: {n}" for s, n in sorted(self.refused.items())) + ")"
            if c["error"]:
                text += f", {c['error']} not recorded (ledger error; the sender retries)"
        if still_unmatched:
            text += f"; {still_unmatched} call(s) match no row yet (kept, matched when one does)"
        return text

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
