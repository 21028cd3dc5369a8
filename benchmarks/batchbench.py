"""Benchmarks 3-5: batch overhead, pacing accuracy and memory (run by benchmarks/run.py).

Every measurement talks to ``callprofile sandbox`` started as its own process with its own
JSON-lines log, so the server costs the same for both sides of a comparison and the figures
about what arrived (how many calls, when) come from the server's log, not from the client.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

PROFILE = "appointment-reminder"
OVERHEAD_CALLS = 2000
OVERHEAD_CONCURRENCIES = (8, 32)
PACING_CALLS = 400
PACING_RATE = 20.0
MEMORY_ROWS = (10_000, 1_000_000)


@dataclass
class Tools:
    """What the benchmarks run: the benchmark venv's interpreter and entry point."""

    python: Path
    callprofile: Path
    root: Path  # this checkout (for profiles/)
    work: Path  # scratch directory
    env: dict[str, str]


# ---------------------------------------------------------------------------- inputs and arithmetic


def write_contacts(path: Path, rows: int) -> Path:
    """A contacts CSV of ``rows`` distinct, valid US numbers (exchanges 200-999 of area code
    312: up to 8,000,000 rows), written as a stream (a million rows is about 45 MB and never
    held in memory)."""
    if rows > 8_000_000:
        raise ValueError("at most 8,000,000 distinct numbers")
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write("to,customer_name,appointment_time\n")
        for n in range(rows):
            fh.write(f"+1312{2_000_000 + n:07d},Customer {n},Tuesday 3 PM\n")
    return path


def achieved_rate(timestamps: list[float]) -> float:
    """Calls per second between the first and the last call."""
    ordered = sorted(timestamps)
    if len(ordered) < 2 or ordered[-1] == ordered[0]:
        return float("inf") if len(ordered) > 1 else 0.0
    return (len(ordered) - 1) / (ordered[-1] - ordered[0])


def busiest_window(timestamps: list[float], window: float = 5.0) -> int:
    """The most calls in any rolling ``window`` seconds (half-open: [t, t + window))."""
    ordered = sorted(timestamps)
    most = start = 0
    for end, moment in enumerate(ordered):
        while ordered[start] <= moment - window:
            start += 1
        most = max(most, end - start + 1)
    return most


