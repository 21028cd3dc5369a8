"""The sandbox under hostile clients: idle and trickling connections, secrets in any body
encoding, callback amplification and callbacks aimed at other hosts (SSRF)."""

from __future__ import annotations

import json
import socket
import threading
from datetime import datetime
from urllib.parse import quote, quote_plus

import httpx
import pytest

from runner.sandbox.callbacks import parse_allow, target_for
from tests.helpers.env import API_KEY, SIP_PASSWORD, assert_no_secrets
from tests.helpers.submit_data import TO
from tests.helpers.webhook_receiver import Receiver

VALID = {"From": "+13120001234", "To": TO, "AIAssistantId": "assistant-1"}
AUTH = {"Authorization": f"Bearer {API_KEY}"}
WAIT = 20  # seconds: only a bound for a hung test


@pytest.fixture
def receiver():
    made: list[Receiver] = []

    def make(expected: int) -> Receiver:
        made.append(Receiver(expected))
        return made[-1]

    yield make
    for r in made:
        r.close()


def post(server, body, headers=None, **kwargs) -> httpx.Response:
    with httpx.Client(trust_env=False, timeout=WAIT) as client:
        return client.post(
            f"{server.base_url}/texml/ai_calls/conn-1",
            headers={**AUTH, **(headers or {})},
            **({"json": body} if not isinstance(body, (bytes, str)) else {"content": body}),
            **kwargs,
        )


def exchange(sock: socket.socket) -> bytes:
    sock.sendall(b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n")
    sock.settimeout(WAIT)
    return sock.recv(65536)


# ------------------------------------------------------------------------- connections


def test_idle_connections_are_capped_and_closed(sandbox):
    server = sandbox(max_connections=50, idle_timeout=0.2)
    before = threading.active_count()
    conns = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(300)]
    try:
        # The first 50 are served; the rest wait in the backlog, not in threads.
        for sock in conns[:50]:
            assert exchange(sock).startswith(b"HTTP/1.1 404")
        assert threading.active_count() <= before + 50 + 2
        assert server.open_connections <= 50
        # Idle ones are closed, which lets the waiting ones in: the last 50 get answers too.
        for sock in conns[250:]:
            assert exchange(sock).startswith(b"HTTP/1.1 404")
        for sock in conns:
            sock.settimeout(WAIT)
            assert sock.recv(65536) == b""  # closed by the server, not by the test
    finally:
        for sock in conns:
            sock.close()
    assert post(server, VALID).status_code == 200


def test_a_request_trickled_in_is_cut_off(sandbox):
    server = sandbox(idle_timeout=0.3)
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"POST /v2/texml/ai_calls/c HTTP/1.1\r\nHost: x\r\nContent-Le")
        sock.settimeout(WAIT)
        assert sock.recv(65536) == b""  # the request never finished: the connection ends
    assert server.post_count == 0


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--max-connections", "0", "0 is not in the range"),
        ("--idle-timeout", "0", "0.0 is not in the range"),
        ("--callback-allow", "callbacks.example.com", "names are not looked up"),
        ("--callback-cap", "0", "0 is not in the range"),
    ],
)
def test_sandbox_limits_are_checked(cli, flag, value, message):
    result = cli("sandbox", "--port", "0", flag, value)
    assert result.exit_code == 2
    assert flag in result.stderr and message in result.stderr
    assert "Traceback" not in result.stderr


# ------------------------------------------------------------------------- secrets in any encoding


def _encodings(secret: str) -> set[str]:
    return {secret, quote(secret), quote_plus(secret), json.dumps(secret)[1:-1]}


def test_secret_fields_are_masked_in_every_body_encoding(sandbox, tmp_path):
    log = tmp_path / "sandbox.jsonl"
    server = sandbox(log_path=str(log))
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    pw = quote_plus(SIP_PASSWORD)
    sent = [
        post(server, f"From=%2B13120001234&SipAuthUsername=agent&SipAuthPassword={pw}", form),
        post(server, f"sipauthpassword={pw}&To=x", form),  # any case
        post(server, f"Sip%41uthPassword={pw}", form),  # an encoded name
        post(server, f"SipAuthPassword={pw}"),  # no content type, still a form
        post(server, '{"SipAuth\\u0050assword": "' + SIP_PASSWORD + '"}'),  # JSON escape
        post(server, f"?? SipAuthPassword: {SIP_PASSWORD} ??"),  # no encoding at all
        post(server, f"{{'SipAuthPassword': '{SIP_PASSWORD}'"),  # broken, quoted
    ]
    with httpx.Client(trust_env=False, timeout=WAIT) as client:
        client.get(f"{server.base_url}/texml/ai_calls/c?SipAuthPassword={pw}", headers=AUTH)
    assert all(reply.status_code in (400, 405, 422) for reply in sent)
    server.stop()
    text = log.read_text()
    for encoded in _encodings(SIP_PASSWORD):
        assert encoded not in text, encoded
    assert_no_secrets(text)
    records = [json.loads(line) for line in text.splitlines()]
    assert records[0]["form"] == {
        "From": "+13120001234",
        "SipAuthUsername": "agent",
        "SipAuthPassword": "***",
    }
    assert records[1]["form"]["sipauthpassword"] == "***"
    assert records[2]["form"]["SipAuthPassword"] == "***"
    assert records[3]["form"]["SipAuthPassword"] == "***"
    assert records[4]["body"] == {"SipAuthPassword": "***"}
    assert records[5]["body_text"].startswith("*** (withheld")
    assert records[7]["query"] == {"SipAuthPassword": "***"}


