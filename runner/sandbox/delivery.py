"""Sends callback plans: signed, in order per call, spaced, rate-limited, many at once.

One thread runs everything: a call's deliveries go one after another (the next is scheduled
once the previous has been answered, ``delay`` seconds later), calls proceed side by side with
many exchanges in flight on keep-alive connections (``runner.sandbox.outbound``), and a token
bucket caps the rate of all deliveries together. https targets (rare on loopback) go through a
helper thread with ``http.client``. Nothing follows redirects; nothing is retried except an
exchange on a kept-alive connection that the receiver had closed (nothing reached it).
"""

from __future__ import annotations

import collections
import contextlib
import heapq
import http.client
import itertools
import queue
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from runner.sandbox.callbacks import Delivery, Plan
from runner.sandbox.outbound import TIMEOUT, Outbound
from runner.sandbox.signing import Signer

DEFAULT_RATE = 5000.0  # deliveries per second, all calls together
DEFAULT_CAP = 32  # deliveries per call
MAX_WAITING = 2_000  # calls with deliveries still to send; past this, POSTs wait for room
MAX_IN_FLIGHT = 256  # exchanges under way at once
STALE_BY = 600  # seconds: how old a stale-timestamp fault's signature is
_USUAL = re.compile(r"[A-Za-z0-9_.~:+ -]*")


@dataclass(slots=True)
class _Due:
    at: float
    order: int
    plan: Plan
    index: int

    def __lt__(self, other: _Due) -> bool:  # by time, then first come first served
        return (self.at, self.order) < (other.at, other.order)


class Bucket:
    """A token bucket that never blocks: ``take()`` or learn how long to wait."""

    def __init__(self, rate: float):
        self.rate = rate
        self.burst = max(1.0, rate / 20)
        self._tokens = self.burst
        self._last = time.monotonic()

    def take(self) -> float:
        """0 when a token was taken, else the seconds until one is free."""
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        return (1 - self._tokens) / self.rate


def form_encode(fields: dict[str, str]) -> str:
    """``urlencode(fields)`` (the names are plain), many times faster for the values callbacks
    carry: times, sids and numbers, whose only characters to escape are ":", "+" and spaces."""
    if _USUAL.fullmatch("".join(fields.values())):
        joined = "&".join(f"{name}={value}" for name, value in fields.items())
        return joined.replace("+", "%2B").replace(":", "%3A").replace(" ", "+")
    return urlencode(fields)


