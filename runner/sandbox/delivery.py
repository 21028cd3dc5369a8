"""Sends callback plans: signed, in order per call, spaced, rate-limited, from a few threads.

A call's deliveries go one after another (the next is scheduled when the previous has been
answered, ``delay`` seconds later), calls proceed side by side on a small pool of workers, and a
token bucket caps the rate of all deliveries together. Workers keep one keep-alive connection
per target, so a fast receiver costs the sandbox one request each, not a connection each.
Nothing follows redirects and nothing is retried except a send on a kept-alive connection that
the receiver had already closed (nothing reached it).
"""

from __future__ import annotations

import contextlib
import heapq
import http.client
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from runner.sandbox.callbacks import Delivery, Plan
from runner.sandbox.signing import Signer

DEFAULT_RATE = 5000.0  # deliveries per second, all calls together
DEFAULT_CAP = 32  # deliveries per call
DEFAULT_WORKERS = 8
MAX_WAITING = 10_000  # calls with deliveries still to send; past this, POSTs wait for room
TIMEOUT = 5.0
STALE_BY = 600  # seconds: how old a stale-timestamp fault's signature is
_READ_LIMIT = 64 * 1024


@dataclass(order=True)
class _Due:
    at: float
    order: int
    plan: Plan = field(compare=False)
    index: int = field(compare=False)


class Bucket:
    """A token bucket: ``take()`` blocks until a token is free (or ``stopping`` is set)."""

    def __init__(self, rate: float, stopping: threading.Event):
        self.rate = rate
        self.burst = max(1.0, rate / 20)
        self._tokens = self.burst
        self._last = time.monotonic()
        self._lock = threading.Lock()
        self._stopping = stopping

    def take(self) -> bool:
        while True:
            with self._lock:
                now = time.monotonic()
                self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
                self._last = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return True
                wait = (1 - self._tokens) / self.rate
            if self._stopping.wait(wait):
                return False


