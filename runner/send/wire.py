"""What left the machine, and when the answer is overdue.

Whether a POST may have placed a call depends on one fact: did any byte of the request reach the
network? Guessing it from the exception type is wrong in both directions (httpx raises
``LocalProtocolError`` for a key ending in ``\\r`` before writing anything; a reset can come
after the body left). So the client made by :func:`make_client` writes through a stream that
records the first write of each attempt, and :func:`attempt` tells ``submit.send`` what happened.

The same stream enforces a deadline for the whole reply: httpx's read timeout applies to each
read, so a server trickling one byte a second would never time out. Here every read waits at
most what is left of ``read`` seconds counted from the first read of the attempt.

Transport errors are named here too (``transport_reason``), with fixed words: an exception's own
text can quote URLs and headers.
"""

from __future__ import annotations

import contextvars
import functools
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


@dataclass
class Attempt:
    """One attempt's facts, filled in by the stream as it works."""

    reply_seconds: float
    wrote: bool = False  # a byte of the request was handed to the network
    reply_deadline: float | None = None  # monotonic time the whole reply must arrive by
    deadline_passed: bool = False


_current: contextvars.ContextVar[Attempt | None] = contextvars.ContextVar(
    "callprofile_attempt", default=None
)


@contextmanager
def attempt(reply_seconds: float) -> Iterator[Attempt]:
    """Track one attempt made in this thread (the stream reads it from a context variable)."""
    state = Attempt(reply_seconds)
    token = _current.set(state)
    try:
        yield state
    finally:
        _current.reset(token)


@functools.lru_cache(maxsize=8)
def parsed_url(url: str) -> Any:
    """httpx's parse of ``url``, once: a batch posts every row to the same URL, and the parse
    is a good part of httpx's own cost per request."""
    import httpx

    return httpx.URL(url)


def is_tracked(client: Any) -> bool:
    """True for clients made by make_client: their attempts report what they wrote."""
    return isinstance(client, _tracked_client_class())


def make_client(
    *, connect: float, read: float, write: float, pool: float, max_connections: int
) -> Any:
    import httpcore
    import httpx

    from runner.send.lanes import Lanes

    limits = httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max_connections
    )
    # The environment is ignored for TLS as for proxies (SSL_CERT_FILE would change whom the
    # key is sent to); the POST lanes and the transport share the one context.
    ssl_context = httpx.create_ssl_context(trust_env=False)
    transport = httpx.HTTPTransport(verify=ssl_context, limits=limits, trust_env=False)
    # httpx offers no hook for the network layer; httpcore's pool takes a backend, and
    # HTTPTransport keeps its pool in ``_pool``. A test (the trickling server) fails if this
    # stops taking effect.
    pool_obj = transport._pool
    pool_obj._network_backend = _Backend(pool_obj._network_backend)  # type: ignore[assignment]
    timeout = httpx.Timeout(connect=connect, read=read, write=write, pool=pool)
    client = _tracked_client_class()(
        timeout=timeout,
        transport=transport,
        follow_redirects=False,  # a redirected POST could be replayed elsewhere
        trust_env=False,  # no proxy from the environment sees the key unless configured here
    )
    # Calls are POSTed through lanes.py (the same bytes, far less work per call); anything
    # else a caller does with the client goes through httpx.
    client.lanes = Lanes(
        ssl_context=ssl_context,
        backend=_Backend(httpcore.SyncBackend()),
        timeouts=timeout.as_dict(),
        max_connections=max_connections,
    )
    return client


_client_class: Any = None


def _tracked_client_class() -> Any:
    global _client_class
    if _client_class is None:
        import httpx

        class TrackedClient(httpx.Client):
            """An httpx.Client whose requests go through the recording stream, with its own
            lanes for the calls' POSTs."""

            lanes: Any = None

            def close(self) -> None:
                if self.lanes is not None:
                    self.lanes.close()
                super().close()

        _client_class = TrackedClient
    return _client_class


class _Backend:
    def __init__(self, inner: Any):
        self._inner = inner

    def connect_tcp(self, *args: Any, **kwargs: Any) -> Any:
        return _Stream(self._inner.connect_tcp(*args, **kwargs))

    def connect_unix_socket(self, *args: Any, **kwargs: Any) -> Any:
        return _Stream(self._inner.connect_unix_socket(*args, **kwargs))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _Stream:
    def __init__(self, inner: Any):
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        state = _current.get()
        if state is not None:
            now = time.monotonic()
            if state.reply_deadline is None:
                state.reply_deadline = now + state.reply_seconds
            left = state.reply_deadline - now
            if left <= 0:
                import httpcore

                state.deadline_passed = True
                raise httpcore.ReadTimeout("the reply did not arrive in time")
            if timeout is None or left < timeout:
                timeout = left
                try:
                    return self._inner.read(max_bytes, timeout)
                except Exception:
                    if time.monotonic() >= state.reply_deadline:
                        state.deadline_passed = True
                    raise
        return self._inner.read(max_bytes, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        state = _current.get()
        if state is not None and buffer:
            state.wrote = True  # before the write: a partial write counts as sent
        self._inner.write(buffer, timeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, *args: Any, **kwargs: Any) -> Any:
        return _Stream(self._inner.start_tls(*args, **kwargs))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


@functools.lru_cache(maxsize=1)
def before_sending() -> tuple[type[Exception], ...]:
    """The transport errors raised before a byte of the request left (httpx's, and httpcore's
    from a tracked client's lanes)."""
    import httpcore
    import httpx

    return (
        httpx.ConnectError,
        httpx.ConnectTimeout,
        httpx.PoolTimeout,
        httpcore.ConnectError,
        httpcore.ConnectTimeout,
        httpcore.PoolTimeout,
    )


def transport_reason(exc: Exception) -> str:
    """A fixed description of a transport error. Exception text is never used: it can
    quote URLs and headers."""
    import httpcore
    import httpx

    # httpcore's errors (a tracked client's lanes) carry the names httpx gives them.
    core = {
        httpcore.ConnectTimeout: httpx.ConnectTimeout,
        httpcore.PoolTimeout: httpx.PoolTimeout,
        httpcore.ReadTimeout: httpx.ReadTimeout,
        httpcore.WriteTimeout: httpx.WriteTimeout,
        httpcore.RemoteProtocolError: httpx.RemoteProtocolError,
        httpcore.ReadError: httpx.ReadError,
        httpcore.WriteError: httpx.WriteError,
        httpcore.ConnectError: httpx.ConnectError,
        httpcore.LocalProtocolError: httpx.LocalProtocolError,
        httpcore.UnsupportedProtocol: httpx.UnsupportedProtocol,
    }
    for origin, named in core.items():
        if isinstance(exc, origin):
            exc = named("")
            break
    names = {
        httpx.ConnectTimeout: "connect timeout",
        httpx.PoolTimeout: "connection pool timeout",
        httpx.ReadTimeout: "read timeout",
        httpx.WriteTimeout: "write timeout",
        httpx.RemoteProtocolError: "connection closed without a complete reply",
        httpx.ReadError: "connection reset while waiting for the reply",
        httpx.WriteError: "connection lost while sending",
        httpx.ConnectError: "connection failed (refused, unreachable or DNS failure)",
        httpx.LocalProtocolError: "the request is not valid HTTP (a header holds a line break "
        "or control character)",
        httpx.UnsupportedProtocol: "not an http(s) URL",
        httpx.InvalidURL: "not a valid URL",
        UnicodeError: "text that cannot be encoded for HTTP",
    }
    for cls, text in names.items():
        if isinstance(exc, cls):
            return text
    return type(exc).__name__
