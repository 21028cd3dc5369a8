"""A load generator and a callback receiver cheap enough to measure the sandbox, not themselves.

    python benchmarks/loadgen.py client --port P --connections 25 --requests 10000 \\
        --bodies bodies.jsonl
    python benchmarks/loadgen.py receiver        # prints its port, then counts callbacks

Both are single-threaded ``selectors`` loops over raw keep-alive sockets with requests built in
advance: the client costs a few tens of microseconds of CPU per request (reported as
``client_cpu_us_per_request``), where ``httpx.AsyncClient`` costs milliseconds. Each prints one
JSON object with what it did, its own CPU time and its timestamps (``time.time()``, comparable
across processes on one machine). Loopback only.
"""

from __future__ import annotations

import argparse
import json
import resource
import selectors
import socket
import sys
import time
from typing import Any

LOOPBACK = "127.0.0.1"


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _response_end(buffer: bytes) -> int:
    """The length of the first complete response in ``buffer``, or 0 if it is incomplete."""
    head_end = buffer.find(b"\r\n\r\n")
    if head_end < 0:
        return 0
    head = buffer[:head_end].lower()
    at = head.find(b"content-length:")
    length = 0
    if at >= 0:
        line_end = head.find(b"\r\n", at)
        length = int(head[at + 15 : line_end if line_end >= 0 else len(head)].strip())
    total = head_end + 4 + length
    return total if len(buffer) >= total else 0


def build_requests(port: int, path: str, bodies: list[bytes]) -> list[bytes]:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {LOOPBACK}:{port}\r\n"
        "Authorization: Bearer KEYbenchmarkonly\r\nContent-Type: application/json\r\n"
    )
    return [(head + f"Content-Length: {len(b)}\r\n\r\n").encode() + b for b in bodies]


def run_client(port: int, connections: int, requests: list[bytes], total: int) -> dict[str, Any]:
    """Send ``total`` requests over ``connections`` keep-alive connections, one at a time per
    connection; connect them all at once (a burst)."""
    selector = selectors.DefaultSelector()
    cpu0, wall0 = _cpu(), time.time()
    state: dict[socket.socket, dict[str, Any]] = {}
    errors = sent = done = 0
    statuses: dict[str, int] = {}
    latencies: list[float] = []
    for _ in range(min(connections, total)):
        sock = socket.socket()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        sock.connect_ex((LOOPBACK, port))
        state[sock] = {"buffer": b"", "started": 0.0, "connected": False}
        selector.register(sock, selectors.EVENT_WRITE)
    while done + errors < total and state:
        for key, _ in selector.select(30):
            sock = key.fileobj  # type: ignore[assignment]
            info = state[sock]
            if not info["connected"]:
                info["connected"] = True
                if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    errors += 1
                    selector.unregister(sock)
                    del state[sock]
                    sock.close()
                    continue
                selector.modify(sock, selectors.EVENT_READ)
                if sent < total:
                    info["started"] = time.perf_counter()
                    sock.sendall(requests[sent % len(requests)])
                    sent += 1
                continue
            try:
                chunk = sock.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                errors += 1
                selector.unregister(sock)
                del state[sock]
                sock.close()
                continue
            info["buffer"] += chunk
            end = _response_end(info["buffer"])
            if not end:
                continue
            latencies.append(time.perf_counter() - info["started"])
            status = info["buffer"][9:12].decode()
            statuses[status] = statuses.get(status, 0) + 1
            info["buffer"] = info["buffer"][end:]
            done += 1
            if sent < total:
                info["started"] = time.perf_counter()
                sock.sendall(requests[sent % len(requests)])
                sent += 1
            elif done + errors >= total:
                break
    wall1, cpu1 = time.time(), _cpu()
    for sock in state:
        sock.close()
    latencies.sort()
    return {
        "requests": done,
        "errors": errors,
        "statuses": statuses,
        "started": wall0,
        "finished": wall1,
        "cpu_s": cpu1 - cpu0,
        "latency_p50_us": latencies[len(latencies) // 2] * 1e6 if latencies else None,
        "latency_p99_us": latencies[int(len(latencies) * 0.99)] * 1e6 if latencies else None,
    }


def run_receiver() -> None:
    """Answer 200 to every request; print the port, then, for each ``expect N`` line on stdin,
    one JSON line once N callbacks have arrived in all (or after 120 s)."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((LOOPBACK, 0))
    listener.listen(1024)
    listener.setblocking(False)
    print(listener.getsockname()[1], flush=True)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, "listen")
    selector.register(sys.stdin, selectors.EVENT_READ, "stdin")
    buffers: dict[socket.socket, bytes] = {}
    received = 0
    expected: int | None = None
    deadline = 0.0
    cpu0 = _cpu()
    last = 0.0
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    while True:
        for key, _ in selector.select(0.5):
            if key.data == "listen":
                try:
                    sock, _ = listener.accept()
                except BlockingIOError:
                    continue
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.setblocking(False)
                buffers[sock] = b""
                selector.register(sock, selectors.EVENT_READ, "conn")
            elif key.data == "stdin":
                line = sys.stdin.readline()
                if not line:
                    return
                expected = int(line.split()[1])
                deadline = time.time() + 120
                received, cpu0 = 0, _cpu()
            else:
                sock = key.fileobj  # type: ignore[assignment]
                try:
                    chunk = sock.recv(65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    selector.unregister(sock)
                    del buffers[sock]
                    sock.close()
                    continue
                buffer = buffers[sock] + chunk
                answers = b""
                while end := _response_end(buffer):  # requests parse the same way
                    buffer = buffer[end:]
                    received += 1
                    answers += reply
                buffers[sock] = buffer
                if answers:
                    last = time.time()
                    sock.sendall(answers)
        if expected is not None and (received >= expected or time.time() > deadline):
            out = {"received": received, "last": last, "cpu_s": _cpu() - cpu0}
            print(json.dumps(out), flush=True)
            expected = None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    client = sub.add_parser("client")
    client.add_argument("--port", type=int, required=True)
    client.add_argument("--path", default="/v2/texml/ai_calls/bench")
    client.add_argument("--connections", type=int, default=25)
    client.add_argument("--requests", type=int, default=10_000)
    client.add_argument("--bodies", required=True, help="one JSON request body per line")
    sub.add_parser("receiver")
    args = parser.parse_args()
    if args.command == "receiver":
        run_receiver()
        return
    with open(args.bodies, "rb") as fh:
        bodies = [line.strip() for line in fh if line.strip()]
    requests = build_requests(args.port, args.path, bodies)
    print(json.dumps(run_client(args.port, args.connections, requests, args.requests)))


if __name__ == "__main__":
    main()
