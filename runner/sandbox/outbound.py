"""Outgoing HTTP/1.1 exchanges for callbacks, many at once from one thread.

``Outbound`` drives non-blocking keep-alive connections with a selector: ``start()`` an exchange,
then call ``poll()`` from the same thread; each finished exchange is handed to ``on_done`` with
its status or error. One thread with many exchanges in flight costs far less CPU than a thread
per exchange, which spends most of its time handing the GIL back and forth.

Plain http only; the request is one write, and of the answer only the status line and enough
of the headers to know whether the connection can be reused are read. An idle connection the
receiver closed is noticed before reuse; an exchange on a reused connection that closes before
any answer byte is tried once more on a new connection (nothing reached the receiver).
"""

from __future__ import annotations

import contextlib
import errno
import selectors
import socket
import time
from collections.abc import Callable
from typing import Any

TIMEOUT = 5.0  # seconds for a whole exchange: connect, send, answer
PER_TARGET = 32  # connections per (host, port) at most
_READ = 65536
_HEAD_LIMIT = 64 * 1024

Done = Callable[[Any, int | None, str | None], None]  # (token, status, error)


class _Conn:
    __slots__ = ("buffer", "deadline", "key", "out", "pending", "reused", "sock", "state")

    def __init__(self, key: tuple[str, int], sock: socket.socket):
        self.key = key
        self.sock = sock
        self.state = "connecting"  # connecting | sending | reading | idle
        self.out = b""
        self.buffer = b""
        self.pending: tuple[Any, bytes] | None = None  # (token, request)
        self.reused = False
        self.deadline = 0.0


class Outbound:
    def __init__(self, on_done: Done):
        self._on_done = on_done
        self.selector = selectors.DefaultSelector()
        self._idle: dict[tuple[str, int], list[_Conn]] = {}
        self._open: dict[tuple[str, int], int] = {}
        self._waiting: dict[tuple[str, int], list[tuple[Any, bytes]]] = {}
        self._busy: set[_Conn] = set()
        self._last_sweep = 0.0

    @property
    def in_flight(self) -> int:
        return len(self._busy) + sum(len(w) for w in self._waiting.values())

    def start(self, token: Any, host: str, port: int, request: bytes) -> None:
        key = (host, port)
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if _closed_by_peer(conn.sock):
                self._discard(conn)
                continue
            conn.reused = True
            self._send(conn, token, request)
            return
        if self._open.get(key, 0) >= PER_TARGET:
            self._waiting.setdefault(key, []).append((token, request))
            return
        self._connect(key, token, request)

    def poll(self, timeout: float | None) -> None:
        """Wait up to ``timeout`` for socket events and handle them (other registered file
        objects, such as a wake-up socket, are left to the caller via ``extra``)."""
        for key, mask in self.selector.select(timeout):
            conn = key.data
            if isinstance(conn, _Conn):
                self._event(conn, mask)
        now = time.monotonic()
        if now - self._last_sweep > 0.1:
            self._last_sweep = now
            for conn in [c for c in self._busy if c.deadline < now]:
                self._fail(conn, "TimeoutError", retry=False)

    def close(self) -> None:
        for conn in list(self._busy):
            self._fail(conn, "stopped", retry=False)
        for conns in self._idle.values():
            for conn in conns:
                self._discard(conn)
        self._idle.clear()
        self._waiting.clear()

    # -- state machine --------------------------------------------------------------------------

    def _connect(self, key: tuple[str, int], token: Any, request: bytes) -> None:
        family = socket.AF_INET6 if ":" in key[0] else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = _Conn(key, sock)
        self._open[key] = self._open.get(key, 0) + 1
        conn.pending = (token, request)
        conn.deadline = time.monotonic() + TIMEOUT
        self._busy.add(conn)
        code = sock.connect_ex(key)
        if code not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
            self._fail(conn, _error_name(code), retry=False)
            return
        self.selector.register(sock, selectors.EVENT_WRITE, conn)

    def _send(self, conn: _Conn, token: Any, request: bytes) -> None:
        conn.pending = (token, request)
        conn.deadline = time.monotonic() + TIMEOUT
        conn.buffer = b""
        self._busy.add(conn)
        conn.state = "sending"
        conn.out = request
        self._write(conn)

    def _event(self, conn: _Conn, mask: int) -> None:
        if conn.state == "idle":
            self._idle_event(conn)
        elif conn.state == "connecting":
            code = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                self._fail(conn, _error_name(code), retry=False)
                return
            assert conn.pending is not None
            conn.state = "sending"
            conn.out = conn.pending[1]
            self._write(conn)
        elif conn.state == "sending" and mask & selectors.EVENT_WRITE:
            self._write(conn)
        elif conn.state == "reading":
            self._read(conn)

    def _idle_event(self, conn: _Conn) -> None:
        # An idle connection became readable: closed by the receiver (or it sent junk).
        idle = self._idle.get(conn.key, [])
        if conn in idle:
            idle.remove(conn)
        self._discard(conn)

    def _write(self, conn: _Conn) -> None:
        try:
            sent = conn.sock.send(conn.out)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            self._fail(conn, type(exc).__name__, retry=conn.reused)
            return
        conn.out = conn.out[sent:]
        events = selectors.EVENT_WRITE if conn.out else selectors.EVENT_READ
        if not conn.out:
            conn.state = "reading"
        self._register(conn, events)

    def _read(self, conn: _Conn) -> None:
        try:
            chunk = conn.sock.recv(_READ)
        except BlockingIOError:
            return
        except OSError as exc:
            self._fail(conn, type(exc).__name__, retry=conn.reused and not conn.buffer)
            return
        if not chunk:
            retry = conn.reused and not conn.buffer
            self._fail(conn, "ConnectionResetError", retry=retry)
            return
        conn.buffer += chunk
        try:
            answer = parse_answer(conn.buffer)
        except ValueError:
            self._fail(conn, "BadAnswer", retry=False)
            return
        if answer is None:
            if len(conn.buffer) > _HEAD_LIMIT:
                self._fail(conn, "BadAnswer", retry=False)
            return
        status, keep = answer
        token = conn.pending[0] if conn.pending else None
        conn.pending = None
        self._busy.discard(conn)
        if keep:
            conn.state = "idle"
            conn.reused = False
            self._register(conn, selectors.EVENT_READ)
            self._idle.setdefault(conn.key, []).append(conn)
        else:
            self._discard(conn)
        self._on_done(token, status, None)
        self._next_waiting(conn.key)

    def _fail(self, conn: _Conn, error: str, retry: bool) -> None:
        pending = conn.pending
        conn.pending = None
        self._busy.discard(conn)
        self._discard(conn)
        if pending is not None:
            if retry:
                self._connect(conn.key, *pending)
            else:
                self._on_done(pending[0], None, error)
        self._next_waiting(conn.key)

    def _next_waiting(self, key: tuple[str, int]) -> None:
        waiting = self._waiting.get(key)
        while waiting and (self._idle.get(key) or self._open.get(key, 0) < PER_TARGET):
            token, request = waiting.pop(0)
            self.start(token, key[0], key[1], request)

    def _register(self, conn: _Conn, events: int) -> None:
        try:
            self.selector.modify(conn.sock, events, conn)
        except KeyError:
            self.selector.register(conn.sock, events, conn)

    def _discard(self, conn: _Conn) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(conn.sock)
        with contextlib.suppress(OSError):
            conn.sock.close()
        self._open[conn.key] = max(0, self._open.get(conn.key, 0) - 1)


