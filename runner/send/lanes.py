"""The POST path of the clients ``wire.make_client`` makes: HTTP/1.1 connections of our own.

``httpx.Client.request`` costs about twice what the HTTP exchange itself does: it merges headers
and cookies, builds a ``Request`` and a ``Response`` and their streams per call, and its pool
takes one lock and polls every idle connection's socket on each request; below it, httpcore's
connection classes cost about as much again as h11's own work (306 against 160 us of CPU a POST
on the benchmark machine). A batch makes the same kind of POST thousands of times, so the
clients made here send through a few connections of their own instead, kept on a stack (the
most recently used first): httpcore's network streams (connect, TLS, reads and writes with
their timeouts and errors), driven with h11 as httpcore's HTTP/1.1 connection drives them.

What reaches the server is byte for byte what httpx sends (the same headers in the same order,
checked by a test), over the same TLS context (``httpx.create_ssl_context`` with the environment
ignored, as the transport has it) and the same kind of network backend (``wire._Backend``: what
left, and the deadline for the whole reply). Timeouts are httpx's (connect, read, write, and pool
while every connection is busy), and failures raise httpcore's exceptions, which httpx's carry
the names of, so ``submit`` classifies both alike. Two things httpx would do are left out on
purpose: cookies a server sets are not sent back (the API authenticates with the key), and a
body in a content coding other than gzip or deflate is kept as it came (httpx asks for those two
and skips the others it is not built with).
"""

from __future__ import annotations

import contextlib
import threading
import time
import zlib
from typing import Any

# Imported by wire.make_client, for sending only.
import h11
import httpcore

KEEPALIVE_EXPIRY = 5.0  # seconds an idle connection is kept (httpx's default)
# Telnyx answers a call request in well under a kilobyte. A reply past this, as it arrives or
# once decompressed (a small gzip body can expand a thousandfold), is a broken or hostile
# server's, and is not held in memory.
MAX_REPLY = 1 << 20


class ReplyTooLarge(Exception):
    """The reply's body is over ``MAX_REPLY`` bytes; the request was sent, so the call's
    outcome is unknown."""


class Reply:
    """What ``submit`` reads of an answer: the status, the headers, the (decoded) body."""

    __slots__ = ("content", "headers", "status_code")

    def __init__(self, status_code: int, headers: Headers, content: bytes):
        self.status_code = status_code
        self.headers = headers
        self.content = content


class Headers:
    """Reply headers by case-insensitive name; repeated headers joined with ", ", and decoded
    as httpx decodes them (ASCII, else UTF-8, else Latin-1, for all of them alike)."""

    __slots__ = ("_values",)

    def __init__(self, raw: list[tuple[bytes, bytes]]):
        encoding = _header_encoding(raw)
        values: dict[str, str] = {}
        for name, value in raw:
            key = name.decode(encoding).lower()
            text = value.decode(encoding)
            values[key] = f"{values[key]}, {text}" if key in values else text
        self._values = values

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._values.get(name.lower(), default)


