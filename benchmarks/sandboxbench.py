"""Benchmark 6: the sandbox itself (answer latency, throughput with signed callbacks, bursts of
connections, memory over many requests).

    python benchmarks/sandboxbench.py            # prints a table, writes benchmarks/sandbox.json
    python benchmarks/run.py --only sandbox      # the same, inside the full report

``callprofile sandbox --quiet --log FILE`` runs as its own process; the load comes from
``benchmarks/loadgen.py`` client processes (raw keep-alive sockets, a few tens of microseconds
of CPU per request, reported beside every figure) and the callbacks go to a ``loadgen.py``
receiver process. The sandbox's own CPU per call is read from ``/proc``, so the figures say
what the server costs, not what the client does.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import statistics
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
LOADGEN = HERE / "loadgen.py"
CONCURRENCY = 50
CLIENT_PROCESSES = 2
CALLS = 20_000
LATENCY_CALLS = 3_000
BURSTS = 20
FIRST = LATENCY_CALLS + 2 * CALLS + CALLS // 4 + 250 * BURSTS  # requests before memory
TARGET_RATE = 1500.0  # call requests per second at concurrency 50, callbacks on
TARGET_LATENCY_US = 1000.0  # "well under 1 ms": the median must be under this
ON_LINUX = sys.platform.startswith("linux")


@dataclass
class Server:
    pid: int
    port: int
    proc: subprocess.Popen[str]


def _proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a process, from /proc (0 where there is no /proc)."""
    if not ON_LINUX:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    if not ON_LINUX:
        return 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@contextmanager