def parse_answer(data: bytes) -> tuple[int, bool] | None:
    """(status, reusable) once ``data`` holds a whole answer; None while it is incomplete.
    Interim (1xx) answers are skipped; a body without a known, small length ends the
    connection instead of being read."""
    while True:
        end = data.find(b"\r\n\r\n")
        if end < 0:
            return None
        lines = data[:end].decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise ValueError("not an HTTP answer")
        status = int(parts[1])
        rest = data[end + 4 :]
        if 100 <= status < 200:
            data = rest
            continue
        fields = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip().lower()
        keep = fields.get("connection") != "close" and parts[0] != "HTTP/1.0"
        length = fields.get("content-length")
        if status in (204, 304):
            length = "0"
        if length is None or not length.isdigit() or int(length) > _READ:
            return status, False
        if len(rest) < int(length):
            return None
        return status, keep and len(rest) == int(length)


def _closed_by_peer(sock: socket.socket) -> bool:
    """True when an idle kept-alive socket has been closed (or has unasked-for bytes)."""
    try:
        sock.recv(1, socket.MSG_PEEK)  # b"" (closed) or bytes nobody asked for
    except BlockingIOError:
        return False
    except OSError:
        pass
    return True


def _error_name(code: int) -> str:
    return {
        errno.ECONNREFUSED: "ConnectionRefusedError",
        errno.ECONNRESET: "ConnectionResetError",
        errno.ETIMEDOUT: "TimeoutError",
        errno.EHOSTUNREACH: "HostUnreachable",
        errno.ENETUNREACH: "NetworkUnreachable",
    }.get(code, f"OSError({code})")
