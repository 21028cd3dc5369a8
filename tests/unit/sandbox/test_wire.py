"""The sandbox's HTTP layer over raw sockets: whole answers in one piece, bursts of connections,
keep-alive and pipelining, and requests it refuses."""

from __future__ import annotations

import json
import selectors
import socket

import pytest

from tests.helpers.env import API_KEY

WAIT = 20
BODY = json.dumps({"From": "+13120001234", "To": "+13125550123", "AIAssistantId": "a"}).encode()


def request(method: str = "POST", path: str = "/v2/texml/ai_calls/c", body: bytes = BODY) -> bytes:
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: sandbox\r\nAuthorization: Bearer {API_KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def whole_answers(sock: socket.socket, count: int) -> list[bytes]:
    """Read ``count`` complete answers (by Content-Length) from ``sock``."""
    sock.settimeout(WAIT)
    data, answers = b"", []
    while len(answers) < count:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, "the connection closed early"
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        while len(rest) < length:
            chunk = sock.recv(65536)
            assert chunk, "the connection closed early"
            rest += chunk
        answers.append(head + b"\r\n\r\n" + rest[:length])
        data = rest[length:]
    return answers


def test_an_answer_arrives_in_one_piece(sandbox):
    # Headers and body leave in one write with Nagle off: the first read has all of it (sent
    # as two writes, the body waited for the client's delayed ACK, ~40 ms per answer).
    server = sandbox()
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        for _ in range(5):
            sock.sendall(request())
            sock.settimeout(WAIT)
            first = sock.recv(65536)
            head, _, body = first.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 OK")
            assert json.loads(body)["status"] == "queued"


def test_a_burst_of_connections_is_answered_without_resets(sandbox):
    server = sandbox()
    socks = [socket.socket() for _ in range(200)]
    selector = selectors.DefaultSelector()
    try:
        for sock in socks:
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", server.port))
        for sock in socks:
            sock.setblocking(True)
            sock.settimeout(WAIT)
            sock.sendall(request())
        for sock in socks:
            (answer,) = whole_answers(sock, 1)
            assert answer.startswith(b"HTTP/1.1 200 OK")
    finally:
        selector.close()
        for sock in socks:
            sock.close()
    assert server.post_count == 200


def test_keep_alive_pipelining_and_head(sandbox):
    server = sandbox()
    closing = b"Host: sandbox\r\nConnection: close"
    last = request("GET", "/x", b"").replace(b"Host: sandbox", closing)
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(request() + request("HEAD", "/nothing", b"") + last)
        sock.settimeout(WAIT)
        data = b""
        while chunk := sock.recv(65536):  # the server closes after the last one
            data += chunk
    answers = [b"HTTP/1.1 " + a for a in data.split(b"HTTP/1.1 ")[1:]]
    assert [a[9:12] for a in answers] == [b"200", b"404", b"404"]
    assert answers[1].endswith(b"\r\n\r\n")  # an answer to HEAD carries no body
    assert b"Content-Length: " in answers[1] and b"Connection: close" in answers[2]


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"POST /v2/texml/ai_calls/c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501),
        (b"GET / HTTP/1.1\r\nX: " + b"a" * 70_000 + b"\r\n\r\n", 431),
        (b"NONSENSE\r\n\r\n", 400),
        (b"POST /v2/texml/ai_calls/c HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n", 413),
        (b"POST /v2/texml/ai_calls/c HTTP/1.1\r\nContent-Length: -5\r\n\r\n", 413),
    ],
    ids=["chunked", "huge-headers", "not-http", "too-large", "negative-length"],
)
def test_requests_it_refuses_end_the_connection(sandbox, raw, status):
    server = sandbox()
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(raw)
        sock.settimeout(WAIT)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(f"HTTP/1.1 {status} ".encode())
    # Nothing was accepted; a refused body is still on record, with its answer.
    assert [r["response"]["status"] for r in server.records] in ([], [status])


def test_expect_100_continue(sandbox):
    server = sandbox()
    head = request().split(b"\r\n\r\n")[0] + b"\r\nExpect: 100-continue\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(head)
        sock.settimeout(WAIT)
        assert sock.recv(65536) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(BODY)
        (answer,) = whole_answers(sock, 1)
    assert answer.startswith(b"HTTP/1.1 200 OK")