class Lanes:
    """Up to ``max_connections`` keep-alive connections for POSTs, each used by one request at
    a time."""

    def __init__(
        self,
        *,
        ssl_context: Any,
        backend: Any,
        timeouts: dict[str, float | None],
        max_connections: int,
    ):
        self._ssl_context = ssl_context
        self._backend = backend
        self._timeouts = timeouts
        self._max = max(1, max_connections)
        self._idle: list[tuple[Origin, _Connection]] = []  # most recently used last
        self._open = 0  # connections handed out or idle
        self._free = threading.Condition(threading.Lock())
        self._closed = False

    def post(self, url: Any, headers: list[tuple[str, str]], body: bytes) -> Reply:
        """POST ``body`` to ``url`` (an ``httpx.URL``); raises httpx's URL errors and
        httpcore's transport errors (nothing else is caught here)."""
        if url.scheme not in ("http", "https"):
            import httpx

            raise httpx.UnsupportedProtocol(
                "Request URL has an unsupported protocol; only http and https are allowed"
            )
        # As httpx.Client builds them: Host, its two defaults that the request does not
        # override, the request's own headers in order, then the length.
        lines = [(b"Host", url.netloc)]
        given = {name.lower() for name, _ in headers}
        if "accept-encoding" not in given:
            lines.append((b"Accept-Encoding", b"gzip, deflate"))
        if "connection" not in given:
            lines.append((b"Connection", b"keep-alive"))
        for name, value in headers:
            # ASCII only, as httpx encodes them: a key with other characters fails here,
            # before anything is sent.
            lines.append((name.encode("ascii"), value.encode("ascii")))
        lines.append((b"Content-Length", str(len(body)).encode("ascii")))
        # A header h11 refuses (a line break in the key) fails here too, before connecting.
        try:
            request = h11.Request(method=b"POST", target=url.raw_path, headers=lines)
        except h11.LocalProtocolError as exc:
            raise httpcore.LocalProtocolError(exc) from exc
        scheme = url.raw_scheme
        origin = (scheme, url.raw_host, url.port or _DEFAULT_PORTS[scheme])
        connection = self._take(origin)
        kept = False
        try:
            if connection is None:
                connection = self._connect(origin)
            status, raw_headers, content = connection.exchange(request, body, self._timeouts)
            kept = True
        finally:
            self._give_back(origin, connection, kept)
        reply_headers = Headers(raw_headers)
        if status in _REDIRECTS and reply_headers.get("location") is not None:
            _check_redirect(url, reply_headers.get("location") or "")
        return Reply(status, reply_headers, _decoded(content, reply_headers))

    def close(self) -> None:
        with self._free:
            self._closed = True
            idle, self._idle = self._idle, []
            self._open -= len(idle)
        for _, connection in idle:
            connection.close()

    def _take(self, origin: Origin) -> _Connection | None:
        """An idle connection to ``origin`` that is still good, or None with a slot held for a
        new one; waits (up to the pool timeout) while ``max_connections`` are busy."""
        stale: list[_Connection] = []
        pool_timeout = self._timeouts.get("pool")
        deadline = None if pool_timeout is None else time.monotonic() + pool_timeout
        try:
            with self._free:
                while True:
                    while self._idle:
                        key, connection = self._idle.pop()
                        if key == origin and not (connection.closed or connection.has_expired()):
                            return connection
                        self._open -= 1
                        stale.append(connection)
                    if self._open < self._max:
                        self._open += 1
                        return None
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        raise httpcore.PoolTimeout("no connection became free in time")
                    self._free.wait(left)
        finally:
            for connection in stale:
                connection.close()

    def _connect(self, origin: Origin) -> _Connection:
        """A new connection, as httpcore's HTTPConnection opens one (TLS for https, HTTP/1.1
        only); raises httpcore's ConnectError or ConnectTimeout."""
        scheme, host, port = origin
        name = host.decode("ascii")
        timeout = self._timeouts.get("connect")
        stream = self._backend.connect_tcp(
            host=name, port=port, timeout=timeout, local_address=None, socket_options=None
        )
        if scheme == b"https":
            self._ssl_context.set_alpn_protocols(["http/1.1"])
            stream = stream.start_tls(
                ssl_context=self._ssl_context, server_hostname=name, timeout=timeout
            )
        return _Connection(stream)

    def _give_back(self, origin: Origin, connection: _Connection | None, kept: bool) -> None:
        if connection is not None and kept and not connection.closed:
            with self._free:
                if not self._closed:
                    self._idle.append((origin, connection))
                    self._free.notify()
                    return
        # Failed, cut short (Ctrl-C) or not reusable: never handed out again.
        if connection is not None:
            connection.close()
        self._release_slot()

    def _release_slot(self) -> None:
        with self._free:
            self._open -= 1
            self._free.notify()


Origin = tuple[bytes, bytes, int]
_DEFAULT_PORTS = {b"http": 80, b"https": 443}
READ_NUM_BYTES = 64 * 1024  # httpcore's read size
MAX_INCOMPLETE_EVENT_SIZE = 100 * 1024  # httpcore's limit for a reply's head


