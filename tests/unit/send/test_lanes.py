"""The POST lanes of the clients ``submit.make_client`` makes (runner/send/lanes.py), over real
loopback sockets: the same bytes as httpx on the wire, the same classification of every answer
and failure as an ordinary ``httpx.Client`` gives, keep-alive reuse, and the connection limit.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpcore
import httpx
import pytest

from runner.sandbox import Step
from runner.send import submit, wire
from runner.send.lanes import Lanes
from tests.helpers.env import API_KEY

BODY = {"To": "+13125550123", "From": "+13120001234", "AIAssistantId": "assistant-1"}
ANSWER = {"call_sid": "v3:abc", "status": "queued"}


def prepared(base_url: str) -> submit.HttpRequest:
    return submit.prepare("conn/1", BODY, base_url=base_url, api_key=API_KEY)


def no_wait(_: float) -> None:
    raise AssertionError("nothing here is retried after a wait")


# ------------------------------------------------------------------------ a raw HTTP/1.1 server


@dataclass
class RawServer:
    """Reads whole requests (headers and Content-Length body) and answers each with ``reply``;
    records each request's bytes and how many connections it accepted."""

    reply: bytes
    close_after_reply: bool = False
    hold: threading.Event | None = None  # the first reply waits for this
    tls: ssl.SSLContext | None = None  # serve HTTPS with this context
    requests: list[bytes] = field(default_factory=list)
    connections: int = 0
    got_one: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        scheme = "https" if self.tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.sock.getsockname()[1]}/v2"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        if self.tls is not None:
            try:
                conn = self.tls.wrap_socket(conn, server_side=True)
            except OSError:  # the client refused the certificate
                conn.close()
                return
        # A client that stops reading a reply (one too large) resets the connection.
        with conn, contextlib.suppress(ConnectionError):
            data = b""
            while True:
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                head, _, data = data.partition(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                while len(data) < length:
                    data += conn.recv(65536)
                self.requests.append(head + b"\r\n\r\n" + data[:length])
                data = data[length:]
                self.got_one.set()
                if self.hold is not None and len(self.requests) == 1:
                    self.hold.wait(30)
                conn.sendall(self.reply)
                if self.close_after_reply:
                    return

    def close(self) -> None:
        self.sock.close()


def reply(body: bytes, *headers: str, status: str = "200 OK") -> bytes:
    lines = [f"HTTP/1.1 {status}", *headers, f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@pytest.fixture
def raw_server() -> Iterator:
    made: list[RawServer] = []

    def start(answer: bytes, **options: object) -> RawServer:
        server = RawServer(answer, **options)  # type: ignore[arg-type]
        made.append(server)
        return server

    yield start
    for server in made:
        if server.hold is not None:
            server.hold.set()
        server.close()


# ------------------------------------------------------------------------------------ the tests


def test_the_lanes_send_the_bytes_httpx_sends(raw_server):
    server = raw_server(reply(json.dumps(ANSWER).encode(), "Content-Type: application/json"))
    tracked = submit.make_client()
    plain = httpx.Client(follow_redirects=False, trust_env=False)
    try:
        fast = submit.send(prepared(server.url), client=tracked, max_retries=0, sleep=no_wait)
        slow = submit.send(prepared(server.url), client=plain, max_retries=0, sleep=no_wait)
    finally:
        tracked.close()
        plain.close()
    assert fast.status == slow.status == "placed" and fast.call_sid == "v3:abc"
    assert server.requests[0] == server.requests[1]
    assert server.requests[0].startswith(b"POST /v2/texml/ai_calls/conn%2F1 HTTP/1.1\r\nHost: ")


# Every kind of answer and failure the sandbox can script, with what it must come to.
FAULTS = {
    "placed": (Step(), "placed", 200),
    "500": (Step(status=500), "unknown", 500),
    "502 HTML page": (Step(status=502, body="<html>bad gateway</html>"), "unknown", 502),
    "503 with Retry-After": (Step(status=503, headers=(("Retry-After", "1"),)), "unknown", 503),
    "429 (no retries left)": (Step(status=429), "unreachable", 429),
    "401": (Step(status=401), "rejected", 401),
    "422": (Step(status=422), "rejected", 422),
    "reset after the body": (Step(fault="reset"), "unknown", None),
    "closed after the body": (Step(fault="close"), "unknown", None),
    "malformed JSON": (Step(fault="bad-json"), "unknown", 200),
    "302 to a URL": (Step(status=302, headers=(("Location", "/v2/elsewhere"),)), "rejected", 302),
    # httpx builds the next request of a redirect even when it does not follow it, and a
    # Location that is no URL makes that a broken reply.
    "302 to no URL": (Step(status=302, headers=(("Location", "\x1b]0;x\x07/"),)), "unknown", None),
}


@pytest.mark.parametrize("case", FAULTS, ids=list(FAULTS))
def test_each_answer_is_classified_as_through_httpx(case, sandbox):
    step, status, http_status = FAULTS[case]
    results = []
    for make in (submit.make_client, lambda: httpx.Client(follow_redirects=False)):
        server = sandbox(step)
        client = make()
        try:
            request = prepared(server.base_url)
            results.append(submit.send(request, client=client, max_retries=0, sleep=no_wait))
        finally:
            client.close()
        assert server.post_count == 1
    fast, slow = results
    assert (fast.status, fast.http_status) == (status, http_status)
    assert (fast.status, fast.http_status, fast.errors) == (
        slow.status,
        slow.http_status,
        slow.errors,
    )
    assert fast.message.replace(fast.sent_at or "-", "T") == slow.message.replace(
        slow.sent_at or "-", "T"
    )
    assert fast.exit_code == slow.exit_code


def test_a_stalled_reply_is_a_read_timeout_and_unknown(sandbox):
    server = sandbox(Step(fault="stall"))
    client = submit.make_client(submit.Timeouts(read=0.2))
    try:
        result = submit.send(prepared(server.base_url), client=client, max_retries=0)
    finally:
        client.close()
    assert result.status == "unknown" and result.exit_code == 5
    assert "read timeout" in result.message and "after the request was sent" in result.message
    assert server.post_count == 1


def test_connection_refused_is_not_sent_and_is_retried():
    holder = socket.socket()  # bound, never listening: connecting is refused
    holder.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{holder.getsockname()[1]}/v2"
    waited: list[float] = []
    client = submit.make_client()
    try:
        result = submit.send(
            prepared(url), client=client, max_retries=2, sleep=waited.append, rng=lambda: 0.5
        )
    finally:
        client.close()
        holder.close()
    assert result.status == "unreachable" and result.exit_code == 6
    assert result.attempts == 3 and len(waited) == 2
    assert "connection failed (refused, unreachable or DNS failure)" in result.message
    assert "no call was placed" in result.message


def test_a_key_that_cannot_be_a_header_is_not_sent(raw_server):
    server = raw_server(reply(b"{}"))
    request = submit.HttpRequest(
        "POST",
        f"{server.url}/texml/ai_calls/c",
        (("Authorization", "Bearer KEY\u00e9"), ("Content-Type", "application/json")),
        b"{}",
    )
    client = submit.make_client()
    try:
        result = submit._attempt(client, request)
    finally:
        client.close()
    assert isinstance(result, submit._Failure)
    assert result.maybe_sent is False and result.reason == "text that cannot be encoded for HTTP"
    assert server.requests == []


def test_one_connection_is_kept_alive_across_calls(raw_server):
    server = raw_server(reply(json.dumps(ANSWER).encode()))
    client = submit.make_client()
    try:
        results = [submit.send(prepared(server.url), client=client) for _ in range(3)]
    finally:
        client.close()
    assert [r.status for r in results] == ["placed"] * 3
    assert len(server.requests) == 3 and server.connections == 1


def test_a_connection_the_server_closes_is_not_used_again(raw_server):
    answer = reply(json.dumps(ANSWER).encode(), "Connection: close")
    server = raw_server(answer, close_after_reply=True)
    client = submit.make_client()
    try:
        results = [submit.send(prepared(server.url), client=client) for _ in range(3)]
    finally:
        client.close()
    assert [r.status for r in results] == ["placed"] * 3
    assert server.connections == 3


def test_a_gzip_reply_is_decoded(raw_server):
    body = gzip.compress(json.dumps(ANSWER).encode())
    server = raw_server(reply(body, "Content-Encoding: gzip"))
    client = submit.make_client()
    try:
        result = submit.send(prepared(server.url), client=client)
    finally:
        client.close()
    assert result.status == "placed" and result.call_sid == "v3:abc"


def test_a_full_pool_times_out_before_sending(raw_server):
    held = threading.Event()
    server = raw_server(reply(json.dumps(ANSWER).encode()), hold=held)
    client = submit.make_client(submit.Timeouts(pool=0.1), max_connections=1)
    first: list[submit.Result] = []
    busy = threading.Thread(
        target=lambda: first.append(submit.send(prepared(server.url), client=client))
    )
    try:
        busy.start()
        assert server.got_one.wait(10)  # the one connection is taken, its answer held
        second = submit.send(prepared(server.url), client=client, max_retries=0)
        held.set()
        busy.join(10)
    finally:
        held.set()
        client.close()
    assert second.status == "unreachable" and "connection pool timeout" in second.message
    assert first[0].status == "placed"
    assert len(server.requests) == 1 and server.connections == 1


def test_reply_headers_are_decoded_as_httpx_decodes_them(raw_server):
    # UTF-8 in one header makes httpx decode them all as UTF-8 (Latin-1 when not UTF-8).
    ids = []
    for extra in ("X-Request-Id: r\u00e9q-\u2713", "X-Other: caf\u00e9"):
        body = json.dumps({"errors": [{"code": "1", "title": "t"}]}).encode()
        server = raw_server(reply(body, extra, status="422 Unprocessable Entity"))
        got = []
        for client in (submit.make_client(), httpx.Client(follow_redirects=False)):
            try:
                got.append(submit.send(prepared(server.url), client=client, max_retries=0))
            finally:
                client.close()
        fast, slow = got
        assert fast.request_id == slow.request_id
        assert (fast.status, fast.message) == (slow.status, slow.message)
        ids.append(fast.request_id)
    assert ids == ["r\u00e9q-\u2713", None]


def _too_large_is_unknown(server_url: str) -> None:
    client = submit.make_client()
    try:
        result = submit.send(prepared(server_url), client=client, max_retries=2, sleep=no_wait)
    finally:
        client.close()
    assert result.status == "unknown" and result.exit_code == 5
    assert "the reply is larger than 1024 KiB" in result.message
    assert result.attempts == 1  # sent: never tried again


def test_a_reply_over_the_size_limit_is_not_read_and_the_outcome_is_unknown(raw_server):
    server = raw_server(reply(b"x" * (2 << 20)))
    _too_large_is_unknown(server.url)
    assert len(server.requests) == 1


def test_a_gzip_reply_that_inflates_past_the_limit_is_unknown(raw_server):
    bomb = gzip.compress(b"{" + b" " * (64 << 20) + b"}")  # 64 MiB in about 64 KiB
    assert len(bomb) < 1 << 20
    server = raw_server(reply(bomb, "Content-Encoding: gzip"))
    _too_large_is_unknown(server.url)


def test_run_reports_an_oversized_reply_as_unknown(raw_server, cli, profiles, monkeypatch):
    monkeypatch.setenv("TELNYX_API_KEY", API_KEY)
    server = raw_server(reply(b"x" * (2 << 20)))
    result = cli(
        "run", "appointment-reminder", "--to", "+13125550123",
        "--var", "customer_name=Ada", "--var", "appointment_time=3pm",
        "--base-url", server.url, profiles_dir=profiles,
    )  # fmt: skip
    assert result.exit_code == 5, result.stderr
    assert "larger than 1024 KiB" in result.stderr
    assert len(server.requests) == 1


# ------------------------------------------------------------------------------------ over TLS


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that signs itself, and its key (PEM files)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "callprofile test")])
    now = datetime.now(timezone.utc)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def tls_server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def test_the_lanes_post_over_tls_and_keep_the_connection(raw_server, tmp_path):
    cert, key = self_signed(tmp_path)
    server = raw_server(reply(json.dumps(ANSWER).encode()), tls=tls_server_context(cert, key))
    trusting = ssl.create_default_context(cafile=str(cert))
    lanes = Lanes(
        ssl_context=trusting,
        backend=wire._Backend(httpcore.SyncBackend()),
        timeouts={"connect": 5.0, "read": 5.0, "write": 5.0, "pool": 5.0},
        max_connections=1,
    )
    request = prepared(server.url)
    try:
        replies = [
            lanes.post(wire.parsed_url(request.url), list(request.headers), request.body)
            for _ in range(2)
        ]
    finally:
        lanes.close()
    assert [r.status_code for r in replies] == [200, 200]
    assert json.loads(replies[1].content) == ANSWER
    assert server.connections == 1  # one TLS connection, kept alive
    port = server.url.split(":")[2].split("/")[0]
    assert server.requests[0].startswith(
        f"POST /v2/texml/ai_calls/conn%2F1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode()
    )
    assert server.requests[0].endswith(request.body)


def test_a_certificate_no_authority_vouches_for_is_refused_before_sending(raw_server, tmp_path):
    cert, key = self_signed(tmp_path)
    server = raw_server(reply(json.dumps(ANSWER).encode()), tls=tls_server_context(cert, key))
    results = []
    for client in (submit.make_client(), httpx.Client(follow_redirects=False, trust_env=False)):
        try:
            results.append(
                submit.send(prepared(server.url), client=client, max_retries=0, sleep=no_wait)
            )
        finally:
            client.close()
    fast, slow = results
    assert fast.status == slow.status == "unreachable" and fast.exit_code == slow.exit_code
    assert "no call was placed" in fast.message
    assert server.requests == []
