"""Helpers for the core (issue 2) tests: small profile trees in tmp dirs, CLI shortcuts, and a
loopback HTTP server that records what it receives."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from textwrap import dedent
from typing import Any

# The smallest runnable profile: every required request field and a connection id.
BASE = """\
connection_id: "conn-1"
call:
  From: "+13120001234"
  To: "+13125550100"
  AIAssistantId: assistant-1
"""


def make_profiles(root: Path, files: dict[str, str]) -> Path:
    """Write ``{"name": yaml_text}`` as ``root/name.yaml`` (text is dedented); return root."""
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = root / f"{name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dedent(text), encoding="utf-8")
    return root


def write_file(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dedent(text), encoding="utf-8")
    return str(path)


def rendered(cli: Any, profiles: Path, name: str, *args: str) -> dict[str, Any]:
    """``render NAME ARGS -o json`` that must succeed; the parsed output."""
    result = cli("render", name, *args, "-o", "json", profiles_dir=profiles)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def failed(cli: Any, profiles: Path, *args: str, code: int = 1) -> str:
    """Run a command that must fail with ``code``; its diagnostics (never a traceback).

    Diagnostics go to stderr, except ``validate``'s findings, which are its output (stdout);
    its summary line still goes to stderr and follows them here."""
    result = cli(*args, profiles_dir=profiles)
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    if args and args[0] == "validate":
        return result.stdout + result.stderr
    return result.stderr


@dataclass
class Captured:
    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes


class Recorder:
    """What a loopback server received, one Captured per request, in arrival order."""

    def __init__(self, url: str, received: queue.Queue[Captured]):
        self.url = url
        self._received = received

    def take(self) -> Captured:
        # The CLI call that sent the request has already returned by the time this runs, so the
        # request is in the queue; the timeout only turns a bug into a failure, not a wait.
        return self._received.get(timeout=5)

    def empty(self) -> bool:
        return self._received.empty()


@contextmanager
def loopback_server(status: int = 200, reply: dict[str, Any] | None = None) -> Iterator[Recorder]:
    """An HTTP server on 127.0.0.1 (a free port) answering every POST with ``reply``."""
    received: queue.Queue[Captured] = queue.Queue()
    payload = json.dumps(reply if reply is not None else {}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            received.put(Captured("POST", self.path, list(self.headers.items()), body))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # A short poll interval only makes shutdown() return promptly; nothing waits on it.
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield Recorder(f"http://127.0.0.1:{server.server_address[1]}/v2", received)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def parse_dry_run(text: str) -> tuple[str, str, list[tuple[str, str]], bytes]:
    """Split ``run --dry-run`` output into method, URL, headers and body bytes."""
    head, _, body = text.partition("\n\n")
    first, *header_lines = head.split("\n")
    method, url = first.split(" ", 1)
    headers = [tuple(line.split(": ", 1)) for line in header_lines]
    return method, url, headers, body.encode("utf-8")  # type: ignore[return-value]
