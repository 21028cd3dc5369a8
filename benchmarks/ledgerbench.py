"""Benchmark 7: one PostgreSQL ledger shared by several runners (run by benchmarks/run.py).

1. Claim throughput: rows a ledger takes through the whole per-row protocol (record, reserve,
   send slot, durable claim, durable answer) with 1, 3 and 8 runner processes of 4 threads
   each, nothing else in the way (benchmarks/ledger_runner.py). It shows how far the database
   is from being the limit: Telnyx's default is 30 dials/s per account.
2. Shared pacing: three ``callprofile batch`` processes at ``--rate 20`` against ``callprofile
   sandbox``; the combined arrival rate and the busiest rolling 5 s window, from the sandbox's
   log.

The server is a throwaway cluster (``initdb`` + ``pg_ctl``, as the tests start it) with
durability on (fsync and synchronous commits), so a claim costs what it costs in production on
this disk. Without PostgreSQL's server binaries the benchmark reports itself skipped.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import batchbench

RUNNERS = (1, 3, 8)
CLAIM_ROWS = 3000
PACING_RUNNERS = 3
PACING_CALLS = 300
PACING_RATE = 20.0


def _postgres(root: Path) -> Any:
    """The tests' throwaway-server helper (tests/helpers/postgres.py), from this checkout."""
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from tests.helpers import postgres

    return postgres


def claim_round(tools: batchbench.Tools, url: str, runners: int, rows: int) -> dict[str, Any]:
    """One round: ``runners`` processes on a new batch of ``rows`` rows; rows claimed per
    second from the first start to the last finish."""
    script = Path(__file__).resolve().parent / "ledger_runner.py"
    batch = f"bench-{runners}-{time.time_ns()}"
    procs = [
        subprocess.Popen(
            [str(tools.python), str(script), url, batch, str(rows)],
            env=tools.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(runners)
    ]
    for proc in procs:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise SystemExit(f"ledger runner did not start: {proc.communicate()[1][-2000:]}")
    for proc in procs:  # every runner has joined; start them together
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        if proc.returncode != 0:
            raise SystemExit(f"ledger runner failed ({proc.returncode}): {err[-2000:]}")
        reports.append(json.loads(out.strip().splitlines()[-1]))
    claimed = sum(r["claimed"] for r in reports)
    if claimed != rows:
        raise SystemExit(f"claim throughput: {claimed} rows claimed, not {rows}")
    seconds = max(r["finished"] for r in reports) - min(r["started"] for r in reports)
    shares = [r["claimed"] for r in reports]
    return {"seconds": seconds, "rows_per_s": rows / seconds, "shares": shares}


def pacing_round(tools: batchbench.Tools, url: str, work: Path) -> tuple[float, int, float]:
    contacts = batchbench.write_contacts(work / "contacts.csv", PACING_CALLS)
    with batchbench.sandbox(tools, work / "sandbox.jsonl") as server:
        env = {**tools.env, "TELNYX_BASE_URL": server.base_url}
        argv = [
            str(tools.callprofile), "--profiles-dir", str(tools.root / "profiles"), "batch",
            batchbench.PROFILE, "--contacts", str(contacts), "--ledger", url,
            "--rate", f"{PACING_RATE:g}", "--concurrency", "4",
        ]  # fmt: skip
        start = time.perf_counter()
        procs = [
            subprocess.Popen(argv, cwd=work, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
            for _ in range(PACING_RUNNERS)
        ]  # fmt: skip
        errors = [proc.communicate(timeout=600)[1] for proc in procs]
        elapsed = time.perf_counter() - start
        if any(proc.returncode != 0 for proc in procs):
            report = work / "report.csv"
            subprocess.run(
                [str(tools.callprofile), "batch-status", "--ledger", url, "--report", str(report)],
                env=tools.env, capture_output=True, check=False,
            )  # fmt: skip
            rows = report.read_text().splitlines() if report.exists() else []
            odd = "\n".join(r for r in rows[1:] if ",placed," not in r)
            raise SystemExit(
                "shared pacing: a runner failed ("
                + ", ".join(str(p.returncode) for p in procs)
                + f"):\n{''.join(e[-1500:] for e in errors)}\nrows not placed:\n{odd}"
            )
    times = [batchbench.arrival(c) for c in batchbench.log_calls(server.log)]
    if len(times) != PACING_CALLS:
        raise SystemExit(f"shared pacing: the sandbox logged {len(times)} calls")
    return batchbench.achieved_rate(times), batchbench.busiest_window(times, 5.0), elapsed


def bench_shared_ledger(tools: batchbench.Tools, runs: int) -> dict[str, Any]:
    postgres = _postgres(tools.root)
    work = tools.work / "shared-ledger"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        cluster = postgres.Cluster(durable=True)
    except postgres.Unavailable as exc:
        return {"status": "skipped", "reason": f"no PostgreSQL server here: {exc}"}
    try:
        figures: dict[str, Any] = {}
        throughput: dict[str, float] = {}
        for runners in RUNNERS:
            rounds = [
                claim_round(tools, cluster.new_database(), runners, CLAIM_ROWS) for _ in range(runs)
            ]
            label = f"claim {CLAIM_ROWS} rows, {runners} runner(s)"
            figures[label] = batchbench._figure([r["seconds"] for r in rounds])
            throughput[f"ledger_claims_per_s_{runners}_runners"] = statistics.median(
                r["rows_per_s"] for r in rounds
            )
        rates, windows, samples = [], [], []
        for _ in range(runs):
            rate, window, elapsed = pacing_round(tools, cluster.new_database(), work)
            rates.append(rate)
            windows.append(window)
            samples.append(elapsed)
        label = f"{PACING_RUNNERS} runners, --rate {PACING_RATE:g} ({PACING_CALLS} calls)"
        figures[label] = batchbench._figure(samples)
    finally:
        cluster.stop()
    return {
        "rows": CLAIM_ROWS,
        "figures": figures,
        "achieved_rates": rates,
        "busiest_5s_windows": windows,
        "checks": {
            **throughput,
            "shared_pacing_achieved_rate": statistics.median(rates),
            "shared_pacing_busiest_5s_window": max(windows),
        },
    }
