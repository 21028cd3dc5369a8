"""The POST path of the clients ``wire.make_client`` makes: httpcore connections driven directly.

``httpx.Client.request`` costs about twice what the HTTP exchange itself does: it merges headers
and cookies, builds a ``Request`` and a ``Response`` and their streams per call, and its pool
takes one lock and polls every idle connection's socket on each request. A batch makes the same
kind of POST thousands of times, so the clients made here send through a few httpcore
connections of their own instead, kept on a stack (the most recently used first).

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

import threading
import time
import zlib
from typing import Any

KEEPALIVE_EXPIRY = 5.0  # seconds an idle connection is kept (httpx's default)


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
        self._idle: list[Any] = []  # (origin key, connection), most recently used last
        self._open = 0  # connections handed out or idle
        self._free = threading.Condition(threading.Lock())
        self._closed = False

    def post(self, url: Any, headers: list[tuple[str, str]], body: bytes) -> Reply:
        """POST ``body`` to ``url`` (an ``httpx.URL``); raises httpx's URL errors and
        httpcore's transport errors (nothing else is caught here)."""
        import httpcore

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
        request = httpcore.Request(
            b"POST",
            httpcore.URL(
                scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
            ),
            headers=lines,
            content=body,
            extensions={"timeout": self._timeouts},
        )
        origin = (url.raw_scheme, url.raw_host, url.port)
        connection = self._take(origin, request)
        kept = False
        try:
            response = connection.handle_request(request)
            try:
                content = b"".join(response.stream)
            finally:
                response.close()
            kept = True
        finally:
            self._give_back(origin, connection, kept)
        reply_headers = Headers(response.headers)
        if response.status in _REDIRECTS and reply_headers.get("location") is not None:
            _check_redirect(url, reply_headers.get("location") or "")
        return Reply(response.status, reply_headers, _decoded(content, reply_headers))

    def close(self) -> None:
        with self._free:
            self._closed = True
            idle, self._idle = self._idle, []
            self._open -= len(idle)
        for _, connection in idle:
            connection.close()

    def _take(self, origin: tuple[bytes, bytes, int | None], request: Any) -> Any:
        """An idle connection to ``origin`` that is still good, or a new one; waits (up to the
        pool timeout) while ``max_connections`` are busy."""
        import httpcore

        stale: list[Any] = []
        pool_timeout = self._timeouts.get("pool")
        deadline = None if pool_timeout is None else time.monotonic() + pool_timeout
        try:
            with self._free:
                while True:
                    while self._idle:
                        key, connection = self._idle.pop()
                        if key == origin and not (
                            connection.is_closed() or connection.has_expired()
                        ):
                            return connection
                        self._open -= 1
                        stale.append(connection)
                    if self._open < self._max:
                        self._open += 1
                        break
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        raise httpcore.PoolTimeout("no connection became free in time")
                    self._free.wait(left)
        finally:
            for connection in stale:
                connection.close()
        try:
            return httpcore.HTTPConnection(
                origin=request.url.origin,
                ssl_context=self._ssl_context,
                keepalive_expiry=KEEPALIVE_EXPIRY,
                network_backend=self._backend,
            )
        except BaseException:
            self._release_slot()
            raise

    def _give_back(self, origin: Any, connection: Any, kept: bool) -> None:
        if kept and not connection.is_closed():
            with self._free:
                if not self._closed:
                    self._idle.append((origin, connection))
                    self._free.notify()
                    return
        # Failed, cut short (Ctrl-C) or not reusable: never handed out again.
        connection.close()
        self._release_slot()

    def _release_slot(self) -> None:
        with self._free:
            self._open -= 1
            self._free.notify()


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


def _decoded(content: bytes, headers: Headers) -> bytes:
    """The body without the gzip or deflate coding httpx's default headers ask for."""
    coding = headers.get("content-encoding")
    if not coding:
        return content
    try:
        for name in reversed([c.strip().lower() for c in coding.split(",")]):
            if name == "gzip":
                content = zlib.decompressobj(zlib.MAX_WBITS | 16).decompress(content)
            elif name == "deflate":
                try:
                    content = zlib.decompressobj().decompress(content)
                except zlib.error:  # raw deflate, without the zlib header (httpx accepts it)
                    content = zlib.decompressobj(-zlib.MAX_WBITS).decompress(content)
    except zlib.error:
        import httpx

        raise httpx.DecodingError("the reply's body could not be decoded") from None
    # A coding httpx does not know is skipped, as httpx skips it.
    return content
