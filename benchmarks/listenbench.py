"""Benchmark 6: verified callbacks per second through ``callprofile listen`` (run by
benchmarks/run.py).

``callprofile listen`` runs as its own process with a ledger and a public key. A load process
(this file run as a script, in the benchmark venv) signs CALLBACKS distinct TeXML status callbacks
with the matching private key beforehand, then sends them over CONCURRENCY keep-alive
connections and times from the first byte sent to the last answer read. Every answer must be
200, and the ledger must hold every callback afterwards: the figure counts callbacks verified
(Ed25519 over timestamp|body), parsed, and committed to disk before they were answered.

The wall-clock rate depends on what else the machine runs (on a shared 2-CPU machine, a lot), so
the receiver's own CPU time is measured too (from /proc, Linux only): callbacks per CPU-second
of the ``listen`` process is its capacity on one core, whatever the load around it.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

CALLBACKS = 20_000
CONCURRENCY = 50
STATUSES = ("initiated", "ringing", "in-progress", "completed")


def _requests(private_key: Any, count: int) -> list[bytes]:
    """Signed HTTP requests: ``count / 4`` calls, each initiated -> completed."""
    from runner.outcomes.verify import sign

    stamp = str(int(time.time()))
    out = []
    for i in range(count):
        call, seq = divmod(i, len(STATUSES))
        body = urlencode(
            {
                "AccountSid": "bench-account",
                "CallSid": f"v3:bench-{call:07d}",
                "CallStatus": STATUSES[seq],
                "CallbackSource": "call-progress-events",
                "SequenceNumber": str(seq),
                "Timestamp": "2026-01-15T10:30:00Z",
                "From": "+13120001234",
                "To": f"+1312{2_000_000 + call:07d}",
                "CallDuration": str(seq * 10),
            }
        ).encode()
        head = (
            "POST /telnyx/status HTTP/1.1\r\nHost: bench\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\n"
            f"telnyx-timestamp: {stamp}\r\n"
            f"telnyx-signature-ed25519: {sign(private_key, stamp, body)}\r\n\r\n"
        )
        out.append(head.encode() + body)
    return out


async def _connection(host: str, port: int, queue: list[bytes], statuses: dict[int, int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while queue:
            writer.write(queue.pop())
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()


async def _load(host: str, port: int, requests: list[bytes], concurrency: int) -> dict[str, Any]:
    statuses: dict[int, int] = {}
    queue = list(reversed(requests))
    start = time.perf_counter()
    await asyncio.gather(*(_connection(host, port, queue, statuses) for _ in range(concurrency)))
    return {"seconds": time.perf_counter() - start, "statuses": statuses}


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux /proc), or None elsewhere."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_main(argv: list[str]) -> None:
    """In the benchmark venv: make a key pair, start ``callprofile listen``, sign, send."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from runner.outcomes.verify import public_key_text

    callprofile, ledger, count, concurrency = argv[0], argv[1], int(argv[2]), int(argv[3])
    key = Ed25519PrivateKey.generate()
    requests = _requests(key, count)
    argv = [callprofile, "listen", "--port", "0", "--ledger", ledger, "--quiet"]
    proc = subprocess.Popen(
        [*argv, "--public-key", public_key_text(key.public_key())],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        if "listening on " not in first:
            raise SystemExit(f"callprofile listen did not start: {first!r}")
        threading.Thread(target=proc.stdout.read, daemon=True).start()
        host, port = first.rsplit("/", 1)[1].strip().rsplit(":", 1)
        before = cpu_seconds(proc.pid)
        result = asyncio.run(_load(host, int(port), requests, concurrency))
        after = cpu_seconds(proc.pid)
        if before is not None and after is not None:
            result["server_cpu_s"] = after - before
    finally:
        proc.terminate()
        proc.wait(60)
    db = sqlite3.connect(ledger)
    try:
        result["stored"] = db.execute("SELECT count(*) FROM callbacks").fetchone()[0]
    finally:
        db.close()
    print(json.dumps(result))


def bench_listen(tools: Any, runs: int) -> dict[str, Any]:
    """Median verified callbacks per second over ``runs`` rounds, each with a fresh ledger."""
    work = tools.work / "listen"
    work.mkdir(parents=True, exist_ok=True)
    samples: list[float] = []
    cpu: list[float] = []
    for round_no in range(runs):
        ledger = work / f"ledger-{round_no}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{ledger}{suffix}").unlink(missing_ok=True)
        argv = [str(tools.python), __file__, "--load", str(tools.callprofile), str(ledger)]
        done = subprocess.run(
            [*argv, str(CALLBACKS), str(CONCURRENCY)],
            env=tools.env,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise SystemExit(f"listen benchmark failed:\n{done.stderr[-2000:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        if result["statuses"] != {"200": CALLBACKS} or result["stored"] != CALLBACKS:
            raise SystemExit(f"listen benchmark: not every callback was recorded: {result}")
        samples.append(result["seconds"])
        if result.get("server_cpu_s"):
            cpu.append(result["server_cpu_s"])
    rates = [CALLBACKS / s for s in samples]
    checks = {"listen_verified_per_s": statistics.median(rates)}
    if cpu:
        checks["listen_per_cpu_second"] = CALLBACKS / statistics.median(cpu)
    return {
        "callbacks": CALLBACKS,
        "concurrency": CONCURRENCY,
        "figures": {
            f"listen: {CALLBACKS:,} signed callbacks, {CONCURRENCY} connections": {
                "median_s": statistics.median(samples),
                "min_s": min(samples),
                "max_s": max(samples),
                "runs": len(samples),
                "samples_s": samples,
            }
        },
        "rates_per_s": rates,
        "server_cpu_s": cpu,
        "checks": checks,
    }


if __name__ == "__main__":
    if sys.argv[1:2] == ["--load"]:
        load_main(sys.argv[2:])
    else:
        raise SystemExit("run benchmarks/run.py --only listen")
