"""While a POST is in flight (issue 10, Broken 7 and Weak "deadline"): a reply trickled one byte
at a time still times out as a whole, and Ctrl-C after the request left is "outcome unknown"
(exit 5, the warning, the JSON object), not a plain interruption."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.helpers.batch import ledger_rows, many, write_contacts, write_profile
from tests.helpers.core import BASE, make_profiles
from tests.helpers.env import API_KEY, ROOT

WAIT = 60  # seconds: only a bound for a hung test, never a pause
REPLY = b'{"call_sid": "v3:trickled", "status": "queued", "from": "+1", "to": "+2"}'
ANSWER = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
    + str(len(REPLY)).encode()
    + b"\r\n\r\n"
    + REPLY
)


class Trickler:
    """A loopback server that reads one request, then answers one byte every ``pace`` seconds
    (the server thread paces itself; the test only waits on events)."""

    def __init__(self, pace: float):
        self.pace = pace
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.received = threading.Event()
        self.stop = threading.Event()
        self.requests = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v2"

    def _serve(self) -> None:
        self.sock.settimeout(0.5)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                head, _, body = data.partition(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                while len(body) < length:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    body += chunk
                self.requests += 1
                self.received.set()
                try:
                    for i in range(len(ANSWER)):
                        if self.stop.wait(self.pace):
                            return
                        conn.sendall(ANSWER[i : i + 1])
                except OSError:
                    continue

    def close(self) -> None:
        self.stop.set()
        self.sock.close()
        self.thread.join(WAIT)


@contextmanager
def trickler(pace: float) -> Iterator[Trickler]:
    server = Trickler(pace)
    try:
        yield server
    finally:
        server.close()


def test_a_trickled_reply_times_out_as_a_whole_and_is_outcome_unknown(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("TELNYX_API_KEY", API_KEY)
    tree = make_profiles(tmp_path / "p", {"p": BASE})
    # The whole answer takes about 13 s at this pace; each byte arrives well within --timeout.
    with trickler(0.1) as server:
        result = cli("run", "p", "--base-url", server.base_url, "--timeout", "1", profiles_dir=tree)
    assert result.exit_code == 5, (result.exit_code, result.stderr)
    assert "no complete answer within 1s" in result.stderr
    assert "may have been placed" in result.stderr
    assert server.requests == 1  # never sent again


def test_a_trickled_reply_leaves_the_batch_row_unknown(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("TELNYX_API_KEY", API_KEY)
    profiles = write_profile(tmp_path)
    contacts = write_contacts(tmp_path / "c.csv", many(1))
    with trickler(0.1) as server:
        result = cli(
            "batch",
            "remind",
            "--contacts",
            str(contacts),
            "--base-url",
            server.base_url,
            "--timeout",
            "1",
            profiles_dir=profiles,
        )
    assert result.exit_code == 5, result.stderr
    [row] = ledger_rows(tmp_path / "c.csv.ledger.db")
    assert row["state"] == "unknown" and "no complete answer" in row["reason"]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("output", ["text", "json"])
def test_ctrl_c_while_the_post_is_in_flight_is_outcome_unknown(tmp_path, output):
    tree = make_profiles(tmp_path / "p", {"p": BASE})
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELNYX_", "CALLPROFILE_"))}
    env.update(TELNYX_API_KEY=API_KEY, PYTHONPATH=str(ROOT), NO_COLOR="1")
    with trickler(0.5) as server:
        argv = [sys.executable, "-m", "runner", "--profiles-dir", str(tree), "run", "p"]
        proc = subprocess.Popen(
            [*argv, "--base-url", server.base_url, "-o", output],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert server.received.wait(WAIT), "the POST never arrived"
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=WAIT)
    assert proc.returncode == 5, (proc.returncode, stderr)
    assert "Traceback" not in stderr
    assert "may have been placed" in stderr or output == "json"
    if output == "json":
        shown = json.loads(stdout)
        assert shown["status"] == "unknown" and shown["exit_code"] == 5
        assert "interrupted" in shown["message"] and "may have been placed" in shown["message"]
    else:
        assert "interrupted" in stderr
        assert "look for the call" in stderr
    assert server.requests == 1