# ------------------------------------------------------------------------- callback amplification


def test_callbacks_per_call_are_capped(sandbox, receiver):
    hook = receiver(expected=10_000)
    server = sandbox(callback_cap=12)
    urls = [f"{hook.url}?n={n}" for n in range(500)]
    events = "initiated ringing answered completed"
    body = {**VALID, "StatusCallbacks": urls, "StatusCallbackEvent": events}
    assert post(server, body).status_code == 200
    assert server.drain_callbacks(WAIT)
    assert len(hook.received) == 12  # not 2,000
    refused = [c for c in server.callbacks if "refused" in c]
    assert [c["refused"] for c in refused] == [
        "over the cap of 12 callbacks per call: 1988 not sent"
    ]


def test_default_cap_holds_too(sandbox, receiver):
    hook = receiver(expected=10_000)
    server = sandbox()
    body = {**VALID, "StatusCallbacks": [f"{hook.url}?n={n}" for n in range(100)]}
    assert post(server, body).status_code == 200
    assert server.drain_callbacks(WAIT)
    assert len(hook.received) == 32


def test_callbacks_are_rate_limited(sandbox, receiver):
    hook = receiver(expected=12)
    server = sandbox(callback_rate=50)  # a burst of 2.5, then one every 20 ms
    events = "initiated ringing answered completed"
    for _ in range(3):
        post(server, {**VALID, "StatusCallback": hook.url, "StatusCallbackEvent": events})
    assert hook.done.wait(WAIT)
    assert server.drain_callbacks(WAIT)
    times = sorted(
        datetime.fromisoformat(c["time"].replace("Z", "+00:00")).timestamp()
        for c in server.callbacks
    )
    assert len(times) == 12
    # 12 callbacks at 50 per second after a burst of 2.5 cannot take less than 0.19 s.
    assert times[-1] - times[0] >= 0.15


# ------------------------------------------------------------------------- where callbacks may go


def test_callbacks_go_only_to_the_host_that_placed_the_call(sandbox, receiver):
    hook = receiver(expected=1)
    server = sandbox()
    body = {
        **VALID,
        "StatusCallbacks": [
            hook.url,
            "http://callbacks.example.com/status",  # a name: never looked up
            "http://10.1.2.3:8080/status",  # another host
            "http://169.254.169.254/latest/meta-data",  # a cloud metadata address
            "ftp://127.0.0.1/status",
        ],
    }
    assert post(server, body).status_code == 200
    assert server.drain_callbacks(WAIT)
    assert len(hook.received) == 1
    refused = {c["url"]: c["refused"] for c in server.callbacks if "refused" in c}
    assert set(refused) == set(body["StatusCallbacks"][1:])
    assert "not a loopback address" in refused["http://10.1.2.3:8080/status"]
    assert refused["ftp://127.0.0.1/status"] == "not an http(s) URL"


REMOTE = "203.0.113.9"  # a documentation address: only ever data here, never contacted


@pytest.mark.parametrize(
    ("url", "allow", "sent"),
    [
        # With --allow-remote-host a remote client must not reach the sandbox's own loopback.
        ("http://127.0.0.1:6379/", [], False),
        ("http://localhost:8080/status", [], False),
        ("http://[::1]:8080/status", [], False),
        ("http://10.0.0.5/status", [], False),
        ("http://internal.example/status", [], False),
        ("http://203.0.113.9:9000/status", [], True),  # the client's own address
        ("http://10.0.0.5/status", ["10.0.0.0/8"], True),
        ("http://127.0.0.1:9000/status", ["127.0.0.1"], True),
    ],
)
def test_callback_policy_for_a_remote_client(url, allow, sent):
    target, reason = target_for(url, REMOTE, parse_allow(allow))
    assert (target is not None) is sent, reason
    if not sent:
        assert reason


def test_an_ipv4_client_of_a_dual_stack_listener_is_the_same_host():
    target, _ = target_for("http://203.0.113.9:9000/", "::ffff:203.0.113.9", [])
    assert target == "http://203.0.113.9:9000/"
