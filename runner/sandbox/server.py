"""The sandbox server: a local stand-in for ``POST /v2/texml/ai_calls/{connection_id}``.

Standard library only (``http.server``), so it starts in milliseconds inside tests, inside
``callprofile run --sandbox`` and as ``callprofile sandbox``. Every request is recorded (secrets
masked) in memory and, optionally, appended to a JSON-lines log before it is answered, so a
client that has its answer can count on the record being there.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import re
import socket
import struct
import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from runner.sandbox import callbacks, telnyx
from runner.sandbox.script import Script, Step

CALL_PATH = re.compile(r"^/v2/texml/ai_calls/([^/]+)/?$")
MAX_BODY = 1_000_000
MASK = "***"
_SECRET_HEADERS = {"authorization", "proxy-authorization", "cookie"}
_PASSWORD_TEXT = re.compile(r'("SipAuthPassword"\s*:\s*)"(?:[^"\\]|\\.)*"?')
HTML_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"
)


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def mask_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in headers:
        if name.lower() in _SECRET_HEADERS:
            value = "Bearer ***" if value.startswith("Bearer ") else MASK
        out[name] = value
    return out


def mask_body(
    value: Any, path: tuple[str | int, ...] = (), known: frozenset[str] = frozenset()
) -> Any:
    """``value`` with sensitive fields (x-sensitive in the request schema) and any string
    holding one of the ``known`` secret values replaced by ``***``."""
    from runner.schema import files as schemas

    if path and schemas.is_sensitive(path):
        return MASK
    if isinstance(value, dict):
        return {k: mask_body(v, (*path, k), known) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_body(v, (*path, i), known) for i, v in enumerate(value)]
    if isinstance(value, str) and any(secret in value for secret in known):
        return MASK
    return value


def mask_text(raw: bytes, limit: int = 2000) -> str:
    text = raw[:limit].decode("utf-8", "replace")
    return _PASSWORD_TEXT.sub(lambda m: m.group(1) + '"***"', text)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() waits for handlers, so records are complete
    sandbox: Sandbox

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        # A client that hangs up mid-exchange is normal here; anything else is worth a line.
        error = sys.exc_info()[1]
        if not isinstance(error, (ConnectionError, TimeoutError)):
            self.sandbox._record({"kind": "error", "error": type(error).__name__})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Telnyx and httpx use
    server: _Server
    server_version = "callprofile-sandbox"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        self.server.sandbox._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.sandbox._track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the sandbox keeps its own log

    def do_POST(self) -> None:
        self.server.sandbox._handle(self)

    def do_GET(self) -> None:
        self.server.sandbox._handle(self)

    do_PUT = do_PATCH = do_DELETE = do_GET


class Sandbox:
    """A local Telnyx-compatible call endpoint.

    >>> with Sandbox(script=[Step(status=429, headers=(("Retry-After", "2"),))]) as sandbox:
    ...     base_url = sandbox.base_url   # http://127.0.0.1:PORT/v2
    ...     # first POST gets 429, the next ones are answered as Telnyx would

    ``script`` steps answer POSTs to the call endpoint in order (see ``runner.sandbox.script``);
    ``latency`` delays every answer; ``log_path`` appends one JSON line per record;
    ``on_record`` sees each record as it is made; ``callback_delay`` spaces status callbacks;
    ``secrets`` are values to mask in records besides the fields the schema marks sensitive.
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
    ):
        if not allow_remote and not is_loopback_host(host):
            raise ValueError(f"refusing to listen on {host}: not a loopback address")
        self.host = host
        self.port = port
        self.latency = latency
        self.callback_delay = callback_delay
        self.log_path = log_path
        # Values the caller knows are secret (e.g. rendered from env): masked in records too.
        self._secrets = frozenset(v for v in secrets if v)
        self._script = Script(list(script))
        self._on_record = on_record
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._records: list[dict[str, Any]] = []
        self._stopping = threading.Event()
        self._release = threading.Event()
        self._connections: set[socket.socket] = set()
        self._workers: list[threading.Thread] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._log: Any = None
        self._seq = 0

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> Sandbox:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        server_class = type("_BoundServer", (_Server,), {"address_family": family})
        if self.log_path:
            self._log = open(self.log_path, "a", encoding="utf-8")  # noqa: SIM115
        self._server = server_class((self.host, self.port), _Handler)
        self._server.sandbox = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="callprofile-sandbox",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self, wait_for_callbacks: float = 10.0) -> None:
        """Stop serving. Callbacks under way get ``wait_for_callbacks`` seconds to finish;
        stalled requests are released; open connections are closed."""
        with self._lock:
            workers = list(self._workers)
        for worker in workers:
            worker.join(wait_for_callbacks)
        self._stopping.set()
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            with self._lock:
                open_connections = list(self._connections)
            for conn in open_connections:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
            self._server.server_close()
            self._server = None
        with self._lock:
            workers = list(self._workers)
        for worker in workers:
            worker.join(1.0)
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def release(self) -> None:
        """Let stalled requests go (they end by closing the connection without an answer)."""
        self._release.set()

    def add_steps(self, steps: Iterable[Step]) -> None:
        with self._lock:
            self._script.extend(list(steps))

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
    def records(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._records)

    @property
    def requests(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r["kind"] == "request"]

    @property
    def calls(self) -> list[dict[str, Any]]:
        """POSTs that reached the call endpoint, in arrival order."""
        return [r for r in self.requests if r["method"] == "POST" and r.get("connection_id")]

    @property
    def post_count(self) -> int:
        return len(self.calls)

    @property
    def callbacks(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r["kind"] == "callback"]

    def wait_for(self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float) -> bool:
        """Block until ``predicate(records)`` holds, or ``timeout`` seconds pass."""
        with self._changed:
            return self._changed.wait_for(lambda: predicate(self._records), timeout)

    # -- internals -----------------------------------------------------------------------------

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _record(self, record: dict[str, Any]) -> None:
        record.setdefault("time", _now())
        with self._changed:
            self._records.append(record)
            if self._log is not None:
                self._log.write(json.dumps(record, ensure_ascii=False) + "\n")
                self._log.flush()
            self._changed.notify_all()
        if self._on_record is not None:
            self._on_record(record)

    def _read_body(self, handler: _Handler) -> bytes | None:
        length = handler.headers.get("Content-Length")
        if length is None:
            return b""
        try:
            size = int(length)
        except ValueError:
            return None
        if size < 0 or size > MAX_BODY:
            return None
        return handler.rfile.read(size)

    def _handle(self, handler: _Handler) -> None:
        path = urlsplit(handler.path).path
        match = CALL_PATH.match(path)
        raw = self._read_body(handler)
        record: dict[str, Any] = {
            "kind": "request",
            "method": handler.command,
            "path": path,
            "connection_id": unquote(match.group(1)) if match else None,
            "headers": mask_headers(handler.headers.items()),
        }
        body: Any = None
        if raw:
            try:
                body = json.loads(raw.decode("utf-8"))
                record["body"] = mask_body(body, known=self._secrets)
            except (UnicodeDecodeError, ValueError):
                record["body_text"] = mask_text(raw)
        if raw is None:
            handler.close_connection = True  # the unread body would be taken for a request
            self._answer(handler, record, 413, telnyx.default_error_body(400))
            return
        if not match:
            self._answer(handler, record, 404, telnyx.default_error_body(404))
            return
        if handler.command != "POST":
            self._answer(handler, record, 405, telnyx.default_error_body(400))
            return
        with self._lock:
            self._seq += 1
            record["seq"] = self._seq
            step = self._script.next()
        if step != Step():
            record["script"] = _describe(step)
        delay = step.delay + self.latency
        if delay and self._stopping.wait(delay):
            return
        if step.fault in ("stall", "reset", "close"):
            record["response"] = {"fault": step.fault}
            self._record(record)
            if step.fault == "stall":
                self._release.wait()
            self._drop(handler, reset=step.fault == "reset")
            return
        if step.fault == "html":
            self._answer(
                handler, record, step.status or 502, HTML_502, step, content_type="text/html"
            )
            return
        if step.fault == "bad-json":
            truncated = '{"call_sid": "v3:sandbox-truncated", "status": "que'
            self._answer(handler, record, step.status or 200, truncated, step)
            return
        if step.status is not None and not 200 <= step.status < 300:
            reply = step.body if step.body is not None else telnyx.default_error_body(step.status)
            self._answer(handler, record, step.status, reply, step)
            return
        # Answer as Telnyx would (a scripted 2xx still checks the request).
        problem = telnyx.auth_problem(handler.headers.get("Authorization"))
        if problem:
            record["auth"] = problem
            status, reply = telnyx.unauthorized()
            self._answer(handler, record, status, reply, step)
            return
        failure, parsed, ignored = telnyx.check_body(raw)
        if ignored:
            record["ignored_fields"] = ignored
        if failure is not None:
            self._answer(handler, record, failure[0], failure[1], step)
            return
        status, reply = telnyx.queued(parsed)
        if step.status is not None:
            status = step.status
        if step.body is not None:
            reply = step.body
        call_sid = reply.get("call_sid") if isinstance(reply, dict) else None
        answered = threading.Event()
        if isinstance(call_sid, str) and callbacks.callback_urls(parsed):
            # Registered before the answer goes out, so a client that has its answer and
            # stops the sandbox still gets the callbacks; they start once the answer is sent.
            worker = threading.Thread(
                target=self._callbacks,
                args=(answered, parsed, call_sid, record["connection_id"], step.outcome),
                name="callprofile-sandbox-callbacks",
                daemon=True,
            )
            with self._lock:
                self._workers.append(worker)
            worker.start()
        try:
            self._answer(handler, record, status, reply, step, call_sid=call_sid)
        finally:
            answered.set()

    def _callbacks(
        self,
        answered: threading.Event,
        body: dict[str, Any],
        call_sid: str,
        connection_id: str,
        outcome: str,
    ) -> None:
        answered.wait()
        callbacks.deliver(
            body,
            call_sid,
            connection_id,
            outcome,
            record=self._record,
            wait=self._stopping.wait,
            delay=self.callback_delay,
        )

    def _answer(
        self,
        handler: _Handler,
        record: dict[str, Any],
        status: int,
        reply: Any,
        step: Step | None = None,
        *,
        content_type: str = "application/json",
        call_sid: str | None = None,
    ) -> None:
        data = (reply if isinstance(reply, str) else json.dumps(reply)).encode("utf-8")
        headers = list(step.headers) if step else []
        record["response"] = {"status": status}
        if call_sid:
            record["response"]["call_sid"] = call_sid
        if isinstance(reply, dict) and isinstance(reply.get("errors"), list):
            record["response"]["errors"] = [
                e.get("code") for e in reply["errors"] if isinstance(e, dict)
            ]
        if headers:
            record["response"]["headers"] = dict(headers)
        self._record(record)
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(data)))
            handler.send_header("x-request-id", f"sandbox-{record.get('seq', 0)}")
            for name, value in headers:
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(data)
        except OSError:
            handler.close_connection = True  # the client went away; nothing to tell it

    def _drop(self, handler: _Handler, reset: bool) -> None:
        handler.close_connection = True
        sock = handler.connection
        if reset:
            # Linger 0: close() sends RST instead of FIN, as a crashed proxy would.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
        # The reader from makefile() holds the descriptor open until it is closed too.
        handler.rfile.close()


def _describe(step: Step) -> dict[str, Any]:
    out: dict[str, Any] = {"fault": step.fault}
    if step.status is not None:
        out["status"] = step.status
    if step.delay:
        out["delay"] = step.delay
    if step.outcome != "completed":
        out["outcome"] = step.outcome
    return out