def peak_rss_mb(python: Path, argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    """Peak resident memory of one command, in MB, measured by a fresh wrapper process so
    earlier children do not count (RUSAGE_CHILDREN's ru_maxrss is the largest child)."""
    probe = (
        "import resource, subprocess, sys\n"
        "done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, "
        "stderr=subprocess.DEVNULL)\n"
        "kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "print(kb, done.returncode)\n"
    )
    out = subprocess.run(
        [str(python), "-c", probe, *argv], cwd=cwd, env=env, capture_output=True, text=True
    )
    kb, code = out.stdout.split()
    if code != "0":
        raise SystemExit(f"benchmark command failed ({code}): {' '.join(argv)}\n{out.stderr}")
    return int(kb) / 1024


def log_calls(log: Path) -> list[dict[str, Any]]:
    """The call POSTs the sandbox recorded, in arrival order."""
    calls = []
    with open(log, encoding="utf-8") as fh:
        for line in fh:
            record = json.loads(line)
            if record.get("kind") == "request" and record.get("connection_id"):
                calls.append(record)
    return calls


def arrival(record: dict[str, Any]) -> float:
    """A log record's time (ISO 8601, milliseconds, UTC) as seconds since the epoch."""
    return datetime.fromisoformat(record["time"].replace("Z", "+00:00")).timestamp()


# ---------------------------------------------------------------------------- the sandbox process


@dataclass
class SandboxProcess:
    base_url: str
    log: Path


@contextmanager
def sandbox(tools: Tools, log: Path) -> Iterator[SandboxProcess]:
    """``callprofile sandbox --port 0 --log LOG`` as a separate process; its per-request stdout
    lines are drained by a thread so the pipe never fills."""
    log.unlink(missing_ok=True)
    proc = subprocess.Popen(
        [str(tools.callprofile), "sandbox", "--port", "0", "--log", str(log)],
        env=tools.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        if "listening on " not in first:
            raise SystemExit(f"the sandbox did not start: {first!r}")
        url = first.rsplit(" ", 1)[1].strip()
        drain = threading.Thread(target=proc.stdout.read, daemon=True)
        drain.start()
        yield SandboxProcess(base_url=f"{url}/v2", log=log)
    finally:
        proc.terminate()
        proc.wait(30)


def _run(
    argv: list[str],
    tools: Tools,
    cwd: Path,
    ok: tuple[int, ...] = (0,),
    env: dict[str, str] | None = None,
) -> float:
    return _run_cpu(argv, tools, cwd, ok, env)[0]


def _run_cpu(
    argv: list[str],
    tools: Tools,
    cwd: Path,
    ok: tuple[int, ...] = (0,),
    env: dict[str, str] | None = None,
) -> tuple[float, float]:
    """Wall seconds and the command's own CPU seconds (user + system, from wait4, so neither
    this process nor the sandbox counts)."""
    start = time.perf_counter()
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
    ):
        proc = subprocess.Popen(argv, cwd=cwd, env=env or tools.env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode not in ok:
            err.seek(0)
            tail = err.read().decode("utf-8", "replace")[-2000:]
            raise SystemExit(
                f"benchmark command failed ({proc.returncode}): {' '.join(argv)}\n{tail}"
            )
    return elapsed, usage.ru_utime + usage.ru_stime


def _batch_argv(tools: Tools, contacts: Path, ledger: Path, base_url: str, *extra: str) -> list:
    return [
        str(tools.callprofile),
        "--profiles-dir",
        str(tools.root / "profiles"),
        "batch",
        PROFILE,
        "--contacts",
        str(contacts),
        "--ledger",
        str(ledger),
        "--base-url",
        base_url,
        *extra,
    ]


def _figure(samples: list[float]) -> dict[str, Any]:
    return {
        "median_s": statistics.median(samples),
        "min_s": min(samples),
        "max_s": max(samples),
        "runs": len(samples),
        "samples_s": samples,
    }


# ---------------------------------------------------------------------------- 3. batch overhead


def bench_batch_overhead(tools: Tools, runs: int) -> dict[str, Any]:
    """``callprofile batch`` (ledger on, pacing out of the way at ``--rate 10000``) against raw
    httpx POSTs of the same pre-rendered bodies at the same concurrency; each round runs both, in
    turn, against a fresh sandbox process, at concurrency 8 and at 32 (and, at 8, the batch once
    more at ``--rate 1000``, for information). Throughput is calls per second of the
    whole command; the client's CPU per call (user + system of the command, from wait4) is
    reported beside it, for batch and for the raw loop."""
    work = tools.work / "overhead"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    contacts = write_contacts(work / "contacts.csv", OVERHEAD_CALLS)
    # The raw loop's bodies are exactly what the batch would send (secrets shown: no profile
    # here has any, and the sandbox masks them in its log regardless).
    dry = subprocess.run(
        [
            *_batch_argv(tools, contacts, work / "unused.db", "http://127.0.0.1:9/v2"),
            "--dry-run",
            "--show-secrets",
        ],
        cwd=work,
        env=tools.env,
        capture_output=True,
        text=True,
        check=True,
    )
    lines = [json.loads(line) for line in dry.stdout.splitlines()]
    if len(lines) != OVERHEAD_CALLS or len({x["connection_id"] for x in lines}) != 1:
        raise SystemExit("the dry run did not give one body per row for one connection")
    bodies = work / "bodies.jsonl"
    bodies.write_text(
        "".join(json.dumps(x["body"], ensure_ascii=False) + "\n" for x in lines), encoding="utf-8"
    )
    connection = lines[0]["connection_id"]
    # The highest --rate, 10,000: pacing out of the way (its one-token buckets space calls 0.1 ms
    # apart). Concurrency 8 also runs at --rate 1000, for information: the raw loop runs near
    # 1,000 calls/s, and buckets spacing calls 1 ms apart then pace the batch.
    rate = "10000"
    paced = "1000"
    result: dict[str, Any] = {
        "calls": OVERHEAD_CALLS,
        "concurrencies": list(OVERHEAD_CONCURRENCIES),
    }
    figures: dict[str, Any] = {}
    ratios: dict[str, float] = {}
    per_second: dict[str, float] = {}
    cpu_per_call: dict[str, float] = {}
    steady_rates: dict[str, float] = {}
    checks: dict[str, float] = {}
    for concurrency in OVERHEAD_CONCURRENCIES:
        names = {
            "batch": f"callprofile batch c{concurrency}",
            "raw": f"raw httpx loop c{concurrency}",
        }
        if concurrency == 8:
            names["paced"] = f"callprofile batch c{concurrency} --rate {paced}"
        samples: dict[str, list[float]] = {name: [] for name in names.values()}
        cpu: dict[str, list[float]] = {name: [] for name in names.values()}
        steady: dict[str, list[float]] = {name: [] for name in names.values()}
        for round_no in range(runs + 1):  # round 0 warms caches and is not counted
            for kind, name in names.items():
                # Each round its own state directory: the journal of recent calls would
                # otherwise see the last round's calls as repeats within --min-interval.
                state = work / f"state-{concurrency}-{round_no}-{kind}"
                shutil.rmtree(state, ignore_errors=True)
                env = {**tools.env, "XDG_STATE_HOME": str(state)}
                with sandbox(tools, work / "sandbox.jsonl") as server:
                    if kind in ("batch", "paced"):
                        ledger = work / f"ledger-{concurrency}-{round_no}-{kind}.db"
                        argv = _batch_argv(tools, contacts, ledger, server.base_url)
                        argv += ["--rate", rate if kind == "batch" else paced]
                        argv += ["--concurrency", str(concurrency)]
                    else:
                        url = f"{server.base_url}/texml/ai_calls/{connection}"
                        argv = [str(tools.python), str(Path(__file__).parent / "raw_loop.py")]
                        argv += ["--url", url, "--bodies", str(bodies)]
                        argv += ["--concurrency", str(concurrency)]
                    elapsed, used = _run_cpu(argv, tools, cwd=work, env=env)
                calls = log_calls(server.log)
                answered = [c for c in calls if (c.get("response") or {}).get("status") == 200]
                if len(calls) != OVERHEAD_CALLS or len(answered) != OVERHEAD_CALLS:
                    raise SystemExit(
                        f"{name}: the sandbox logged {len(calls)} calls, not {OVERHEAD_CALLS} x 200"
                    )
                if round_no:
                    samples[name].append(elapsed)
                    cpu[name].append(used)
                    steady[name].append(achieved_rate([arrival(c) for c in calls]))
        for name in names.values():
            figures[name] = _figure(samples[name])
            per_second[name] = OVERHEAD_CALLS / figures[name]["median_s"]
            # The whole command's CPU (start-up and the contacts pass included) per call.
            cpu_per_call[name] = statistics.median(cpu[name]) / OVERHEAD_CALLS * 1000
            steady_rates[name] = statistics.median(steady[name])
        batch, raw = names["batch"], names["raw"]
        pairs = zip(samples[raw], samples[batch], strict=True)
        # Throughput ratio = raw time / batch time, per round; the median of the rounds.
        ratios[f"batch_vs_raw_throughput_c{concurrency}"] = statistics.median(
            r / b for r, b in pairs
        )
        if "paced" in names:
            paced_pairs = zip(samples[raw], samples[names["paced"]], strict=True)
            ratios[f"batch_vs_raw_throughput_c{concurrency}_rate{paced}"] = statistics.median(
                r / b for r, b in paced_pairs
            )
        steady_pairs = zip(steady[batch], steady[raw], strict=True)
        ratios[f"batch_vs_raw_steady_rate_c{concurrency}"] = statistics.median(
            b / r for b, r in steady_pairs
        )
        checks[f"batch_cpu_ms_per_call_c{concurrency}"] = cpu_per_call[batch]
        checks[f"raw_cpu_ms_per_call_c{concurrency}"] = cpu_per_call[raw]
        ratios[f"batch_vs_raw_cpu_per_call_c{concurrency}"] = (
            cpu_per_call[batch] / cpu_per_call[raw]
        )
    result.update(
        figures=figures,
        calls_per_second=per_second,
        client_cpu_ms_per_call=cpu_per_call,
        steady_calls_per_second=steady_rates,
        ratios=ratios,
        checks=checks,
    )
    return result


# ---------------------------------------------------------------------------- 4. pacing accuracy


def bench_pacing(tools: Tools, runs: int) -> dict[str, Any]:
    """``--rate 20`` over 400 calls; the achieved rate and the busiest rolling 5 s window are
    computed from the arrival times in the sandbox's log."""
    work = tools.work / "pacing"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    contacts = write_contacts(work / "contacts.csv", PACING_CALLS)
    rates: list[float] = []
    windows: list[int] = []
    samples: list[float] = []
    for round_no in range(runs):
        with sandbox(tools, work / "sandbox.jsonl") as server:
            argv = _batch_argv(tools, contacts, work / f"ledger-{round_no}.db", server.base_url)
            argv += ["--rate", f"{PACING_RATE:g}", "--concurrency", "4"]
            samples.append(_run(argv, tools, cwd=work))
        times = [arrival(c) for c in log_calls(server.log)]
        if len(times) != PACING_CALLS:
            raise SystemExit(f"pacing: the sandbox logged {len(times)} calls, not {PACING_CALLS}")
        rates.append(achieved_rate(times))
        windows.append(busiest_window(times, 5.0))
    rate = statistics.median(rates)
    return {
        "calls": PACING_CALLS,
        "rate": PACING_RATE,
        "figures": {f"batch --rate {PACING_RATE:g} ({PACING_CALLS} calls)": _figure(samples)},
        "achieved_rates": rates,
        "busiest_5s_windows": windows,
        "checks": {
            "pacing_achieved_rate": rate,
            "pacing_busiest_5s_window": max(windows),  # the worst round, not the median
        },
    }


# ---------------------------------------------------------------------------- 5. memory


def bench_memory(tools: Tools, runs: int) -> dict[str, Any]:
    """Peak RSS of ``batch --dry-run`` over 10,000 and 1,000,000 generated rows."""
    work = tools.work / "memory"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    peaks: dict[str, list[float]] = {}
    times: dict[str, list[float]] = {}
    for rows in MEMORY_ROWS:
        contacts = write_contacts(work / f"contacts-{rows}.csv", rows)
        argv = _batch_argv(tools, contacts, work / "unused.db", "http://127.0.0.1:9/v2")
        argv.append("--dry-run")
        label = f"batch --dry-run, {rows:,} rows"
        # One round of a million rows (peak RSS varies by well under 1% between runs; its
        # time is the million-row dry-run figure, wrapper process included).
        rounds = runs if rows <= 10_000 else 1
        for _ in range(rounds):
            start = time.perf_counter()
            peaks.setdefault(label, []).append(peak_rss_mb(tools.python, argv, work, tools.env))
            times.setdefault(label, []).append(time.perf_counter() - start)
        contacts.unlink()
    small, large = (statistics.median(v) for v in peaks.values())
    big = MEMORY_ROWS[-1]
    return {
        "figures": {label: _figure(values) for label, values in times.items()},
        "peak_rss_mb": {label: statistics.median(v) for label, v in peaks.items()},
        "peak_rss_samples_mb": peaks,
        "checks": {
            "memory_peak_rss_1m_rows_mb": large,
            "memory_1m_vs_10k_rows": large / small,
            "memory_dry_run_1m_rows_s": statistics.median(times[f"batch --dry-run, {big:,} rows"]),
        },
    }