class Dispatcher:
    def __init__(
        self,
        signer: Signer,
        record: Callable[[dict[str, Any]], None],
        *,
        delay: float = 0.0,
        rate: float = DEFAULT_RATE,
        workers: int = DEFAULT_WORKERS,
    ):
        self.signer = signer
        self.delay = delay
        self._record = record
        self._stopping = threading.Event()
        self._bucket = Bucket(rate, self._stopping)
        self._cond = threading.Condition()
        self._heap: list[_Due] = []
        self._order = itertools.count()
        self._active = 0  # plans reserved or under way
        self._threads = [
            threading.Thread(target=self._work, name="sandbox-callbacks", daemon=True)
            for _ in range(workers)
        ]
        self._started = False

    # -- the sandbox's side ----------------------------------------------------------------------

    def reserve(self, timeout: float = 10.0) -> bool:
        """Hold a place for a plan about to be submitted (before the POST is answered, so a
        client that stops the sandbox once it has its answer still gets the callbacks)."""
        self._start()
        with self._cond:
            if not self._cond.wait_for(
                lambda: self._active < MAX_WAITING or self._stopping.is_set(), timeout
            ):
                return False
            self._active += 1
            return True

    def submit(self, plan: Plan | None) -> None:
        """Start a reserved plan (None gives the place back)."""
        with self._cond:
            if plan is None or not plan.deliveries or self._stopping.is_set():
                self._finish_locked()
                return
            first = self.delay
            heapq.heappush(self._heap, _Due(time.monotonic() + first, next(self._order), plan, 0))
            self._cond.notify()

    def drain(self, timeout: float) -> bool:
        """Wait until every plan has been sent (True) or ``timeout`` passes."""
        with self._cond:
            return self._cond.wait_for(lambda: self._active == 0, timeout)

    def stop(self) -> None:
        self._stopping.set()
        with self._cond:
            self._heap.clear()
            self._cond.notify_all()
        for thread in self._threads if self._started else ():
            thread.join(TIMEOUT + 1)

    @property
    def pending(self) -> int:
        with self._cond:
            return self._active

    # -- workers --------------------------------------------------------------------------------

    def _start(self) -> None:
        with self._cond:
            if self._started:
                return
            self._started = True
        for thread in self._threads:
            thread.start()

    def _finish_locked(self) -> None:
        self._active -= 1
        if self._active == 0:
            self._cond.notify_all()

    def _next(self) -> _Due | None:
        with self._cond:
            while not self._stopping.is_set():
                if self._heap:
                    wait = self._heap[0].at - time.monotonic()
                    if wait <= 0:
                        return heapq.heappop(self._heap)
                    self._cond.wait(wait)
                else:
                    self._cond.wait()
            return None

    def _work(self) -> None:
        connections: dict[tuple[str, str, int], http.client.HTTPConnection] = {}
        try:
            while (due := self._next()) is not None:
                if not self._bucket.take():
                    break
                delivery = due.plan.deliveries[due.index]
                self._record(self._send(delivery, due.plan.call_sid, connections))
                with self._cond:
                    if due.index + 1 < len(due.plan.deliveries) and not self._stopping.is_set():
                        gap = self.delay if delivery.fault is None else 0.0
                        after = _Due(
                            time.monotonic() + gap, next(self._order), due.plan, due.index + 1
                        )
                        heapq.heappush(self._heap, after)
                        self._cond.notify()
                    else:
                        self._finish_locked()
        finally:
            for conn in connections.values():
                conn.close()
            with self._cond:
                # Plans this worker can no longer send count as finished, so drain() returns.
                if self._stopping.is_set():
                    self._active = 0
                    self._cond.notify_all()

    def _send(
        self,
        delivery: Delivery,
        call_sid: str,
        connections: dict[tuple[str, str, int], http.client.HTTPConnection],
    ) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "kind": "callback",
            "url": delivery.url,
            "method": delivery.method,
            "event": delivery.event,
            "call_sid": call_sid,
        }
        if delivery.event == "amd":
            entry["answered_by"] = delivery.fields.get("AnsweredBy")
        else:
            entry["call_status"] = delivery.fields["CallStatus"]
            entry["sequence"] = int(delivery.fields["SequenceNumber"])
        if delivery.fault:
            entry["fault"] = delivery.fault
        encoded = urlencode(delivery.fields)
        parts = urlsplit(delivery.target)
        path = parts.path or "/"
        if delivery.method == "GET":
            path += ("&" if parts.query else "?") + encoded
            body = b""
        else:
            path += f"?{parts.query}" if parts.query else ""
            body = encoded.encode("ascii")
        headers = dict(self._signature(delivery, body))
        if delivery.method == "POST":
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if delivery.fault == "tampered":
            body = body.replace(b"CallStatus=", b"CallStatus=x", 1)
        headers["User-Agent"] = "callprofile-sandbox"
        key = (parts.scheme, parts.hostname or "", parts.port or _default_port(parts.scheme))
        for attempt in (1, 2):
            conn = connections.get(key) or _connect(*key)
            connections[key] = conn
            reused = conn.sock is not None
            try:
                conn.request(delivery.method, path, body=body or None, headers=headers)
                reply = conn.getresponse()
                reply.read(_READ_LIMIT)
                if reply.will_close or not reply.isclosed():
                    connections.pop(key).close()
                entry["status"] = reply.status
                return entry
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                connections.pop(key).close()
                if not (reused and attempt == 1):
                    entry["error"] = type(exc).__name__
                    return entry
            except (OSError, http.client.HTTPException) as exc:
                with contextlib.suppress(KeyError):
                    connections.pop(key).close()
                entry["error"] = type(exc).__name__
                return entry
        return entry

    def _signature(self, delivery: Delivery, body: bytes) -> list[tuple[str, str]]:
        if delivery.fault == "bad-signature":
            return Signer().sign(body)  # a key nobody was told about
        if delivery.fault == "stale-timestamp":
            return self.signer.sign(body, int(time.time()) - STALE_BY)
        return self.signer.sign(body)


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def _connect(scheme: str, host: str, port: int) -> http.client.HTTPConnection:
    if scheme == "https":
        return http.client.HTTPSConnection(host, port, timeout=TIMEOUT)
    return http.client.HTTPConnection(host, port, timeout=TIMEOUT)
