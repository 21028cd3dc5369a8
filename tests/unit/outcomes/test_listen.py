"""``callprofile listen``: fail closed at start, verify before believing, record idempotently.

The receiver runs as a real process on loopback; callbacks are signed with a key pair made here
(as Telnyx signs them) and posted over HTTP. What was believed is read from the ledger.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import time

import httpx
import pytest

from tests.helpers.outcomes import (
    FORM,
    Keys,
    Listen,
    form,
    outcomes,
    status_callback,
    stored_callbacks,
    unmatched,
)


@pytest.fixture
def keys():
    return Keys()


@pytest.fixture
def listen(tmp_path, keys):
    started = []

    def start(*args: str, key: bool = True) -> Listen:
        extra = ("--public-key", keys.public) if key else ()
        process = Listen(tmp_path, "--ledger", "l.db", "--log", "log.jsonl", *extra, *args)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


def signed_post(server: Listen, keys: Keys, fields: dict, **kw) -> httpx.Response:
    body = form(fields)
    return server.post(body, {**FORM, **keys.headers(body)}, **kw)


# ---------------------------------------------------------------------------- start-up


def test_refuses_to_start_without_a_public_key(cli):
    result = cli("listen", "--port", "0")
    assert result.exit_code == 2
    assert "no public key" in result.stderr and "[CP701]" in result.stderr
    assert "Traceback" not in result.stderr


def test_no_verify_is_refused_off_loopback(cli):
    result = cli("listen", "--host", "0.0.0.0", "--port", "0", "--no-verify")
    assert result.exit_code == 2
    assert "only on a loopback host" in result.stderr and "CP702" in result.stderr


@pytest.mark.parametrize(
    "key",
    ["not base64!", "c2hvcnQ=", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"],
    ids=["not-base64", "16-bytes", "bad-pem"],
)
def test_a_malformed_public_key_is_a_usage_error(cli, key):
    result = cli("listen", "--port", "0", "--public-key", key)
    assert result.exit_code == 2
    assert "[CP700]" in result.stderr and "Traceback" not in result.stderr


def test_the_key_can_come_from_the_environment(tmp_path, keys):
    server = Listen(tmp_path, env={"TELNYX_PUBLIC_KEY": keys.public})
    try:
        assert keys.public in server.wait_for("verifying Ed25519 signatures")
        body = form(status_callback("v3:env", "completed", 3))
        assert server.post(body, {**FORM, **keys.headers(body)}).status_code == 200
    finally:
        server.stop()


def test_no_verify_is_announced_on_every_start(tmp_path):
    for _ in range(2):
        server = Listen(tmp_path, "--no-verify")
        assert "verification is OFF" in server.wait_for("WARNING")
        body = form(status_callback("v3:unsigned", "ringing", 1))
        assert server.post(body, FORM).status_code == 200  # accepted: verification is off
        code, _, err = server.stop()
        assert code == 0 and "CP703" in err


def test_a_port_in_use_is_a_clear_error(cli, keys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = cli("listen", "--port", port, "--public-key", keys.public)
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


# ---------------------------------------------------------------------------- verification


def test_signed_callbacks_are_recorded_against_their_call(listen, keys, tmp_path):
    server = listen()
    reply = signed_post(server, keys, status_callback("v3:one", "completed", 3, CallDuration=42))
    assert reply.status_code == 200
    record = outcomes(tmp_path / "l.db")["v3:one"]
    assert (record["status"], record["duration"], record["sequence"]) == ("completed", 42, 3)
    code, out, err = server.stop()
    assert code == 0
    assert "v3:one  completed seq 3" in out
    assert "1 accepted" in err


def _forgeries(keys: Keys) -> dict[str, tuple[bytes, dict[str, str]]]:
    body = form(status_callback("v3:target", "completed", 3, CallDuration=900, To="+1999zqmark"))
    other = Keys()
    good = keys.headers(body)
    return {
        "unsigned": (body, {}),
        "no-timestamp": (body, {"telnyx-signature-ed25519": good["telnyx-signature-ed25519"]}),
        "other-key": (body, other.headers(body)),
        "replayed": (body, keys.headers(body, when=time.time() - 301)),
        "future": (body, keys.headers(body, when=time.time() + 400)),
        "altered-byte": (body.replace(b"900", b"901"), good),
        "appended-byte": (body + b"&", good),
        "bad-base64": (body, {**good, "telnyx-signature-ed25519": "!!!"}),
        "short-signature": (body, {**good, "telnyx-signature-ed25519": "AAAA"}),
        "text-timestamp": (body, {**good, "telnyx-timestamp": "yesterday"}),
    }


def test_forged_replayed_altered_and_unsigned_callbacks_never_change_the_ledger(
    listen, keys, tmp_path
):
    server = listen()
    ledger = tmp_path / "l.db"
    # A genuine first state, so a forgery that got through would show as a change.
    assert signed_post(server, keys, status_callback("v3:target", "ringing", 1)).status_code == 200
    before = (stored_callbacks(ledger), outcomes(ledger))
    forgeries = _forgeries(keys)
    for name, (body, headers) in forgeries.items():
        reply = server.post(body, {**FORM, **headers})
        assert reply.status_code == 403, name
        assert reply.text == "forbidden\n"  # the reason is for the log, not the sender
    assert (stored_callbacks(ledger), outcomes(ledger)) == before
    assert outcomes(ledger)["v3:target"]["status"] == "ringing"
    code, _, err = server.stop()
    assert code == 0
    assert f"{len(forgeries)} rejected (403: {len(forgeries)})" in err
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    refused = [e for e in log if e["result"] == "rejected"]
    assert len(refused) == len(forgeries)
    assert {e["code"] for e in refused} == {
        "CP710",
        "CP711",
        "CP712",
        "CP713",
        "CP714",
        "CP715",
    }
    # The body of a refused request is not recorded anywhere.
    assert "zqmark" not in (tmp_path / "log.jsonl").read_text()
    assert all("call_sid" not in e for e in refused)


def test_get_callbacks_are_refused_when_verifying(listen, keys):
    server = listen()
    with httpx.Client(trust_env=False) as client:
        reply = client.get(server.url + "/status?CallSid=v3:x&CallStatus=completed")
    assert reply.status_code == 405
    assert "StatusCallbackMethod" in reply.text
    assert "CP716" in server.wait_for("rejected 405")


# ---------------------------------------------------------------------------- recording


def test_duplicates_are_recorded_once(listen, keys, tmp_path):
    server = listen()
    fields = status_callback("v3:dup", "completed", 3)
    replies = [signed_post(server, keys, fields).text for _ in range(3)]
    assert replies == ["unmatched\n", "duplicate\n", "duplicate\n"]
    assert len(stored_callbacks(tmp_path / "l.db")) == 1
    assert outcomes(tmp_path / "l.db")["v3:dup"]["callbacks"] == 1


def test_a_late_callback_never_moves_a_call_backwards(listen, keys, tmp_path):
    server = listen()
    for status, seq in (("completed", 3), ("ringing", 1), ("initiated", 0), ("in-progress", 2)):
        assert signed_post(server, keys, status_callback("v3:late", status, seq)).status_code == 200
    record = outcomes(tmp_path / "l.db")["v3:late"]
    assert (record["status"], record["sequence"], record["callbacks"]) == ("completed", 3, 4)


def test_an_unknown_call_sid_is_kept_as_unmatched(listen, keys, tmp_path):
    server = listen()
    assert signed_post(server, keys, status_callback("v3:nobody", "busy", 2)).text == "unmatched\n"
    kept = unmatched(tmp_path / "l.db")
    assert [(u["call_sid"], u["callbacks"]) for u in kept] == [("v3:nobody", 1)]
    log = (tmp_path / "log.jsonl").read_text()
    assert '"result": "unmatched"' in log and "v3:nobody" in log


def test_json_webhooks_are_verified_and_recorded_too(listen, keys, tmp_path):
    server = listen()
    event = {
        "data": {
            "record_type": "event",
            "event_type": "call.hangup",
            "id": "0ccc7b54-4df3-4bca-a65a-3da1ecc777f0",
            "occurred_at": "2024-01-15T10:31:00.000000Z",
            "payload": {
                "call_control_id": "v3:json-call",
                "hangup_cause": "user_busy",
                "from": "+13120001234",
                "to": "+13125550100",
            },
        }
    }
    body = json.dumps(event).encode()
    headers = {"Content-Type": "application/json", **keys.headers(body)}
    assert server.post(body, headers).status_code == 200
    assert server.post(body, headers).text == "duplicate\n"
    assert outcomes(tmp_path / "l.db")["v3:json-call"]["status"] == "busy"


# ---------------------------------------------------------------------------- hostile input


def raw_exchange(url: str, data: bytes) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_bad_input_gets_a_4xx_and_a_log_line_never_a_traceback(listen, keys, tmp_path):
    server = listen()
    big = b"CallSid=v3%3Abig&CallStatus=completed&Pad=" + b"x" * (64 * 1024)
    assert server.post(big, {**FORM, **keys.headers(big)}).status_code == 413
    cases = {
        b"GARBAGE\r\n\r\n": b"400",
        b"POST /status HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n": b"411",
        b"POST /status HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello": b"400",
        b"POST /status HTTP/1.1\r\nContent-Length: 10\r\n\r\nshort": b"400",
        b"POST /status HTTP/2.0\r\n\r\n": b"505",
        b"POST /status HTTP/1.1\r\n bad fold\r\n\r\n": b"400",
        b"POST /status HTTP/1.1\r\nX: " + b"y" * 20000 + b"\r\n\r\n": b"431",
        b"DELETE /status HTTP/1.1\r\nContent-Length: 0\r\n\r\n": b"405",
    }
    for request, status in cases.items():
        answer = raw_exchange(server.url, request)
        assert answer.split(b" ")[1] == status, (request[:40], answer[:80])
    # Signed but unusable bodies: the signature is fine, the content is not.
    for body, code in (
        (b"\xff\xfe", "CP724"),
        (b"CallStatus=completed", "CP727"),
        (b"CallSid=v3%3Aa&CallSid=v3%3Ab", "CP725"),
        (b"CallSid=v3%3Aa&CallStatus=completed&SequenceNumber=-1", "CP728"),
    ):
        reply = server.post(body, {**FORM, **keys.headers(body)})
        assert reply.status_code == 400, body
        assert code in server.wait_for(code)
    body = b'{"data": [1, 2]}'
    reply = server.post(body, {"Content-Type": "application/json", **keys.headers(body)})
    assert reply.status_code == 400
    # Still serving, and nothing was recorded.
    ok = signed_post(server, keys, status_callback("v3:after", "completed", 3))
    assert ok.status_code == 200
    assert [c["call_sid"] for c in stored_callbacks(tmp_path / "l.db")] == ["v3:after"]
    code, out, err = server.stop()
    assert code == 0
    assert "Traceback" not in out + err


def test_pipelined_requests_are_answered_in_order_even_after_a_half_close(listen, keys, tmp_path):
    server = listen()
    requests = b""
    for seq, status in enumerate(("initiated", "ringing", "in-progress", "completed")):
        body = form(status_callback("v3:pipe", status, seq))
        head = {**FORM, **keys.headers(body), "Content-Length": str(len(body))}
        lines = "".join(f"{k}: {v}\r\n" for k, v in head.items())
        requests += f"POST /status HTTP/1.1\r\nHost: x\r\n{lines}\r\n".encode() + body
    answer = raw_exchange(server.url, requests)
    assert answer.count(b"HTTP/1.1 200 OK") == 4
    assert answer.index(b"unmatched") < answer.rindex(b"unmatched")
    assert outcomes(tmp_path / "l.db")["v3:pipe"]["callbacks"] == 4


def test_a_ledger_or_log_that_cannot_be_opened_is_a_clear_error(cli, keys, tmp_path):
    missing = tmp_path / "no" / "such" / "dir"
    for flag in ("--ledger", "--log"):
        result = cli("listen", "--port", "0", "--public-key", keys.public, flag, str(missing / "x"))
        assert result.exit_code == 1, (flag, result.stderr)
        assert "Traceback" not in result.stderr and str(missing) in result.stderr


def test_a_pem_public_key_works_too(tmp_path, keys):
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    pem = keys.private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    server = Listen(tmp_path, "--public-key", pem.decode())
    try:
        body = form(status_callback("v3:pem", "completed", 3))
        assert server.post(body, {**FORM, **keys.headers(body)}).text == "accepted\n"
    finally:
        code, out, _ = server.stop()
    assert code == 0 and "accepted  v3:pem" in out


def test_a_ledger_that_cannot_take_the_write_answers_503_so_telnyx_retries(listen, keys, tmp_path):
    server = listen()
    db = sqlite3.connect(tmp_path / "l.db")
    db.execute("DROP TABLE callbacks")  # another process broke the ledger under the receiver
    db.commit()
    db.close()
    reply = signed_post(server, keys, status_callback("v3:lost", "completed", 3))
    assert reply.status_code == 503
    assert "[CP730]" in server.wait_for("error 503")
    assert "ledger error: OperationalError" in server.wait_for("ledger error")
    code, out, err = server.stop()
    assert code == 0 and "Traceback" not in out + err
    assert "1 not recorded (ledger error; the sender retries)" in err


def test_the_summary_counts_calls_still_matching_no_row(listen, keys):
    server = listen()
    for seq, status in enumerate(("ringing", "completed")):
        signed_post(server, keys, status_callback("v3:orphan", status, seq + 1))
    code, _, err = server.stop()
    assert code == 0
    assert "2 accepted, 0 duplicate(s), 0 rejected; 1 call(s) match no row yet" in err
