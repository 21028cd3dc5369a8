"""The callback receiver: verify, then parse, then record, then answer.

An asyncio server on its own thread (so ``batch --listen`` can run it beside the batch), speaking
the strict subset of HTTP/1.1 in ``http11`` as a plain protocol (no task per request: the
receiver is meant to keep up with thousands of callbacks a second). For each request:

1. POST only (a GET callback carries its fields in the query string, which the signature does not
   cover; it is accepted only with verification off);
2. the Ed25519 signature and timestamp, over the raw body, before anything reads the body:
   failures get 403 and a log line, and the body is not recorded;
3. the body becomes a ``Callback`` (400 when it cannot);
4. the ledger writer stores it durably (duplicates are recognised there) and only then does the
   sender get its 200; a ledger that cannot be written gets 503, so Telnyx tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

from runner import codes
from runner.outcomes import http11
from runner.outcomes.callbacks import Callback, CallbackError, parse
from runner.outcomes.connection import Connection
from runner.outcomes.journal import Journal
from runner.outcomes.verify import SIGNATURE_HEADER, TIMESTAMP_HEADER, Verifier

MAX_BODY = 64 * 1024
DEFAULT_PORT = 8788
STOP_GRACE = 2.0  # seconds requests under way get to finish when the receiver stops


class Receiver:
    """``verifier`` None means verification is off (the CLI allows that on loopback only);
    ``writer`` None means callbacks are logged, not recorded."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        verifier: Verifier | None,
        writer: Any = None,
        journal: Journal | None = None,
        max_body: int = MAX_BODY,
    ):
        self.host = host
        self.port = port
        self.verifier = verifier
        self.writer = writer
        self.journal = journal or Journal()
        self.max_body = max_body
        self.loop: asyncio.AbstractEventLoop | None = None
        self.connections: set[Connection] = set()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._stopping: asyncio.Event | None = None
        self._idle: asyncio.Event | None = None
        self._busy = 0
        self.still_unmatched: int | None = None  # set by stop(), when recording
        # Callbacks verified during one turn of the event loop go to the writer together.
        self._outbox: list[tuple[Callback, Any]] = []

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> Receiver:
        """Bind and serve; raises OSError when the address cannot be used."""
        self._thread = threading.Thread(target=self._run, name="callprofile-listen", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._failure is not None:
            raise self._failure
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop accepting, let requests under way finish (briefly), close the connections,
        then let the writer store what it holds and close the ledger."""
        loop, stopping = self.loop, self._stopping
        if loop is not None and stopping is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                loop.call_soon_threadsafe(stopping.set)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self.writer is not None:
            self.writer.stop(timeout)
            self.still_unmatched = self.writer.still_unmatched
            self.writer = None

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self.loop = loop
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:  # reported through start() when it happens at start-up
            self._failure = self._failure or exc
        finally:
            self._ready.set()
            loop.close()

    async def _main(self) -> None:
        assert self.loop is not None
        self._stopping = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        try:
            server = await self.loop.create_server(
                lambda: Connection(self), self.host, self.port, backlog=512
            )
        except OSError as exc:
            self._failure = exc
            return
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        sweeper = self.loop.call_later(1.0, self._sweep)
        try:
            await self._stopping.wait()
        finally:
            sweeper.cancel()
            server.close()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._idle.wait(), STOP_GRACE)
            for connection in list(self.connections):
                connection.close()
            await asyncio.sleep(0)

    def _sweep(self) -> None:
        """Close connections idle past IDLE_TIMEOUT or stuck mid-request past PART_TIMEOUT
        (one timer for all connections: cheaper than a timer per request)."""
        assert self.loop is not None
        now = self.loop.time()
        for connection in list(self.connections):
            connection.expire(now)
        self.loop.call_later(1.0, self._sweep)

    def busy(self, by: int) -> None:
        self._busy += by
        if self._idle is not None:
            if self._busy:
                self._idle.clear()
            else:
                self._idle.set()

    # -- one request ---------------------------------------------------------------------------

    def handle(self, request: http11.Request, remote: str, answer: Any) -> None:
        """Decide on ``request`` and call ``answer(status, text)``, at once for refusals, or
        when the ledger has stored the callback."""
        body = request.body
        content_type = request.headers.get("content-type")
        if request.method == "GET" and self.verifier is None:
            body = request.query.encode("latin-1", "replace")
            content_type = "application/x-www-form-urlencoded"
        elif request.method == "GET":
            reason = (
                "GET callbacks carry their fields in the query string, which the signature does "
                "not cover; set StatusCallbackMethod (and AsyncAmdStatusCallbackMethod) to POST"
            )
            answer(*self._refuse(request, remote, 405, codes.UNSIGNED_QUERY, reason))
            return
        elif request.method != "POST":
            reason = f"{request.method[:16]} is not accepted"
            answer(*self._refuse(request, remote, 405, codes.HTTP_BAD_METHOD, reason))
            return
        if self.verifier is not None:
            verdict = self.verifier.check(
                body, request.headers.get(SIGNATURE_HEADER), request.headers.get(TIMESTAMP_HEADER)
            )
            if not verdict.ok:
                answer(*self._refuse(request, remote, 403, verdict.code, verdict.reason))
                return
        try:
            callback = parse(body, content_type)
        except CallbackError as exc:
            answer(*self._refuse(request, remote, 400, exc.code, exc.message))
            return
        if self.writer is None:
            self.log(remote, request, 200, "accepted", None, None, callback)
            answer(200, "accepted\n")
            return
        loop = self.loop
        assert loop is not None

        def stored(result: str) -> None:  # runs on the writer thread
            # A loop closed while the write ran has no one to answer; the sender retries.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._stored, request, remote, callback, result, answer)

        if not self._outbox:
            loop.call_soon(self._hand_over)
        self._outbox.append((callback, stored))

    def _hand_over(self) -> None:
        items, self._outbox = self._outbox, []
        if self.writer is not None:
            self.writer.submit_all(items)

    def _stored(
        self,
        request: http11.Request,
        remote: str,
        callback: Callback,
        result: str,
        answer: Any,
    ) -> None:
        if result == "error":
            reason = "the ledger could not be written; the sender will retry"
            self.log(remote, request, 503, "error", codes.CALLBACK_NOT_STORED, reason, callback)
            answer(503, "not recorded; try again\n")
            return
        self.log(remote, request, 200, result, None, None, callback)
        answer(200, f"{result}\n")

    def _refuse(
        self, request: http11.Request, remote: str, status: int, code: str, reason: str
    ) -> tuple[int, str]:
        self.log(remote, request, status, "rejected", code, reason)
        return status, "forbidden\n" if status == 403 else f"{reason}\n"

    def log(
        self,
        remote: str,
        request: http11.Request | None,
        status: int,
        result: str,
        code: str | None,
        reason: str | None,
        callback: Callback | None = None,
    ) -> None:
        entry: dict[str, Any] = {
            "remote": remote,
            "method": request.method if request else None,
            "path": request.path if request else None,
            "status": status,
            "result": result,
            "code": code,
            "reason": reason,
        }
        if callback is not None:
            entry.update(
                call_sid=callback.call_sid,
                kind=callback.kind,
                call_status=callback.raw_status,
                sequence=callback.sequence,
                answered_by=callback.answered_by_detail,
            )
        self.journal.write(entry)