def sandbox(callprofile: list[str], log: Path, env: dict[str, str]) -> Iterator[Server]:
    log.unlink(missing_ok=True)
    proc = subprocess.Popen(
        [*callprofile, "sandbox", "--port", "0", "--quiet", "--log", str(log)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        if "listening on " not in first:
            raise SystemExit(f"the sandbox did not start: {first!r}")
        port = int(first.rsplit(":", 1)[1])
        yield Server(proc.pid, port, proc)
    finally:
        proc.terminate()
        proc.wait(30)


@contextmanager
def receiver(python: str) -> Iterator[tuple[subprocess.Popen[str], int]]:
    proc = subprocess.Popen(
        [python, str(LOADGEN), "receiver"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        yield proc, int(proc.stdout.readline())
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(30)


def write_bodies(path: Path, callback: str | None, events: str | None = None) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        for n in range(1000):
            body: dict[str, Any] = {
                "From": "+13120001234",
                "To": f"+1312{2_000_000 + n:07d}",
                "AIAssistantId": "assistant-bench",
                "AIAssistantDynamicVariables": {"customer_name": f"Customer {n}"},
            }
            if callback:
                body["StatusCallback"] = callback
            if events:
                body["StatusCallbackEvent"] = events
            fh.write(json.dumps(body) + "\n")
    return path


def load(
    python: str, port: int, bodies: Path, calls: int, connections: int, processes: int
) -> dict[str, Any]:
    """Run ``processes`` clients at once, ``connections`` in all; merge their reports."""
    per = calls // processes
    procs = [
        subprocess.Popen(
            [
                python,
                str(LOADGEN),
                "client",
                "--port",
                str(port),
                "--connections",
                str(connections // processes),
                "--requests",
                str(per),
                "--bodies",
                str(bodies),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    reports = [json.loads(p.communicate()[0]) for p in procs]
    statuses: dict[str, int] = {}
    for report in reports:
        for code, count in report["statuses"].items():
            statuses[code] = statuses.get(code, 0) + count
    return {
        "requests": sum(r["requests"] for r in reports),
        "errors": sum(r["errors"] for r in reports),
        "statuses": statuses,
        "started": min(r["started"] for r in reports),
        "finished": max(r["finished"] for r in reports),
        "client_cpu_s": sum(r["cpu_s"] for r in reports),
        "latency_p50_us": statistics.median(r["latency_p50_us"] for r in reports),
        "latency_p99_us": max(r["latency_p99_us"] for r in reports),
    }


def _wait_line(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            raise SystemExit("the callback receiver did not report in time")
    return proc.stdout.readline()


def scenario(
    python: str,
    server: Server,
    bodies: Path,
    calls: int,
    connections: int,
    processes: int,
    hook: subprocess.Popen[str] | None = None,
    callbacks_per_call: int = 0,
) -> dict[str, Any]:
    cpu0 = _proc_cpu(server.pid)
    if hook is not None:
        assert hook.stdin is not None
        hook.stdin.write(f"expect {calls * callbacks_per_call}\n")
        hook.stdin.flush()
    result = load(python, server.port, bodies, calls, connections, processes)
    done = result["finished"]
    if hook is not None:
        got = json.loads(_wait_line(hook, 180))
        result["callbacks"] = got["received"]
        result["receiver_cpu_s"] = got["cpu_s"]
        done = max(done, got["last"])
    elapsed = done - result["started"]
    result["elapsed_s"] = elapsed
    result["calls_per_s"] = result["requests"] / elapsed if elapsed else None
    result["server_cpu_us_per_call"] = (_proc_cpu(server.pid) - cpu0) / max(1, calls) * 1e6
    result["client_cpu_us_per_request"] = result["client_cpu_s"] / max(1, calls) * 1e6
    result["server_rss_mb"] = _rss_mb(server.pid)
    return result


def burst(python: str, server: Server, bodies: Path, connections: int) -> dict[str, Any]:
    """``connections`` connections opened at the same instant, one request each."""
    errors = 0
    for _ in range(BURSTS):
        report = load(python, server.port, bodies, connections, connections, 1)
        errors += report["errors"] + (connections - report["requests"] - report["errors"])
    return {"connections": connections, "rounds": BURSTS, "failed_connections": errors}


def bench_sandbox(callprofile: list[str], python: str, work: Path, runs: int) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELNYX_", "CALLPROFILE_"))}
    work.mkdir(parents=True, exist_ok=True)
    rounds: list[dict[str, Any]] = []
    with receiver(python) as (hook, hook_port):
        plain = write_bodies(work / "plain.jsonl", None)
        hooked = write_bodies(work / "hooked.jsonl", f"http://127.0.0.1:{hook_port}/status")
        four = write_bodies(
            work / "four.jsonl",
            f"http://127.0.0.1:{hook_port}/status",
            "initiated ringing answered completed",
        )
        for _ in range(runs):
            with sandbox(callprofile, work / "sandbox.jsonl", env) as server:
                many = (CONCURRENCY, CLIENT_PROCESSES)
                one = scenario(python, server, plain, LATENCY_CALLS, 1, 1)
                fifty = scenario(python, server, plain, CALLS, *many)
                signed = scenario(python, server, hooked, CALLS, *many, hook, 1)
                signed4 = scenario(python, server, four, CALLS // 4, *many, hook, 4)
                bursts = [burst(python, server, plain, n) for n in (50, 200)]
                # Memory: every window is full by now; twice as many requests again must not
                # move the resident size beyond noise.
                rss_start = _rss_mb(server.pid)
                for _ in range(2):
                    scenario(python, server, hooked, CALLS, *many, hook, 1)
                    scenario(python, server, four, CALLS // 4, *many, hook, 4)
                rss_end = _rss_mb(server.pid)
                rounds.append(
                    {
                        "one_connection": one,
                        "concurrency_50": fifty,
                        "concurrency_50_callbacks": signed,
                        "concurrency_50_4_callbacks": signed4,
                        "bursts": bursts,
                        "memory": {
                            "rss_after_first_mb": rss_start,
                            "requests_first": FIRST,
                            "rss_after_all_mb": rss_end,
                            "requests": FIRST + 2 * (CALLS + CALLS // 4),
                        },
                    }
                )
    return summarize(rounds)


def _median(rounds: list[dict[str, Any]], *path: str) -> float:
    values = []
    for r in rounds:
        value: Any = r
        for part in path:
            value = value[part]
        values.append(value)
    return statistics.median(values)


def summarize(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    checks = {
        "sandbox_latency_p50_us": _median(rounds, "one_connection", "latency_p50_us"),
        "sandbox_calls_per_s_c50": _median(rounds, "concurrency_50", "calls_per_s"),
        "sandbox_calls_per_s_c50_callbacks": _median(
            rounds, "concurrency_50_callbacks", "calls_per_s"
        ),
        "sandbox_burst_failed_connections": max(
            b["failed_connections"] for r in rounds for b in r["bursts"]
        ),
        "sandbox_rss_growth_mb": _median(rounds, "memory", "rss_after_all_mb")
        - _median(rounds, "memory", "rss_after_first_mb"),
    }
    result = {"rounds": rounds, "checks": checks}
    result["table"] = table(result)
    return result


def table(result: dict[str, Any]) -> str:
    lines = [
        f"{'scenario':<34} {'calls/s':>9} {'p50 us':>8} {'p99 us':>8} "
        f"{'server us/call':>14} {'client us/req':>13} {'errors':>6}"
    ]
    for name in (
        "one_connection",
        "concurrency_50",
        "concurrency_50_callbacks",
        "concurrency_50_4_callbacks",
    ):
        r = result["rounds"][len(result["rounds"]) // 2][name]
        lines.append(
            f"{name:<34} {r['calls_per_s']:>9.0f} {r['latency_p50_us']:>8.0f} "
            f"{r['latency_p99_us']:>8.0f} {r['server_cpu_us_per_call']:>14.0f} "
            f"{r['client_cpu_us_per_request']:>13.0f} {r['errors']:>6}"
        )
    for b in result["rounds"][0]["bursts"]:
        lines.append(
            f"burst of {b['connections']} connections x {b['rounds']}: "
            f"{b['failed_connections']} failed"
        )
    m = result["rounds"][0]["memory"]
    lines.append(
        f"memory: {m['rss_after_first_mb']:.1f} MB after {m['requests_first']:,} requests, "
        f"{m['rss_after_all_mb']:.1f} MB after {m['requests']:,}"
    )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--output", default=str(HERE / "sandbox.json"))
    args = parser.parse_args()
    callprofile = [sys.executable, "-m", "runner"]
    result = bench_sandbox(callprofile, sys.executable, HERE / ".work" / "sandbox", args.runs)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(result["table"])
    for name, value in result["checks"].items():
        print(f"{name:<36} {value:>10.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
