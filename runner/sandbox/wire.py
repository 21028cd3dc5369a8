"""The sandbox's HTTP/1.1 server: sockets, parsing and answers, nothing about Telnyx.

Written against the socket module rather than ``http.server`` because the sandbox must answer
fast and predictably: every answer leaves in one write with Nagle's algorithm off (headers and
body split over two writes made every answer wait ~40 ms for the client's delayed ACK), the
listen backlog takes a burst of connections without resets, headers are parsed by hand (the
email parser behind ``http.server`` costs more than the rest of an answer), and each connection
has an idle timeout and a request deadline under a cap on open connections, so idle or trickling
clients cannot pin threads for ever.

One thread serves one connection for its whole life (keep-alive included), so a handler may
block (a held answer, a scripted delay) without stalling the other connections.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus

MAX_HEADER_BYTES = 64 * 1024
BACKLOG = 1024
_RECV = 65536


@dataclass
class Request:
    method: str
    target: str  # path and query, as sent
    version: str
    headers: list[tuple[str, str]]
    body: bytes | None  # None: the body was refused (too large or unreadable length)
    peer: str  # the client's IP address
    _lower: dict[str, str] = field(default_factory=dict, repr=False)

    def header(self, name: str) -> str | None:
        if not self._lower:
            self._lower = {k.lower(): v for k, v in self.headers}
        return self._lower.get(name.lower())

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def query(self) -> str:
        return self.target.split("?", 1)[1] if "?" in self.target else ""


class Exchange:
    """One request's way back to its client: answer once, or drop the connection."""

    def __init__(self, conn: Connection, keep_alive: bool, head: bool = False):
        self._conn = conn
        self.keep_alive = keep_alive
        self.done = False
        self._head = head  # an answer to HEAD has headers only

    def answer(self, status: int, body: bytes, headers: list[tuple[str, str]] | tuple = ()) -> bool:
        """Send the whole answer in one write. False when the client has gone."""
        self.done = True
        lines = [f"HTTP/1.1 {status} {_reason(status)}"]
        lines += [f"{name}: {value}" for name, value in headers]
        lines.append(f"Content-Length: {len(body)}")
        lines.append(f"Date: {_date()}")
        lines.append("Server: callprofile-sandbox")
        if not self.keep_alive:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        try:
            self._conn.sock.sendall(head if self._head else head + body)
        except OSError:
            self.keep_alive = False
            return False
        return True

    def drop(self, reset: bool) -> None:
        """End the connection without an answer: RST when ``reset``, else an orderly close."""
        self.done = True
        self.keep_alive = False
        if reset:
            # Linger 0: close() sends RST instead of FIN, as a crashed proxy would.
            with contextlib.suppress(OSError):
                self._conn.sock.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
        self._conn.close()


Handler = Callable[[Request, Exchange], None]


