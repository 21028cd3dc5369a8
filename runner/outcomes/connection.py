"""One client connection of the receiver: parse requests as bytes arrive, answer them in order.

A plain asyncio protocol, so a request costs no task and no timer: one sweep a second (run by the
receiver) closes connections idle too long or stuck in the middle of a request. Requests a client
pipelines are answered in the order they came, each when its own decision is made (at once for a
refusal, after the ledger commit for a callback); a client that sends more than MAX_PIPELINE
without reading its answers is not read until it catches up.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING, Any

from runner import codes
from runner.outcomes import http11

if TYPE_CHECKING:
    from runner.outcomes.receiver import Receiver

MAX_CONNECTIONS = 512  # beyond this, new connections get 503 and are closed
MAX_PIPELINE = 64  # unanswered requests per connection before it stops being read
IDLE_TIMEOUT = 30.0  # seconds a kept-alive connection may wait for its next request
PART_TIMEOUT = 10.0  # seconds to send the rest of a request once it started


class Connection(asyncio.Protocol):
    """One client connection: parse requests as bytes arrive, answer them in order."""

    def __init__(self, receiver: Receiver):
        self.receiver = receiver
        self.reader = http11.RequestReader(receiver.max_body)
        self.transport: asyncio.Transport | None = None
        self.remote = "?"
        # One slot per request in arrival order: [status, text, keep_alive] once answered.
        self.pending: deque[list[Any]] = deque()
        self.closing = False
        self.eof = False
        self.paused = False
        self.last = 0.0
        self.started: float | None = None  # when the current partial request began

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.remote = str(peer[0]) if isinstance(peer, tuple) and peer else "?"
        self.last = self._now()
        if len(self.receiver.connections) >= MAX_CONNECTIONS:
            transport.write(http11.response(503, "busy\n", keep_alive=False))
            transport.close()
            return
        self.receiver.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.receiver.connections.discard(self)
        self.closing = True
        for slot in self.pending:
            if slot[0] is None:
                self.receiver.busy(-1)
                slot[0] = 0  # answered into the void: nothing to write to
        self.pending.clear()

    def eof_received(self) -> bool | None:
        if self.reader.partial and not self.closing:
            reason = "the connection closed in the middle of a request"
            self.receiver.log(self.remote, None, 400, "rejected", codes.HTTP_BAD_REQUEST, reason)
            self._queue_answer([400, f"{reason}\n", False])
        self.eof = True
        # A client may half-close after its last request: keep the connection until every
        # request it sent is answered.
        return True if self.pending else None

    def _now(self) -> float:
        loop = self.receiver.loop
        return loop.time() if loop is not None else 0.0

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        self.last = self._now()
        if self.started is None:
            self.started = self.last
        self.reader.feed(data)
        self._parse()

    def _parse(self) -> None:
        while not self.closing and len(self.pending) < MAX_PIPELINE:
            try:
                request = self.reader.next()
            except http11.HttpError as exc:
                self.receiver.log(
                    self.remote, exc.request, exc.status, "rejected", exc.code, exc.reason
                )
                self._queue_answer([exc.status, f"{exc.reason}\n", False])
                self.closing = True
                return
            if request is None:
                if self.reader.wants_continue and self.transport is not None:
                    self.transport.write(http11.CONTINUE)
                    self.reader.continue_sent = True
                break
            self.started = self.last if self.reader.partial else None
            slot: list[Any] = [None, "", request.keep_alive]
            self.pending.append(slot)
            self.receiver.busy(1)
            self.receiver.handle(request, self.remote, self._answerer(slot))
        if len(self.pending) >= MAX_PIPELINE and not self.paused and self.transport is not None:
            self.transport.pause_reading()  # answer what is queued before reading more
            self.paused = True

    def _answerer(self, slot: list[Any]) -> Any:
        def answer(status: int, text: str) -> None:
            if slot[0] is not None:
                return
            slot[0], slot[1] = status, text
            self.receiver.busy(-1)
            self._flush()

        return answer

    def _queue_answer(self, slot: list[Any]) -> None:
        self.pending.append(slot)
        self._flush()

    def _flush(self) -> None:
        transport = self.transport
        if transport is None:
            return
        while self.pending and self.pending[0][0] is not None:
            status, text, keep = self.pending.popleft()
            keep = keep and status < 500 and not (self.closing and not self.pending)
            if transport.is_closing():
                return
            transport.write(http11.response(status, text, keep_alive=keep))
            if not keep:
                self.closing = True
                transport.close()
                return
        if self.eof and not self.pending:
            self.closing = True
            transport.close()
            return
        if self.paused and len(self.pending) < MAX_PIPELINE // 2:
            self.paused = False
            transport.resume_reading()
            self._parse()

    def expire(self, now: float) -> None:
        if self.transport is None or self.pending:
            return
        if self.started is not None and self.reader.partial and now - self.started > PART_TIMEOUT:
            self.receiver.log(
                self.remote,
                None,
                408,
                "rejected",
                codes.HTTP_BAD_REQUEST,
                "the request took too long",
            )
            self._queue_answer([408, "the request took too long\n", False])
        elif now - self.last > IDLE_TIMEOUT:
            self.close()

    def close(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.close()
