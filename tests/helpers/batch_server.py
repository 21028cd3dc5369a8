"""The sandbox (``runner.sandbox.Sandbox``) as the batch tests use it: with a JSON-lines log, and
answers scripted or held by POST number.

What reached the server is read back from the sandbox's own log file, which holds every call
POST (in arrival order) before its answer is sent, so a request the client never heard back
from is there too: the server side is the truth about how many calls were placed.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from runner.sandbox import Sandbox, Step

WAIT = 60  # seconds: only a bound for a hung test, never a pause


def Script(status: int = 200, headers: dict[str, str] | None = None, body: Any = None) -> Step:
    """A scripted answer: this status, these headers, this JSON body (else Telnyx's)."""
    return Step(status=status, headers=tuple((headers or {}).items()), body=body)


class LoggedSandbox:
    def __init__(self, log: Path):
        self.log = log
        self.holds: dict[int, tuple[threading.Event, threading.Event]] = {}
        self._planned = 0  # POSTs already covered by scripted steps
        self.sandbox = Sandbox(log_path=str(log), on_record=self._on_record).start()
        self.base_url = self.sandbox.base_url

    def _on_record(self, record: dict[str, Any]) -> None:
        # Runs in the handler thread after the record is logged and before the answer is sent.
        hold = self.holds.get(record.get("seq", 0)) if record["kind"] == "request" else None
        if hold is not None:
            reached, release = hold
            reached.set()
            release.wait(WAIT)

    def script(self, n: int, step: Step) -> None:
        """Answer POST ``n`` (1-based, in arrival order) with ``step``; the others normally.
        Call in increasing ``n``, before the POSTs arrive."""
        if n <= self._planned:
            raise ValueError("script POSTs in increasing order")
        gap = n - 1 - self._planned
        self.sandbox.add_steps([*([Step(times=gap)] if gap else []), step])
        self._planned = n

    def hold_at(self, n: int) -> tuple[threading.Event, threading.Event]:
        """Hold the answer to POST ``n`` until released: (reached, release)."""
        self.holds[n] = (threading.Event(), threading.Event())
        return self.holds[n]

    @property
    def posts(self) -> list[dict[str, Any]]:
        """The call POSTs in the sandbox's log file, in arrival order."""
        if not self.log.exists():
            return []
        records = [json.loads(x) for x in self.log.read_text(encoding="utf-8").splitlines()]
        return [r for r in records if r["kind"] == "request" and r.get("connection_id")]

    def numbers(self) -> list[str]:
        return [p["body"]["To"] for p in self.posts]

    def stop(self) -> None:
        for _, release in self.holds.values():
            release.set()
        self.sandbox.stop()
