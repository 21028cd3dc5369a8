"""The calls the sandbox has placed (in simulation): their facts and a bounded store of them.

Each accepted POST becomes one ``SimCall`` whose timeline is decided up front from its outcome
(ringing for a few seconds, then answered and talking, or not): the status callbacks and the call
lookups (``GET /v2/texml/Accounts/{account_sid}/Calls``) tell the same story.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from runner.sandbox.outcomes import ANSWERED, Draw

DEFAULT_KEEP = 10_000
# The status a call ends in, for each outcome.
FINAL_STATUS = {
    "human": "completed",
    "machine": "completed",
    "fax": "completed",
    "no-answer": "no-answer",
    "busy": "busy",
    "canceled": "canceled",
    "failed": "failed",
}
# AnsweredBy (Telnyx's AMD values) for each answered outcome, by MachineDetection mode.
_ANSWERED_BY = {
    ("human", "Enable"): ("human",),
    ("human", "DetectMessageEnd"): ("human",),
    ("machine", "Enable"): ("machine_start",),
    ("machine", "DetectMessageEnd"): (
        "machine_end_beep",
        "machine_end_silence",
        "machine_end_other",
    ),
    ("fax", "Enable"): ("fax",),
    ("fax", "DetectMessageEnd"): ("fax",),
}
# The call resource's answered_by takes only these three values.
_RESOURCE_ANSWERED_BY = {"human": "human", "fax": "not_sure", "unknown": "not_sure"}


@dataclass(slots=True)
class SimCall:
    seq: int
    call_sid: str
    legacy_sid: str
    account_sid: str
    connection_id: str
    to: str
    from_: str
    caller_id: str | None
    outcome: str
    faults: tuple[str, ...]
    created: float  # the sandbox's clock (Unix seconds) when the POST was answered
    start: datetime  # the simulated timeline, UTC
    answered: datetime | None
    end: datetime
    answered_by: str | None  # only when the call asked for answering machine detection
    amd_async: bool
    amd_ms: int
    leg_id: str
    session_id: str

    @property
    def status(self) -> str:
        return FINAL_STATUS[self.outcome]

    @property
    def duration(self) -> int:
        """Seconds talked (0 when never answered)."""
        return int((self.end - self.answered).total_seconds()) if self.answered else 0


def new_call(
    seq: int,
    call_sid: str,
    account_sid: str,
    connection_id: str,
    body: dict[str, Any],
    draw: Draw,
    created: float,
    start: datetime,
) -> SimCall:
    rng = draw.rng
    outcome = draw.outcome
    ring = timedelta(seconds=rng.randint(2, 12))
    answered = start + ring if outcome in ANSWERED else None
    talk = {"human": (20, 180), "machine": (10, 40), "fax": (5, 20)}.get(outcome)
    if answered is not None and talk:
        end = answered + timedelta(seconds=rng.randint(*talk))
    elif outcome == "failed":
        end = start
    else:
        end = start + (timedelta(seconds=_timeout(body)) if outcome == "no-answer" else ring)
    detection = body.get("MachineDetection")
    answered_by = None
    if detection in ("Enable", "DetectMessageEnd") and outcome in ANSWERED:
        answered_by = rng.choice(_ANSWERED_BY[(outcome, detection)])
    caller_id = body.get("CallerId")
    return SimCall(
        seq=seq,
        call_sid=call_sid,
        legacy_sid=f"v3:{rng.getrandbits(128):032x}",
        account_sid=account_sid,
        connection_id=connection_id,
        to=str(body.get("To", "")),
        from_=str(body.get("From", "")),
        caller_id=caller_id if isinstance(caller_id, str) else None,
        outcome=outcome,
        faults=draw.faults,
        created=created,
        start=start,
        answered=answered,
        end=end,
        answered_by=answered_by,
        amd_async=body.get("AsyncAmd") is True,
        amd_ms=rng.randint(800, 4000) if answered_by else 0,
        # From the call's own generator: no system call per id, and the same for a seed.
        leg_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        session_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
    )


def _timeout(body: dict[str, Any]) -> int:
    value = body.get("Timeout")
    return value if isinstance(value, int) and not isinstance(value, bool) else 30


def resource_answered_by(call: SimCall) -> str | None:
    if call.answered_by is None:
        return None
    if call.answered_by.startswith("machine"):
        return "machine"
    return _RESOURCE_ANSWERED_BY.get(call.answered_by, "not_sure")


class CallStore:
    """The most recent ``keep`` calls, by call_sid and in creation order."""

    def __init__(self, keep: int = DEFAULT_KEEP):
        self.keep = max(1, keep)
        self._calls: OrderedDict[str, SimCall] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, call: SimCall) -> None:
        with self._lock:
            self._calls[call.call_sid] = call
            while len(self._calls) > self.keep:
                self._calls.popitem(last=False)

    def get(self, call_sid: str) -> SimCall | None:
        with self._lock:
            return self._calls.get(call_sid)

    def newest_first(self) -> list[SimCall]:
        with self._lock:
            return list(reversed(self._calls.values()))

    def __len__(self) -> int:
        with self._lock:
            return len(self._calls)
