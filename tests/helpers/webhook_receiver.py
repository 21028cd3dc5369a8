"""A loopback webhook receiver for the status-callback tests."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit


class Receiver:
    """A loopback webhook receiver that records each callback and signals when ``expected``
    have arrived."""

    def __init__(self, expected: int):
        self.received: list[dict] = []
        self.done = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                self._keep("POST", dict(parse_qsl(raw.decode())), raw)

            def do_GET(self) -> None:
                self._keep("GET", dict(parse_qsl(urlsplit(self.path).query)), b"")

            def _keep(self, method: str, form: dict, raw: bytes) -> None:
                outer.received.append(
                    {
                        "method": method,
                        "type": self.headers.get("Content-Type"),
                        "form": form,
                        "raw": raw,  # the body exactly as sent (signatures cover it)
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "path": self.path,
                    }
                )
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                if len(outer.received) >= expected:
                    outer.done.set()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/status"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
