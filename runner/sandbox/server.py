"""The sandbox: a local stand-in for Telnyx's AI-call endpoint, its callbacks and call lookups.

It serves ``POST /v2/texml/ai_calls/{connection_id}`` (checked as Telnyx checks it, or broken on
purpose by a script), ``GET /v2/texml/Accounts/{account_sid}/Calls`` and ``.../Calls/{sid}``,
and sends each accepted call's status (and AMD) callbacks, signed with Ed25519 as Telnyx signs
them, to the host that placed the call. Every request and callback is recorded (secrets masked):
the most recent in memory, all of them in the optional JSON-lines log, written before the
request is answered, so a client that has its answer can count on the record being there.
"""

from __future__ import annotations

import ipaddress
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from runner.sandbox import callbacks, routes
from runner.sandbox.calls import DEFAULT_KEEP, CallStore, SimCall
from runner.sandbox.delivery import DEFAULT_CAP, DEFAULT_RATE, Dispatcher
from runner.sandbox.journal import DEFAULT_WINDOW, Journal
from runner.sandbox.outcomes import Chooser
from runner.sandbox.script import Script, Step
from runner.sandbox.signing import Signer
from runner.sandbox.wire import Server

MAX_BODY = 1_000_000
DEFAULT_MAX_CONNECTIONS = 256
DEFAULT_IDLE_TIMEOUT = 60.0


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Sandbox:
    """A local Telnyx-compatible call endpoint.

    >>> with Sandbox(script=[Step(status=429, headers=(("Retry-After", "2"),))]) as sandbox:
    ...     base_url = sandbox.base_url   # http://127.0.0.1:PORT/v2
    ...     # first POST gets 429, the next ones are answered as Telnyx would

    ``script`` steps answer POSTs to the call endpoint (see ``runner.sandbox.script``);
    ``latency`` delays every answer; ``log_path`` appends one JSON line per record;
    ``on_record`` sees each record as it is made, before the answer goes out; ``secrets`` are
    values to mask in records besides the fields the schema marks sensitive.

    Outcomes: ``outcomes`` weights (``{"human": 60, "busy": 5}``; default: every call answered
    by a person), ``seed`` for repeatable draws, ``callback_faults`` chances per call.
    Callbacks: ``callback_delay`` between a call's events, ``callback_rate`` per second in all,
    ``callback_cap`` per call, ``callback_allow`` addresses or networks besides the host that
    placed the call; signed with ``signing_key`` (a key file) or a fresh key
    (``public_key`` shows it). Lookups: calls become visible ``lookup_delay`` seconds after they
    are placed (``advance()`` moves that clock forward); the last ``keep_calls`` are kept.
    Limits: ``keep_records`` in memory, ``max_connections`` open at once, ``idle_timeout``.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        script: Iterable[Step] = (),
        latency: float = 0.0,
        log_path: str | None = None,
        on_record: Callable[[dict[str, Any]], None] | None = None,
        callback_delay: float = 0.0,
        allow_remote: bool = False,
        secrets: Iterable[str] = (),
        outcomes: dict[str, float] | None = None,
        seed: int | None = None,
        callback_faults: dict[str, float] | None = None,
        signing_key: str | None = None,
        callback_allow: Iterable[str] = (),
        callback_rate: float = DEFAULT_RATE,
        callback_cap: int = DEFAULT_CAP,
        lookup_delay: float = 0.0,
        account_sid: str | None = None,
        keep_records: int = DEFAULT_WINDOW,
        keep_calls: int = DEFAULT_KEEP,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
    ):
        if not allow_remote and not is_loopback_host(host):
            raise ValueError(f"refusing to listen on {host}: not a loopback address")
        self.host = host
        self.port = port
        self.latency = latency
        self.log_path = log_path
        # Values the caller knows are secret (e.g. rendered from env): masked in records too.
        self.secrets = frozenset(v for v in secrets if v)
        self.script = Script(list(script))
        self.seed = random.SystemRandom().randrange(2**31) if seed is None else seed
        self.chooser = Chooser(self.seed, outcomes, callback_faults)
        self.signer = Signer.from_file(signing_key) if signing_key else Signer()
        self.callback_allow = callbacks.parse_allow(callback_allow)
        self.callback_cap = callback_cap
        self.lookup_delay = lookup_delay
        self.account_sid = account_sid or str(uuid.uuid4())
        self.store = CallStore(keep_calls)
        self.journal = Journal(log_path, keep_records, on_record)
        self.dispatcher = Dispatcher(
            self.signer, self.journal.record, delay=callback_delay, rate=callback_rate
        )
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.lock = threading.Lock()
        self.seq = 0
        self.stopping = threading.Event()
        self.released = threading.Event()
        self._clock_offset = 0.0
        self._server: Server | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> Sandbox:
        self.journal.open()
        try:
            self._server = Server(
                self.host,
                self.port,
                lambda request, exchange: routes.handle(self, request, exchange),
                max_connections=self.max_connections,
                idle_timeout=self.idle_timeout,
                max_body=MAX_BODY,
                on_error=self._error,
            )
        except OSError:
            self.journal.close()
            raise
        self.port = self._server.port
        self._server.start()
        return self

    def stop(self, wait_for_callbacks: float = 10.0) -> None:
        """Stop serving. Callbacks under way get ``wait_for_callbacks`` seconds to finish;
        stalled requests are released; open connections are closed."""
        self.dispatcher.drain(wait_for_callbacks)
        self.stopping.set()
        self.released.set()
        if self._server is not None:
            self._server.stop()
            self._server = None
        self.dispatcher.stop()
        self.journal.close()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def release(self) -> None:
        """Let stalled requests go (they end by closing the connection without an answer)."""
        self.released.set()

    def add_steps(self, steps: Iterable[Step]) -> None:
        with self.lock:
            self.script.extend(list(steps))

    def advance(self, seconds: float) -> None:
        """Move the lookup clock forward: calls placed up to ``seconds`` ago become visible as
        if the consistency delay had passed (nothing else about time changes)."""
        with self.lock:
            self._clock_offset += seconds

    def visible(self, call: SimCall) -> bool:
        return time.time() + self._clock_offset >= call.created + self.lookup_delay

    def drain_callbacks(self, timeout: float = 10.0) -> bool:
        """Wait until every callback planned so far has been sent (True), or ``timeout``."""
        return self.dispatcher.drain(timeout)

    # -- inspection ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What to use as the API base URL (TELNYX_BASE_URL / --base-url)."""
        return self.url + "/v2"

    @property
    def public_key(self) -> str:
        """The callback-signing public key: base64 of its 32 raw bytes, as Telnyx shows it."""
        return self.signer.public_key

    @property
    def open_connections(self) -> int:
        return self._server.open_connections if self._server is not None else 0

    @property
    def records(self) -> list[dict[str, Any]]:
        """The most recent records (``keep_records`` of them); the log holds them all."""
        return self.journal.records

    @property
    def requests(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r["kind"] == "request"]

    @property
    def calls(self) -> list[dict[str, Any]]:
        """Recent POSTs that reached the call endpoint, in arrival order."""
        return [r for r in self.requests if r["method"] == "POST" and r.get("connection_id")]

    @property
    def post_count(self) -> int:
        """Every POST that reached the call endpoint since the start (not only recent ones)."""
        return self.journal.count("call")

    @property
    def callbacks(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r["kind"] == "callback"]

    def wait_for(self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float) -> bool:
        """Block until ``predicate(records)`` holds, or ``timeout`` seconds pass."""
        return self.journal.wait_for(predicate, timeout)

    def _error(self, error: BaseException) -> None:
        self.journal.record({"kind": "error", "error": type(error).__name__})
