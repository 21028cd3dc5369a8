"""A loopback stand-in for Telnyx's ai_calls endpoint, for the batch tests.

Every complete POST is logged (in arrival order) once its body has been read, before any answer,
so a request the client never heard back from still shows in the log: the server side is the
truth about how many calls were placed. Individual POSTs (1-based, in arrival order) can be
scripted: answer 429/500/422, or block until the test releases them.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Script:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    block: threading.Event | None = None  # hold the answer until this is set


class TelnyxStandIn:
    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.truncated = 0  # requests cut off before their body was complete
        self.scripts: dict[int, Script] = {}
        self.reached: dict[int, threading.Event] = {}  # set when POST n arrives
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else each answer waits 40 ms for a delayed ACK

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if len(raw) < length:
                    # The client died mid-upload: no server acts on half a request.
                    server.truncated += 1
                    self.close_connection = True
                    return
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                with server._lock:
                    server.posts.append(
                        {"path": self.path, "body": body, "auth": self.headers.get("Authorization")}
                    )
                    n = len(server.posts)
                    script = server.scripts.get(n, Script())
                    reached = server.reached.get(n)
                if reached is not None:
                    reached.set()
                if script.block is not None:
                    script.block.wait(30)
                payload = script.body
                if payload is None and script.status == 200:
                    to = body.get("To") if isinstance(body, dict) else None
                    payload = {"call_sid": f"v3:call-{n}", "status": "queued", "to": to}
                data = json.dumps(payload if payload is not None else {}).encode()
                try:
                    self.send_response(script.status)
                    for name, value in script.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client went away (killed): the POST is logged all the same

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v2"

    def script(self, n: int, script: Script) -> None:
        self.scripts[n] = script

    def block_at(self, n: int) -> tuple[threading.Event, threading.Event]:
        """Hold POST ``n``: returns (reached, release)."""
        release = threading.Event()
        self.scripts[n] = Script(block=release)
        self.reached[n] = threading.Event()
        return self.reached[n], release

    def numbers(self) -> list[str]:
        with self._lock:
            return [p["body"]["To"] for p in self.posts if isinstance(p["body"], dict)]

    def start(self) -> TelnyxStandIn:
        self.thread.start()
        return self

    def stop(self) -> None:
        for script in self.scripts.values():
            if script.block is not None:
                script.block.set()
        self.httpd.shutdown()
        self.httpd.server_close()
