"""Helpers for the outcome tests: a key pair of our own, callbacks signed as Telnyx signs them,
``callprofile listen`` as a subprocess read line by line, and the ledger's outcome tables.

Until the sandbox signs its callbacks, the tests sign their own (``cryptography``'s Ed25519),
with the documented scheme: base64 signature over ``f"{telnyx-timestamp}|{raw body}"``.
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from tests.helpers.batch import _query
from tests.helpers.env import ROOT

WAIT = 60  # seconds: only a bound for a hung test, never a pause


class Keys:
    """An Ed25519 key pair standing in for a Telnyx account's."""

    def __init__(self) -> None:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        from runner.outcomes.verify import public_key_text

        self.private = Ed25519PrivateKey.generate()
        self.public = public_key_text(self.private.public_key())

    def headers(self, body: bytes, when: float | None = None) -> dict[str, str]:
        from runner.outcomes.verify import sign

        stamp = str(int(time.time() if when is None else when))
        return {
            "telnyx-timestamp": stamp,
            "telnyx-signature-ed25519": sign(self.private, stamp, body),
        }


def form(fields: dict[str, Any]) -> bytes:
    return urlencode({k: str(v) for k, v in fields.items()}).encode()


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def status_callback(call_sid: str, status: str, sequence: int, **extra: Any) -> dict[str, Any]:
    """A TeXML status callback's fields, as the callback schemas list them."""
    fields: dict[str, Any] = {
        "AccountSid": "f5586561-8ff0-4291-a51b-c7dfe4139ff9",
        "CallSid": call_sid,
        "CallSidLegacy": call_sid,
        "CallStatus": status,
        "CallbackSource": "call-progress-events",
        "CallInitiatedAt": "2024-01-15T10:30:26.028Z",
        "ConnectionId": "1234567890",
        "From": "+13120001234",
        "To": "+13125550100",
        "SequenceNumber": sequence,
        "Timestamp": f"2024-01-15T10:3{sequence}:00Z",
    }
    fields.update(extra)
    return fields


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Listen:
    """``python -m runner listen ...`` with its output read line by line (no sleeping: tests
    wait for a line to appear)."""

    def __init__(self, cwd: Path, *args: str, env: dict[str, str] | None = None):
        base = {k: v for k, v in os.environ.items() if not k.startswith(("TELNYX_", "CALLPROFILE"))}
        base.update(env or {}, NO_COLOR="1", PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "runner", "listen", "--port", "0", *args],
            cwd=cwd,
            env=base,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self._lines: queue.Queue[tuple[str, str]] = queue.Queue()
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.out, "out")),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.err, "err")),
        ]
        for reader in self._readers:
            reader.daemon = True
            reader.start()
        line = self.wait_for("listening on")
        self.url = line.rsplit(" ", 1)[-1].strip()

    def _read(self, stream: Any, keep: list[str], name: str) -> None:
        for line in stream:
            keep.append(line)
            self._lines.put((name, line))
        self._lines.put((name, ""))

    def wait_for(self, text: str) -> str:
        """The first line (stdout or stderr) containing ``text`` from now on or already seen."""
        for line in self.out + self.err:
            if text in line:
                return line
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            try:
                _, line = self._lines.get(timeout=deadline - time.monotonic())
            except queue.Empty:
                break
            if text in line:
                return line
        raise AssertionError(f"no line with {text!r}; stdout={self.out!r} stderr={self.err!r}")

    def post(self, body: bytes, headers: dict[str, str], path: str = "/status") -> httpx.Response:
        with httpx.Client(trust_env=False, timeout=10) as client:
            return client.post(self.url + path, content=body, headers=headers)

    def stop(self) -> tuple[int, str, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(WAIT)
        for reader in self._readers:
            reader.join(WAIT)
        return code, "".join(self.out), "".join(self.err)


def outcomes(ledger: Path) -> dict[str, dict[str, Any]]:
    return {r["call_sid"]: r for r in _query(ledger, "SELECT * FROM outcomes")}


def stored_callbacks(ledger: Path) -> list[dict[str, Any]]:
    return _query(ledger, "SELECT * FROM callbacks ORDER BY id")


def unmatched(ledger: Path) -> list[dict[str, Any]]:
    return _query(ledger, "SELECT * FROM unmatched")


class Process:
    """A ``python -m runner ...`` subprocess whose stdout and stderr are read line by line."""

    def __init__(self, cwd: Path, argv: list[str], env: dict[str, str]):
        base = {k: v for k, v in os.environ.items() if not k.startswith(("TELNYX_", "CALLPROFILE"))}
        base.update(env, NO_COLOR="1", PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "runner", *argv],
            cwd=cwd,
            env=base,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self._seen = threading.Condition()
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.out), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.err), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: Any, keep: list[str]) -> None:
        for line in stream:
            with self._seen:
                keep.append(line)
                self._seen.notify_all()

    def wait_for_line(self, text: str) -> str:
        def found() -> str | None:
            return next((line for line in self.out + self.err if text in line), None)

        with self._seen:
            if not self._seen.wait_for(lambda: found() is not None, WAIT):
                raise AssertionError(f"no line with {text!r}: {self.out!r} {self.err!r}")
        return found() or ""

    def wait(self) -> int:
        code = self.proc.wait(WAIT)
        for reader in self._readers:
            reader.join(WAIT)
        return code