class Dispatcher:
    def __init__(
        self,
        signer: Signer,
        record: Callable[[dict[str, Any]], None],
        *,
        delay: float = 0.0,
        rate: float = DEFAULT_RATE,
    ):
        self.signer = signer
        self.delay = delay
        self._record = record
        self._bucket = Bucket(rate)
        self._stopping = threading.Event()
        self._cond = threading.Condition()
        self._heap: list[_Due] = []
        self._order = itertools.count()
        self._active = 0  # plans reserved or under way
        self._sleeping = False
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._thread: threading.Thread | None = None
        self._tls: _TlsSender | None = None
        self._tls_done: collections.deque[tuple[Any, int | None, str | None]] = collections.deque()

    # -- the sandbox's side ----------------------------------------------------------------------

    def reserve(self, timeout: float = 10.0) -> bool:
        """Hold a place for a plan about to be submitted (before the POST is answered, so a
        client that stops the sandbox once it has its answer still gets the callbacks)."""
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="sandbox-callbacks", daemon=True
                )
                self._thread.start()
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
            self._push_locked(_Due(time.monotonic() + self.delay, 0, plan, 0))

    def drain(self, timeout: float) -> bool:
        """Wait until every plan has been sent (True) or ``timeout`` passes."""
        with self._cond:
            return self._cond.wait_for(lambda: self._active == 0, timeout)

    def stop(self) -> None:
        self._stopping.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(TIMEOUT + 1)
        if self._tls is not None:
            self._tls.stop()
        with self._cond:
            self._heap.clear()
            self._active = 0
            self._cond.notify_all()
        self._wake_r.close()
        self._wake_w.close()

    @property
    def pending(self) -> int:
        with self._cond:
            return self._active

    # -- the sending thread ---------------------------------------------------------------------

    def _push_locked(self, due: _Due) -> None:
        due.order = next(self._order)
        heapq.heappush(self._heap, due)
        if self._sleeping and self._heap[0] is due:
            self._sleeping = False
            self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    def _finish_locked(self) -> None:
        self._active -= 1
        if self._active <= 0:
            self._active = 0
            self._cond.notify_all()

    def _loop(self) -> None:
        out = Outbound(self._answered)
        out.selector.register(self._wake_r, 1, None)
        try:
            while not self._stopping.is_set():
                timeout = self._start_due(out)
                out.poll(timeout)
                with contextlib.suppress(OSError):
                    self._wake_r.recv(4096)
                while self._tls_done:
                    self._answered(*self._tls_done.popleft())
        finally:
            out.close()

    def _start_due(self, out: Outbound) -> float | None:
        """Start every delivery that is due (rate and in-flight limits allowing); return how
        long the loop may wait for events before it must look again."""
        sweep = 0.1 if out.in_flight else None  # exchanges under way need their timeouts
        while True:
            with self._cond:
                if not self._heap:
                    self._sleeping = True
                    return sweep
                wait = self._heap[0].at - time.monotonic()
                if wait > 0:
                    self._sleeping = True
                    return wait if sweep is None else min(wait, sweep)
                if out.in_flight >= MAX_IN_FLIGHT:
                    return 0.1
                wait = self._bucket.take()
                if wait:
                    return wait
                self._sleeping = False
                due = heapq.heappop(self._heap)
            self._begin(out, due)

    def _begin(self, out: Outbound, due: _Due) -> None:
        delivery = due.plan.deliveries[due.index]
        entry = _entry(delivery, due.plan.call_sid)
        method, path, headers, body = self._request(delivery)
        parts = urlsplit(delivery.target)
        host = parts.hostname or ""
        if parts.scheme == "https":
            if self._tls is None:
                self._tls = _TlsSender(self._tls_done, self._wake)
            self._tls.send((due, entry), host, parts.port or 443, method, path, headers, body)
            return
        port = parts.port or 80
        shown = f"[{host}]" if ":" in host else host
        lines = [f"{method} {path} HTTP/1.1", f"Host: {shown}:{port}"]
        lines += [f"{name}: {value}" for name, value in headers]
        lines += ["User-Agent: callprofile-sandbox", f"Content-Length: {len(body)}"]
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        out.start((due, entry), host, port, request)

    def _request(self, delivery: Delivery) -> tuple[str, str, list[tuple[str, str]], bytes]:
        encoded = form_encode(delivery.fields)
        parts = urlsplit(delivery.target)
        path = parts.path or "/"
        if delivery.method == "GET":
            path += ("&" if parts.query else "?") + encoded
            body = b""
        else:
            path += f"?{parts.query}" if parts.query else ""
            body = encoded.encode("ascii")
        headers = self._signature(delivery, body)
        if delivery.method == "POST":
            headers.append(("Content-Type", "application/x-www-form-urlencoded"))
        if delivery.fault == "tampered":
            body = _change_one_byte(body)
        return delivery.method, path, headers, body

    def _signature(self, delivery: Delivery, body: bytes) -> list[tuple[str, str]]:
        """The signature headers: Telnyx's, or on purpose wrong for the signature faults."""
        if delivery.fault == "bad-signature":
            return Signer().sign(body)  # a key nobody was told about
        if delivery.fault == "stale-timestamp":
            return self.signer.sign(body, int(time.time()) - STALE_BY)
        return self.signer.sign(body)

    def _answered(self, token: Any, status: int | None, error: str | None) -> None:
        due, entry = token
        if status is not None:
            entry["status"] = status
        else:
            entry["error"] = error
        self._record(entry)
        delivery = due.plan.deliveries[due.index]
        with self._cond:
            if due.index + 1 < len(due.plan.deliveries) and not self._stopping.is_set():
                gap = self.delay if delivery.fault is None else 0.0
                self._push_locked(_Due(time.monotonic() + gap, 0, due.plan, due.index + 1))
            else:
                self._finish_locked()


def _change_one_byte(body: bytes) -> bytes:
    """The body with one byte of its AccountSid changed: the claim it makes stays readable,
    the signature over the original no longer matches."""
    at = body.find(b"AccountSid=") + len(b"AccountSid=")
    if at < len(b"AccountSid=") or at >= len(body):
        return body + b"&"
    changed = b"0" if body[at : at + 1] != b"0" else b"1"
    return body[:at] + changed + body[at + 1 :]


def _entry(delivery: Delivery, call_sid: str) -> dict[str, Any]:
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
    return entry


class _TlsSender:
    """https callbacks, one at a time on a thread of their own, through ``http.client``."""

    def __init__(self, done: collections.deque[Any], wake: Callable[[], None]):
        self._queue: queue.Queue[Any] = queue.Queue()
        self._done = done
        self._wake = wake
        self._connections: dict[tuple[str, int], http.client.HTTPSConnection] = {}
        self._thread = threading.Thread(target=self._run, name="sandbox-tls", daemon=True)
        self._thread.start()

    def send(self, token: Any, host: str, port: int, *request: Any) -> None:
        self._queue.put((token, host, port, request))

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(TIMEOUT + 1)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            token, host, port, (method, path, headers, body) = item
            status, error = None, None
            conn = self._connections.pop((host, port), None)
            conn = conn or http.client.HTTPSConnection(host, port, timeout=TIMEOUT)
            try:
                conn.request(method, path, body=body or None, headers=dict(headers))
                reply = conn.getresponse()
                reply.read(65536)
                status = reply.status
                if not reply.will_close and reply.isclosed():
                    self._connections[(host, port)] = conn
                else:
                    conn.close()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                error = type(exc).__name__
            self._done.append((token, status, error))
            self._wake()
        for conn in self._connections.values():
            conn.close()
