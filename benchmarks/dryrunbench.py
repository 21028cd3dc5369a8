"""Benchmark 6: the per-row cost of ``batch --dry-run`` against a naive loop (run by run.py).

Both read the same generated contacts file of the example profile and write one JSON line per
row to stdout (discarded). The naive loop (benchmarks/naive_dry_run.py) does per row one
``phonenumbers.parse``, one sandboxed Jinja render of the same templates and one ``json.dumps``;
``batch --dry-run`` also checks the number is valid, renders with the profile's variables,
coerces, validates the request against the schema, redacts secrets and looks for duplicates.
The per-row cost of each is the slope between a small and a large file, so start-up (which
benchmark 1 measures) does not count; each round runs the six commands back to back (the dry
run as a user runs it, the same with ``--jobs 1``, the naive loop; each at both sizes). Beside
the wall time per row, the CPU time per row (user + system of the command and of the worker
processes it waited for, from wait4; the same slope): a dry run checks the rows of a long file
in one process per CPU, so its wall time per row is less than its CPU time per row, and the two
show what running on several CPUs contributes and what the work per row costs.
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


def _wall(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, the command's and its waited-for workers')."""
    import subprocess
    import tempfile

    start = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        proc.returncode = code
        if code != 0:
            err.seek(0)
            raise SystemExit(
                f"benchmark command failed ({code}): {' '.join(argv)}\n"
                f"{err.read().decode(errors='replace')[-2000:]}"
            )
    return elapsed, usage.ru_utime + usage.ru_stime


def per_row_us(small_s: float, large_s: float) -> float:
    """Microseconds per row from the times of the small and the large file."""
    return (large_s - small_s) / (SIZES[1] - SIZES[0]) * 1e6


# The commands compared, each at both sizes: the dry run as a user runs it (one worker process
# per CPU for a long file), the same in one process (the per-row work alone), the naive loop.
KINDS = ("batch --dry-run", "batch --dry-run --jobs 1", "naive loop")


def bench_dry_run(tools: Tools, runs: int) -> dict[str, Any]:
    work = tools.work / "dry-run"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = tools.env
    commands: dict[str, list[str]] = {}
    for rows in SIZES:
        contacts = write_contacts(work / f"contacts-{rows}.csv", rows)
        batch = [
            *_batch_argv(tools, contacts, work / "unused.db", "http://127.0.0.1:9/v2"),
            "--dry-run",
        ]
        commands[f"batch --dry-run, {rows:,} rows"] = batch
        commands[f"batch --dry-run --jobs 1, {rows:,} rows"] = [*batch, "--jobs", "1"]
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
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    wall_us: dict[str, list[float]] = {kind: [] for kind in KINDS}
    cpu_us: dict[str, list[float]] = {kind: [] for kind in KINDS}
    small, large = (f"{rows:,} rows" for rows in SIZES)
    for _ in range(runs):
        for name, argv in commands.items():
            wall, used = _wall(argv, work, env)
            samples[name].append(wall)
            cpu[name].append(used)
        for kind in KINDS:
            wall_us[kind].append(
                per_row_us(samples[f"{kind}, {small}"][-1], samples[f"{kind}, {large}"][-1])
            )
            cpu_us[kind].append(
                per_row_us(cpu[f"{kind}, {small}"][-1], cpu[f"{kind}, {large}"][-1])
            )

    def paired(figures: dict[str, list[float]], kind: str) -> float:
        pairs = zip(figures[kind], figures["naive loop"], strict=True)
        return statistics.median(a / b for a, b in pairs)

    return {
        "rows": list(SIZES),
        "figures": {name: _figure(values) for name, values in samples.items()},
        "per_row_us": {
            **{kind: statistics.median(values) for kind, values in wall_us.items()},
            "samples": wall_us,
        },
        "cpu_per_row_us": {
            **{kind: statistics.median(values) for kind, values in cpu_us.items()},
            "samples": cpu_us,
        },
        "ratios": {
            "dry_run_vs_naive_per_row": paired(wall_us, "batch --dry-run"),
            "dry_run_vs_naive_cpu_per_row": paired(cpu_us, "batch --dry-run"),
            "dry_run_one_process_vs_naive_per_row": paired(wall_us, "batch --dry-run --jobs 1"),
        },
        "checks": {
            "dry_run_us_per_row": statistics.median(wall_us["batch --dry-run"]),
            "dry_run_one_process_us_per_row": statistics.median(
                wall_us["batch --dry-run --jobs 1"]
            ),
            "naive_us_per_row": statistics.median(wall_us["naive loop"]),
            "dry_run_cpu_us_per_row": statistics.median(cpu_us["batch --dry-run"]),
            "dry_run_one_process_cpu_us_per_row": statistics.median(
                cpu_us["batch --dry-run --jobs 1"]
            ),
            "naive_cpu_us_per_row": statistics.median(cpu_us["naive loop"]),
        },
        "cpus": os.cpu_count(),
    }