class Connection:
    def __init__(self, server: Server, sock: socket.socket, peer: str):
        self.server = server
        self.sock = sock
        self.peer = peer
        self._buffer = b""
        self._closed = False

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            with contextlib.suppress(OSError):
                self.sock.close()

    def shutdown(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)

    def serve(self) -> None:
        try:
            while not self._closed and not self.server.stopping.is_set():
                request = self._read_request()
                if request is None:
                    return
                exchange = Exchange(self, _keep_alive(request), request.method == "HEAD")
                self.server.handler(request, exchange)
                if not exchange.done:
                    # A handler cut short by stop() leaves without an answer, as a server that
                    # goes away does; one that forgot to answer is a bug, so say so.
                    if self.server.stopping.is_set():
                        exchange.drop(reset=False)
                    else:
                        exchange.answer(500, b"")
                if not exchange.keep_alive or request.body is None:
                    return
        except Exception as exc:  # a handler bug must not kill the server
            self.server.on_error(exc)
        finally:
            self.close()
            self.server.forget(self)

    # -- reading -------------------------------------------------------------------------------

    def _recv(self, deadline: float | None) -> bytes:
        """The next bytes, or b"" on EOF, timeout or error. Before a request starts the wait is
        the idle timeout; once it has started, the request's deadline."""
        wait = self.server.idle_timeout
        if deadline is not None:
            wait = deadline - time.monotonic()
            if wait <= 0:
                return b""
        try:
            self.sock.settimeout(wait)
            return self.sock.recv(_RECV)
        except OSError:  # timeout, reset, or closed by stop()
            return b""

    def _read_request(self) -> Request | None:
        deadline = time.monotonic() + self.server.idle_timeout if self._buffer else None
        while b"\r\n\r\n" not in self._buffer:
            if len(self._buffer) > MAX_HEADER_BYTES:
                self._refuse(431)
                return None
            chunk = self._recv(deadline)
            if not chunk:
                return None
            if deadline is None:
                deadline = time.monotonic() + self.server.idle_timeout
            self._buffer += chunk
        head, _, rest = self._buffer.partition(b"\r\n\r\n")
        if len(head) > MAX_HEADER_BYTES:
            self._refuse(431)
            return None
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            self._refuse(400)
            return None
        method, target, version = parts
        headers: list[tuple[str, str]] = []
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip():
                self._refuse(400)
                return None
            headers.append((name, value.strip()))
        request = Request(method, target, version, headers, b"", self.peer)
        if request.header("Transfer-Encoding") is not None:
            self._refuse(501)  # the sandbox's clients send Content-Length
            return None
        length_text = request.header("Content-Length")
        length = 0
        if length_text is not None:
            length = int(length_text) if length_text.isdigit() else -1
        if length < 0 or length > self.server.max_body:
            self._buffer = b""
            request.body = None  # answered (413), then the connection closes
            return request
        if length > len(rest) and (request.header("Expect") or "").lower() == "100-continue":
            with contextlib.suppress(OSError):
                self.sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        while len(rest) < length:
            chunk = self._recv(deadline)
            if not chunk:
                return None
            rest += chunk
        request.body = rest[:length]
        self._buffer = rest[length:]
        return request

    def _refuse(self, status: int) -> None:
        Exchange(self, keep_alive=False).answer(status, b"")


def _keep_alive(request: Request) -> bool:
    connection = (request.header("Connection") or "").lower()
    if request.version == "HTTP/1.0":
        return connection == "keep-alive"
    return connection != "close"


class Server:
    """Accepts connections (at most ``max_connections`` at once; later ones wait in the
    backlog) and serves each in its own thread with ``handler``."""

    def __init__(
        self,
        host: str,
        port: int,
        handler: Handler,
        *,
        max_connections: int = 256,
        idle_timeout: float = 60.0,
        max_body: int = 1_000_000,
        on_error: Callable[[BaseException], None] = lambda exc: None,
    ):
        self.handler = handler
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.max_body = max_body
        self.on_error = on_error
        self.stopping = threading.Event()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._listener.bind((host, port))
            self._listener.listen(BACKLOG)
        except OSError:
            self._listener.close()
            raise
        self.port: int = self._listener.getsockname()[1]
        self._slots = threading.BoundedSemaphore(max_connections)
        self._lock = threading.Lock()
        self._connections: dict[Connection, threading.Thread] = {}
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread = threading.Thread(target=self._accept, name="sandbox-accept", daemon=True)

    def start(self) -> None:
        self._thread.start()

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._connections)

    def forget(self, conn: Connection) -> None:
        with self._lock:
            known = self._connections.pop(conn, None) is not None
        if known:
            self._slots.release()

    def _accept(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._listener, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while not self.stopping.is_set():
                # A free slot first: past the cap, connections wait in the kernel's backlog
                # (not reset) until an open one ends or times out.
                while not self._slots.acquire(timeout=0.5):
                    if self.stopping.is_set():
                        return
                ready = False
                while not ready and not self.stopping.is_set():
                    ready = any(key.fileobj is self._listener for key, _ in selector.select())
                if self.stopping.is_set():
                    self._slots.release()
                    return
                try:
                    sock, address = self._listener.accept()
                except OSError:
                    self._slots.release()
                    continue
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                conn = Connection(self, sock, str(address[0]))
                thread = threading.Thread(target=conn.serve, name="sandbox-conn", daemon=True)
                with self._lock:
                    self._connections[conn] = thread
                thread.start()

    def stop(self, join: float = 5.0) -> None:
        """Stop accepting, end every open connection, and wait for their threads."""
        self.stopping.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        self._thread.join(join)
        with self._lock:
            open_now = list(self._connections.items())
        for conn, _ in open_now:
            conn.shutdown()
        for _, thread in open_now:
            thread.join(join)
        for sock in (self._listener, self._wake_r, self._wake_w):
            sock.close()


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


_date_cache: tuple[int, str] = (0, "")


def _date() -> str:
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, formatdate(now, usegmt=True))
    return _date_cache[1]
