"""The failure matrix of issue 3, one test per row, over real loopback sockets.

Each test asserts how many POSTs the server received and the exit code. Nothing ambiguous may
be sent twice. Retry waits go through the CLI's wait seam (fixture ``waits``): no test sleeps.
"""

from __future__ import annotations

import json
import socket

from runner.sandbox import Sandbox, Step, parse_spec, parse_steps
from tests.helpers.submit_data import ASSISTANT_AT, TO


def run(cli, profile_dir, server_or_url, *extra: str):
    url = server_or_url if isinstance(server_or_url, str) else server_or_url.base_url
    return cli("run", "reminder", "--to", TO, "--base-url", url, *extra, profiles_dir=profile_dir)


def test_connection_refused_then_success(cli, profile_dir, sandboxes, monkeypatch):
    from runner.cli import cmd_run

    # A bound socket that never listens: connecting to its port is refused, deterministically,
    # and the port stays ours until the sandbox takes it over during the retry wait.
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))
    port = holder.getsockname()[1]
    delays: list[float] = []

    def start_server_instead_of_waiting(seconds: float) -> None:
        delays.append(seconds)
        if not sandboxes:
            holder.close()
            sandboxes.append(Sandbox(port=port).start())

    monkeypatch.setattr(cmd_run, "wait", start_server_instead_of_waiting)
    result = run(cli, profile_dir, f"http://127.0.0.1:{port}/v2")
    assert result.exit_code == 0, result.stderr
    assert len(delays) == 1
    assert "retrying" in result.stderr and "connection failed" in result.stderr
    assert sandboxes[0].post_count == 1
    assert result.stdout.startswith("v3:")


def test_429_with_retry_after_then_success(cli, profile_dir, sandbox, waits):
    server = sandbox(Step(status=429, headers=(("Retry-After", "2"),)))
    result = run(cli, profile_dir, server)
    assert result.exit_code == 0, result.stderr
    assert server.post_count == 2
    assert waits == [2.0]  # exactly what Telnyx asked for
    assert "retrying in 2.0s: 429" in result.stderr


def test_429_forever_gives_up(cli, profile_dir, sandbox, waits):
    server = sandbox(parse_spec("429,retry-after=1,times=forever"))
    result = run(cli, profile_dir, server)
    assert result.exit_code == 6
    assert server.post_count == 3  # the first try and --max-retries 2
    assert waits == [1.0, 1.0]
    assert "kept answering 429" in result.stderr and "gave up after 3 attempt(s)" in result.stderr
    assert "no call was placed" in result.stderr
    assert "10011 Too many requests" in result.stderr


def test_500_is_unknown_and_not_retried(cli, profile_dir, sandbox, waits):
    server = sandbox(Step(status=500))
    result = run(cli, profile_dir, server)
    assert result.exit_code == 5
    assert server.post_count == 1
    assert waits == []
    assert "outcome unknown: the call may have been placed" in result.stderr
    assert "500 Internal Server Error" in result.stderr
    assert "10007 Unexpected error" in result.stderr  # what the reply carried


def test_502_html_page_is_unknown(cli, profile_dir, sandbox, waits):
    server = sandbox(Step(fault="html"))
    result = run(cli, profile_dir, server)
    assert result.exit_code == 5
    assert server.post_count == 1
    assert waits == []
    assert "502 Bad Gateway" in result.stderr
    assert "reply (not Telnyx's JSON): <html>" in result.stderr
    assert "Traceback" not in result.stderr


def test_503_is_unknown_even_with_retry_after(cli, profile_dir, sandbox, waits):
    server = sandbox(Step(status=503, headers=(("Retry-After", "1"),)))
    result = run(cli, profile_dir, server)
    assert result.exit_code == 5
    assert server.post_count == 1
    assert waits == []
    assert "outcome unknown" in result.stderr and "503 Service Unavailable" in result.stderr


def test_stall_after_reading_body_is_a_read_timeout(cli, profile_dir, sandbox, waits):
    # The stalled handler is released by the sandbox's stop Event at teardown.
    server = sandbox(Step(fault="stall"))
    result = run(cli, profile_dir, server, "--timeout", "0.2")
    assert result.exit_code == 5
    assert server.post_count == 1
    assert waits == []
    assert "read timeout" in result.stderr and "may have been placed" in result.stderr
    assert "it was not sent again" in result.stderr


def test_reset_after_reading_body_is_unknown(cli, profile_dir, sandbox, waits):
    server = sandbox(Step(fault="reset"))
    result = run(cli, profile_dir, server)
    assert result.exit_code == 5
    assert server.post_count == 1
    assert waits == []
    assert "connection reset" in result.stderr and "may have been placed" in result.stderr


def test_close_after_reading_body_is_unknown(cli, profile_dir, sandbox, waits):
    server = sandbox(Step(fault="close"))
    result = run(cli, profile_dir, server)
    assert result.exit_code == 5
    assert server.post_count == 1
    assert "connection closed without a complete reply" in result.stderr


def test_malformed_json_reply_is_unknown(cli, profile_dir, sandbox, waits):
    server = sandbox(Step(fault="bad-json"))
    result = run(cli, profile_dir, server)
    assert result.exit_code == 5
    assert server.post_count == 1
    assert waits == []
    assert "200 OK" in result.stderr and "not the documented JSON" in result.stderr
    assert '"status": "que' in result.stderr  # the truncated reply, shown
    assert "Traceback" not in result.stderr


def test_401_is_rejected(cli, profile_dir, sandbox, waits):
    server = sandbox(Step(status=401))
    result = run(cli, profile_dir, server)
    assert result.exit_code == 4
    assert server.post_count == 1
    assert waits == []
    assert "Telnyx rejected the request (401 Unauthorized); no call was placed" in result.stderr
    assert "10009 Authentication failed" in result.stderr


def test_422_pointer_maps_to_profile_line(cli, profile_dir, sandbox, waits):
    unknown_assistant = parse_steps(
        [
            {
                "status": 422,
                "errors": {
                    "code": "10005",
                    "title": "Resource not found",
                    "detail": "The AI assistant could not be found.",
                    "pointer": "/AIAssistantId",
                },
                "times": 2,
            }
        ],
        "test",
    )
    server = sandbox(*unknown_assistant)
    result = run(cli, profile_dir, server)
    assert result.exit_code == 4
    assert server.post_count == 1
    assert waits == []
    assert "10005 Resource not found: The AI assistant could not be found." in result.stderr
    where = f"profiles/reminder.yaml:{ASSISTANT_AT}"
    assert f"field AIAssistantId, set at {where}" in result.stderr

    as_json = run(cli, profile_dir, server, "-o", "json")
    assert as_json.exit_code == 4
    assert server.post_count == 2
    report = json.loads(as_json.stdout)
    assert report["status"] == "rejected" and report["exit_code"] == 4
    assert report["errors"][0]["origin"] == where
    assert report["errors"][0]["pointer"] == "/AIAssistantId"