class _Connection:
    """One HTTP/1.1 connection, driven with h11 the way httpcore's HTTP11Connection drives it
    (its classes and checks cost a batch more than the exchange itself): the same events,
    reads of the same size, the same errors (httpcore's), and the same rules for keeping the
    connection. ``stream`` is the network backend's (``wire._Backend``), which records what
    left and holds the reply to its deadline."""

    __slots__ = ("closed", "expire_at", "h11", "idle", "stream")

    def __init__(self, stream: Any):
        self.stream = stream
        self.h11 = h11.Connection(
            our_role=h11.CLIENT, max_incomplete_event_size=MAX_INCOMPLETE_EVENT_SIZE
        )
        self.closed = False
        self.idle = False
        self.expire_at: float | None = None

    def exchange(
        self, request: Any, body: bytes, timeouts: dict[str, float | None]
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """Send the request and read the whole reply: its status, raw headers and body (at
        most ``MAX_REPLY`` bytes, else ReplyTooLarge)."""
        self.idle = False
        self.expire_at = None
        try:
            try:
                data = self.h11.send(request) or b""
                data += self.h11.send(h11.Data(data=body)) or b""
                data += self.h11.send(h11.EndOfMessage()) or b""
            except h11.LocalProtocolError as exc:
                raise httpcore.LocalProtocolError(exc) from exc
            # As httpcore: a server may close the request early and still answer it.
            with contextlib.suppress(httpcore.WriteError):
                self.stream.write(data, timeout=timeouts.get("write"))
            read = timeouts.get("read")
            while True:
                event = self._next_event(read)
                if isinstance(event, h11.Response):
                    break
                if isinstance(event, h11.InformationalResponse) and event.status_code == 101:
                    break
            parts: list[bytes] = []
            size = 0
            while True:
                chunk = self._next_event(read)
                if isinstance(chunk, h11.Data):
                    size += len(chunk.data)
                    if size > MAX_REPLY:
                        raise ReplyTooLarge
                    parts.append(bytes(chunk.data))
                elif isinstance(chunk, h11.EndOfMessage) or chunk is h11.PAUSED:
                    break
        finally:
            self._finished()
        return event.status_code, event.headers.raw_items(), b"".join(parts)

    def _next_event(self, timeout: float | None) -> Any:
        while True:
            # h11's errors are raised as httpcore's, which submit classifies (here and above;
            # a plain try, as this runs for every event of every reply).
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError as exc:
                raise httpcore.RemoteProtocolError(exc) from exc
            if event is not h11.NEED_DATA:
                return event
            data = self.stream.read(READ_NUM_BYTES, timeout=timeout)
            if data == b"" and self.h11.their_state == h11.SEND_RESPONSE:
                raise httpcore.RemoteProtocolError(
                    "Server disconnected without sending a response."
                )
            self.h11.receive_data(data)

    def _finished(self) -> None:
        """Kept for the next request if both sides finished cleanly, else closed."""
        if self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE:
            self.h11.start_next_cycle()
            self.idle = True
            self.expire_at = time.monotonic() + KEEPALIVE_EXPIRY
        else:
            self.close()

    def has_expired(self) -> bool:
        """Idle past the keep-alive expiry, or readable while idle: the server closed it (or
        sent what no request asked for), and a request sent on it could be lost."""
        if self.expire_at is not None and time.monotonic() > self.expire_at:
            return True
        return self.idle and bool(self.stream.get_extra_info("is_readable"))

    def close(self) -> None:
        self.closed = True
        self.stream.close()


def _header_encoding(raw: list[tuple[bytes, bytes]]) -> str:
    for encoding in ("ascii", "utf-8"):
        try:
            for name, value in raw:
                name.decode(encoding)
                value.decode(encoding)
        except UnicodeDecodeError:
            continue
        return encoding
    return "iso-8859-1"


_REDIRECTS = (301, 302, 303, 307, 308)


def _check_redirect(url: Any, location: str) -> None:
    """Raise what httpx.Client raises for a redirect it cannot follow, although it does not
    follow it either (it builds the next request regardless): a Location that is not a URL is
    a broken reply, so the call's outcome is unknown, not a rejection."""
    import httpx

    try:
        target = httpx.URL(location)
    except httpx.InvalidURL as exc:
        raise httpx.RemoteProtocolError(f"Invalid URL in location header: {exc}.") from None
    if target.scheme and not target.host:
        target = target.copy_with(host=url.host)
    if target.is_relative_url:
        url.join(target)


def _inflate(decoder: Any, content: bytes) -> bytes:
    out = decoder.decompress(content, MAX_REPLY + 1)
    if len(out) > MAX_REPLY:
        raise ReplyTooLarge
    return bytes(out)


def _decoded(content: bytes, headers: Headers) -> bytes:
    """The body without the gzip or deflate coding httpx's default headers ask for."""
    coding = headers.get("content-encoding")
    if not coding:
        return content
    try:
        for name in reversed([c.strip().lower() for c in coding.split(",")]):
            if name == "gzip":
                content = _inflate(zlib.decompressobj(zlib.MAX_WBITS | 16), content)
            elif name == "deflate":
                try:
                    content = _inflate(zlib.decompressobj(), content)
                except zlib.error:  # raw deflate, without the zlib header (httpx accepts it)
                    content = _inflate(zlib.decompressobj(-zlib.MAX_WBITS), content)
    except zlib.error:
        import httpx

        raise httpx.DecodingError("the reply's body could not be decoded") from None
    # A coding httpx does not know is skipped, as httpx skips it.
    return content
