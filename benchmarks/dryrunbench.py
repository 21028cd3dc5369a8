"""Benchmark 6: the per-row cost of ``batch --dry-run`` against a naive loop (run by run.py).

Both read the same generated contacts file of the example profile and write one JSON line per
row to stdout (discarded). The naive loop (benchmarks/naive_dry_run.py) does per row one
``phonenumbers.parse``, one sandboxed Jinja render of the same templates and one ``json.dumps``;
``batch --dry-run`` also checks the number is valid, renders with the profile's variables,
coerces, validates the request against the schema, redacts secrets and looks for duplicates.
The per-row cost of each is the slope between a small and a large file, so start-up (which
benchmark 1 measures) does not count; each round runs the four commands back to back.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from batchbench import PROFILE, Tools, _batch_argv, _figure, write_contacts  # noqa: E402

SIZES = (2_000, 50_000)  # rows: the slope between them is the per-row cost


def _wall(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    import subprocess

    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(
            f"benchmark command failed ({done.returncode}): {' '.join(argv)}\n"
            f"{done.stderr.decode(errors='replace')[-2000:]}"
        )
    return elapsed


def per_row_us(small_s: float, large_s: float) -> float:
    """Microseconds per row from the times of the small and the large file."""
    return (large_s - small_s) / (SIZES[1] - SIZES[0]) * 1e6


def bench_dry_run(tools: Tools, runs: int) -> dict[str, Any]:
    work = tools.work / "dry-run"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = tools.env
    commands: dict[str, list[str]] = {}
    for rows in SIZES:
        contacts = write_contacts(work / f"contacts-{rows}.csv", rows)
        commands[f"batch --dry-run, {rows:,} rows"] = [
            *_batch_argv(tools, contacts, work / "unused.db", "http://127.0.0.1:9/v2"),
            "--dry-run",
        ]
        commands[f"naive loop, {rows:,} rows"] = [
            str(tools.python),
            str(HERE / "naive_dry_run.py"),
            "--profiles",
            str(tools.root / "profiles"),
            "--profile",
            PROFILE,
            "--contacts",
            str(contacts),
        ]
    for argv in commands.values():  # warm-up: bytecode, page cache
        _wall(argv, work, env)
    samples: dict[str, list[float]] = {name: [] for name in commands}
    ours: list[float] = []
    naive: list[float] = []
    for _ in range(runs):
        for name, argv in commands.items():
            samples[name].append(_wall(argv, work, env))
        small, large = (f"{rows:,} rows" for rows in SIZES)
        ours.append(
            per_row_us(
                samples[f"batch --dry-run, {small}"][-1], samples[f"batch --dry-run, {large}"][-1]
            )
        )
        naive.append(
            per_row_us(samples[f"naive loop, {small}"][-1], samples[f"naive loop, {large}"][-1])
        )
    return {
        "rows": list(SIZES),
        "figures": {name: _figure(values) for name, values in samples.items()},
        "per_row_us": {
            "batch --dry-run": statistics.median(ours),
            "naive loop": statistics.median(naive),
            "samples": {"batch --dry-run": ours, "naive loop": naive},
        },
        "ratios": {
            "dry_run_vs_naive_per_row": statistics.median(
                a / b for a, b in zip(ours, naive, strict=True)
            )
        },
        "cpus": os.cpu_count(),
    }
