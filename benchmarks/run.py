"""callprofile's benchmarks: one command, a printed table, and benchmarks/results.json.

    python3 benchmarks/run.py            # every benchmark that can run on this branch
    python3 benchmarks/run.py --runs 31  # more repetitions per figure
    python3 benchmarks/run.py --only startup

The first run creates benchmarks/.work/venv (ignored by git) and installs into it this checkout
(editable), the official Telnyx SDK (``telnyx``) and ``check-jsonschema``, so every figure in
one run comes from one interpreter and one set of packages. Each figure is the median of several
runs, and each comparison is a ratio of two medians taken in the same run with the commands
interleaved, because absolute times drift on shared machines.

Benchmarks 3-5 (batch overhead, pacing accuracy, memory; benchmarks/batchbench.py) run
``callprofile batch`` against ``callprofile sandbox`` started as its own process, and read what
arrived from the sandbox's JSON-lines log. Benchmark 6 (benchmarks/sandboxbench.py) measures the
sandbox itself with raw-socket load generators whose own CPU cost is reported. Benchmark 7
(benchmarks/listenbench.py) sends signed status callbacks to ``callprofile listen`` from a
separate load process. Benchmark 8 (benchmarks/ledgerbench.py) measures one PostgreSQL ledger
shared by 1, 3 and 8 runners on a throwaway server, and three runners' combined pacing (skipped
where no server can start). Benchmark 9 (benchmarks/dryrunbench.py) compares the per-row cost
of ``batch --dry-run`` with a naive loop (benchmarks/naive_dry_run.py).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import batchbench  # noqa: E402  (a sibling module, found through the line above)
import dryrunbench  # noqa: E402
import ledgerbench  # noqa: E402
import listenbench  # noqa: E402
import sandboxbench  # noqa: E402

ROOT = HERE.parent
WORK = HERE / ".work"
VENV = WORK / "venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"
CALLPROFILE = BIN / "callprofile"
CHECK_JSONSCHEMA = BIN / "check-jsonschema"
PACKAGES = ["telnyx", "check-jsonschema"]
EXAMPLE = "appointment-reminder"
EXAMPLE_ARGS = ["--to", "+13125550123", "--var", "customer_name=Ada"]
EXAMPLE_ARGS += ["--var", "appointment_time=Tuesday 3 PM"]

# A profile whose templates use filters and expressions, so Jinja must load (start-up): rendered
# by callprofile and by benchmarks/naive_render.py.
FILTERS_PROFILE = """\
description: A profile whose templates use filters and expressions (start-up benchmark).
connection_id: "1234567890"
variables:
  customer_name:
    required: true
    description: First name.
  appointment_time:
    required: true
    description: When.
  clinic:
    required: false
    default: northside
    description: Which clinic.
call:
  From: "+13120001234"
  AIAssistantId: "assistant-9f3c2e71-4b8d-4a0e-9d2c-6a1f5e3b7c40"
  AIAssistantDynamicVariables:
    customer_name: "{{ customer_name | title }}"
    appointment_time: "{{ appointment_time | upper }}"
    clinic: "{% if clinic %}{{ clinic | capitalize }} clinic{% else %}the clinic{% endif %}"
"""

# name -> (target, "at most" | "at least" | "within 5% of"), checked against the measured
# value: a ratio (under "ratios") or an absolute figure (under "checks", with UNITS).
TARGETS: dict[str, tuple[float, str]] = {
    "help_vs_python": (2.0, "at most"),
    "render_vs_python": (5.0, "at most"),
    "dry_run_vs_python": (5.5, "at most"),
    "render_filters_vs_naive": (1.3, "at most"),
    "sdk_vs_render": (15.0, "at least"),
    "sdk_vs_dry_run": (15.0, "at least"),
    "validate_vs_check_jsonschema": (0.5, "at most"),  # at least twice as fast
    # the cost of one more profile from 1,000 to 10,000 over the same from 100 to 1,000
    "validate_per_profile_growth": (1.15, "at most"),
    "merge_40x200_ms": (1000.0, "at most"),
    # twice the layers, twice the time: 2.0 when linear
    "merge_80_vs_40_layers": (2.3, "at most"),
    "batch_vs_raw_throughput_c8": (0.8, "at least"),
    "batch_vs_raw_throughput_c32": (0.8, "at least"),
    "pacing_achieved_rate": (batchbench.PACING_RATE, "within 5% of"),
    "pacing_busiest_5s_window": (100, "at most"),
    "memory_peak_rss_1m_rows_mb": (100.0, "at most"),
    "memory_1m_vs_10k_rows": (1.1, "at most"),
    "sandbox_latency_p50_us": (500.0, "at most"),
    "sandbox_calls_per_s_c50_callbacks": (sandboxbench.TARGET_RATE, "at least"),
    "sandbox_burst_failed_connections": (0, "at most"),
    "sandbox_rss_growth_mb": (5.0, "at most"),
    "listen_verified_per_s": (2000.0, "at least"),
    # The database is not the limit while one runner claims five times what an account may
    # dial by default (Telnyx: 30 dials/s).
    "ledger_claims_per_s_1_runners": (150.0, "at least"),
    "shared_pacing_achieved_rate": (ledgerbench.PACING_RATE, "within 5% of"),
    "shared_pacing_busiest_5s_window": (105, "at most"),
    "memory_dry_run_1m_rows_s": (60.0, "at most"),
    "dry_run_vs_naive_per_row": (1.5, "at most"),
}
UNITS = {
    "batch_cpu_ms_per_call_c8": " ms",
    "batch_cpu_ms_per_call_c32": " ms",
    "raw_cpu_ms_per_call_c8": " ms",
    "raw_cpu_ms_per_call_c32": " ms",
    "merge_40x200_ms": " ms",
    "validate_rss_10k_vs_1k_mb": " MB",
    "pacing_achieved_rate": "/s",
    "pacing_busiest_5s_window": " calls",
    "memory_peak_rss_1m_rows_mb": " MB",
    "sandbox_latency_p50_us": " us",
    "sandbox_calls_per_s_c50": "/s",
    "sandbox_calls_per_s_c50_callbacks": "/s",
    "sandbox_burst_failed_connections": " conns",
    "sandbox_rss_growth_mb": " MB",
    "listen_verified_per_s": "/s",
    "listen_per_cpu_second": "/s",
    "ledger_claims_per_s_1_runners": "/s",
    "ledger_claims_per_s_3_runners": "/s",
    "ledger_claims_per_s_8_runners": "/s",
    "shared_pacing_achieved_rate": "/s",
    "shared_pacing_busiest_5s_window": " calls",
    "memory_dry_run_1m_rows_s": " s",
    "dry_run_us_per_row": " us",
    "naive_us_per_row": " us",
    "dry_run_cpu_us_per_row": " us",
    "dry_run_one_process_us_per_row": " us",
    "dry_run_one_process_cpu_us_per_row": " us",
    "naive_cpu_us_per_row": " us",
}


def met(name: str, value: float) -> bool | None:
    if name not in TARGETS:
        return None
    target, sense = TARGETS[name]
    if sense == "at most":
        return value <= target
    if sense == "at least":
        return value >= target
    return abs(value - target) <= 0.05 * target


# ---------------------------------------------------------------------------- environment


def ensure_venv() -> None:
    """Create the benchmark's own virtual environment once; reinstall when pyproject changes."""
    stamp = WORK / "installed.txt"
    wanted = (ROOT / "pyproject.toml").read_text(encoding="utf-8") + " ".join(PACKAGES)
    if PYTHON.exists() and stamp.exists() and stamp.read_text(encoding="utf-8") == wanted:
        return
    WORK.mkdir(parents=True, exist_ok=True)
    print(f"setting up {VENV} (once) ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run(
        [str(PYTHON), "-m", "pip", "install", "-q", "-e", f"{ROOT}[postgres]", *PACKAGES],
        check=True,
    )
    stamp.write_text(wanted, encoding="utf-8")


def bench_env() -> dict[str, str]:
    """The environment every measured command runs in: bytecode caching on and output buffered
    (as for a user), no Telnyx settings from the caller, and a placeholder key so dry runs have
    one to hide."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TELNYX_", "CALLPROFILE_"))
        and k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED")
    }
    env["TELNYX_API_KEY"] = "KEYbenchmarkonly"
    env["NO_COLOR"] = "1"
    return env


def warm_bytecode() -> None:
    """Compile this checkout's modules, so no figure includes compiling source (the editable
    install's modules are not compiled by pip)."""
    subprocess.run(
        [str(PYTHON), "-m", "compileall", "-q", str(ROOT / "runner")],
        check=True,
        env=bench_env(),
    )


def machine() -> dict[str, Any]:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    version = subprocess.run(
        [str(PYTHON), "-c", "import sys; print(sys.version.split()[0])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return {
        "cpu": model,
        "nproc": os.cpu_count(),
        "python": version,
        "platform": platform.platform(),
        "load_average": load_average(),
    }


def load_average() -> list[float] | None:
    """1, 5 and 15 minute load averages: on a shared machine they say how far to trust a run."""
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


def commit() -> dict[str, Any]:
    """The commit measured, and whether the work tree held changes not in it."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    return {"sha": git("rev-parse", "HEAD") or None, "dirty": bool(git("status", "--porcelain"))}


# ---------------------------------------------------------------------------- measuring


def wall(argv: list[str], cwd: Path, env: dict[str, str], ok: tuple[int, ...] = (0,)) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True)
    elapsed = time.perf_counter() - start
    if done.returncode not in ok:
        raise SystemExit(
            f"benchmark command failed ({done.returncode}): {' '.join(argv)}\n"
            f"{done.stderr.decode(errors='replace')[-2000:]}"
        )
    return elapsed


def interleaved(
    commands: dict[str, list[str]], runs: int, cwd: Path, warmup: int = 2
) -> dict[str, dict[str, float]]:
    """Median, min and max wall time (seconds) of each command, run in turn ``runs`` times."""
    env = bench_env()
    for _ in range(warmup):
        for argv in commands.values():
            wall(argv, cwd, env)
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, argv in commands.items():
            samples[name].append(wall(argv, cwd, env))
    return {
        name: {
            "median_s": statistics.median(values),
            "min_s": min(values),
            "max_s": max(values),
            "runs": len(values),
            "samples_s": values,
        }
        for name, values in samples.items()
    }


def ratio(figures: dict[str, dict[str, Any]], slow: str, fast: str) -> float:
    """The median of the per-round ratios: each round runs both commands back to back, so a
    burst of load on a shared machine affects both sides of a pair alike."""
    pairs = zip(figures[slow]["samples_s"], figures[fast]["samples_s"], strict=True)
    return statistics.median(a / b for a, b in pairs)


# ---------------------------------------------------------------------------- benchmarks


def bench_startup(runs: int) -> dict[str, Any]:
    """1. Start-up: wall time of three commands against ``python -c pass`` and the SDK."""
    profiles = ROOT / "profiles"
    base = [str(CALLPROFILE), "--profiles-dir", str(profiles)]
    filters = WORK / "filters"
    (filters / "profiles").mkdir(parents=True, exist_ok=True)
    (filters / "profiles" / "filters.yaml").write_text(FILTERS_PROFILE, encoding="utf-8")
    values = ["customer_name=ada", "appointment_time=tuesday 3 pm"]
    commands = {
        "python -c pass": [str(PYTHON), "-c", "pass"],
        "callprofile --help": [str(CALLPROFILE), "--help"],
        "callprofile render": [*base, "render", EXAMPLE, *EXAMPLE_ARGS],
        "callprofile run --dry-run": [*base, "run", EXAMPLE, "--dry-run", *EXAMPLE_ARGS],
        "callprofile render (filters)": [
            str(CALLPROFILE),
            "--profiles-dir",
            str(filters / "profiles"),
            "render",
            "filters",
            "--to",
            "+13125550123",
            *[arg for value in values for arg in ("--var", value)],
        ],
        "naive: PyYAML + Jinja sandbox + JSON": [
            str(PYTHON),
            str(HERE / "naive_render.py"),
            str(filters / "profiles" / "filters.yaml"),
            *values,
        ],
        "SDK: import, client, texml call": [str(PYTHON), str(HERE / "sdk_path.py")],
    }
    figures = interleaved(commands, runs, cwd=WORK)
    ratios = {
        "help_vs_python": ratio(figures, "callprofile --help", "python -c pass"),
        "render_vs_python": ratio(figures, "callprofile render", "python -c pass"),
        "dry_run_vs_python": ratio(figures, "callprofile run --dry-run", "python -c pass"),
        "render_filters_vs_naive": ratio(
            figures, "callprofile render (filters)", "naive: PyYAML + Jinja sandbox + JSON"
        ),
        "sdk_vs_render": ratio(figures, "SDK: import, client, texml call", "callprofile render"),
        "sdk_vs_dry_run": ratio(
            figures, "SDK: import, client, texml call", "callprofile run --dry-run"
        ),
    }
    return {"figures": figures, "ratios": ratios}


def bench_validate(runs: int, profiles: int = 1000) -> dict[str, Any]:
    """2. Validation throughput on a generated repository of ``profiles`` files."""
    sys.path.insert(0, str(HERE))
    from generate import generate

    repo = WORK / "generated"
    shutil.rmtree(repo, ignore_errors=True)
    files = generate(repo / "profiles", profiles)
    listing = repo / "files.txt"
    listing.write_text("\n".join(str(f.relative_to(repo)) for f in files), encoding="utf-8")
    relative = [str(f.relative_to(repo)) for f in files]
    commands = {
        "callprofile validate": [str(CALLPROFILE), "--profiles-dir", "profiles", "validate"],
        "check-jsonschema": [
            str(CHECK_JSONSCHEMA),
            "--schemafile",
            str(ROOT / "schemas" / "profile.schema.json"),
            *relative,
        ],
    }
    figures = interleaved(commands, runs, cwd=repo, warmup=1)
    per_file = {
        name: fig["median_s"] / len(files) * 1e6 for name, fig in figures.items()
    }  # microseconds
    return {
        "files": len(files),
        "figures": figures,
        "per_file_us": per_file,
        "ratios": {
            "validate_vs_check_jsonschema": ratio(
                figures, "callprofile validate", "check-jsonschema"
            )
        },
    }


SCALING_SIZES = (100, 1000, 10000)


def bench_validate_scaling(runs: int) -> dict[str, Any]:
    """2b. How ``validate`` grows: 100, 1,000 and 10,000 generated profiles. The cost of one
    more profile is taken between sizes (so start-up cancels out); linear means the same cost
    from 100 to 1,000 as from 1,000 to 10,000. Peak memory of each size beside it."""
    from generate import generate

    commands: dict[str, list[str]] = {}
    repos: dict[int, Path] = {}
    for size in SCALING_SIZES:
        repo = WORK / f"scaling-{size}"
        if not (repo / "profiles").is_dir():
            generate(repo / "profiles", size)
        repos[size] = repo
        commands[f"callprofile validate, {size:,} profiles"] = [
            str(CALLPROFILE),
            "--profiles-dir",
            str(repo / "profiles"),
            "validate",
        ]
    figures = interleaved(commands, runs, cwd=WORK, warmup=1)
    small, middle, large = (figures[name]["median_s"] for name in commands)
    low, mid, high = SCALING_SIZES
    first = (middle - small) / (mid - low)
    second = (large - middle) / (high - mid)
    rss = {
        f"{size:,} profiles": batchbench.peak_rss_mb(PYTHON, argv, WORK, bench_env())
        for size, argv in zip(SCALING_SIZES, commands.values(), strict=True)
    }
    return {
        "figures": figures,
        "per_extra_profile_ms": {
            f"{low:,} -> {mid:,}": first * 1000,
            f"{mid:,} -> {high:,}": second * 1000,
        },
        "peak_rss_mb": rss,
        "ratios": {"validate_per_profile_growth": second / first},
        "checks": {
            "validate_rss_10k_vs_1k_mb": rss[f"{high:,} profiles"] - rss[f"{mid:,} profiles"]
        },
    }


def bench_merge(runs: int) -> dict[str, Any]:
    """2c. Merging a wide mapping spread over many layers (40 layers x 200 keys, and 80 x 200
    to show the growth), in-process: a figure, not a timed test."""
    code = (
        "import sys, time\n"
        "from runner.profiles.merge import Layer, merge\n"
        "layers, keys = int(sys.argv[1]), int(sys.argv[2])\n"
        "stack = [Layer(f'l{i}', {'call': {'AIAssistantDynamicVariables':"
        " {f'k{j}': f'v{i}' for j in range(keys)}}}) for i in range(layers)]\n"
        "best = None\n"
        "for _ in range(int(sys.argv[3])):\n"
        "    start = time.perf_counter(); document, prov = {}, {}\n"
        "    for layer in stack:\n"
        "        document = merge(document, layer, prov)\n"
        "    took = time.perf_counter() - start\n"
        "    best = took if best is None else min(best, took)\n"
        "print(best)\n"
    )
    found: dict[str, float] = {}
    for layers in (40, 80):
        done = subprocess.run(
            [str(PYTHON), "-c", code, str(layers), "200", str(max(runs, 3))],
            capture_output=True,
            text=True,
            check=True,
            env=bench_env(),
        )
        found[f"{layers} layers x 200 keys"] = float(done.stdout)
    return {
        "figures": {
            name: {"median_s": best, "min_s": best, "max_s": best, "runs": 1}
            for name, best in found.items()
        },
        "best_s": found,
        "checks": {"merge_40x200_ms": found["40 layers x 200 keys"] * 1000},
        "ratios": {
            "merge_80_vs_40_layers": found["80 layers x 200 keys"] / found["40 layers x 200 keys"]
        },
    }


# ---------------------------------------------------------------------------- batch benchmarks
# 3-5 live in batchbench.py; each runs against `callprofile sandbox` as its own process.


def _tools() -> batchbench.Tools:
    return batchbench.Tools(
        python=PYTHON, callprofile=CALLPROFILE, root=ROOT, work=WORK, env=bench_env()
    )


def bench_batch_overhead(runs: int) -> dict[str, Any]:
    """3. Batch overhead: 2,000 calls, `callprofile batch` (ledger on) against raw httpx."""
    return batchbench.bench_batch_overhead(_tools(), runs)


def bench_pacing(runs: int) -> dict[str, Any]:
    """4. Pacing accuracy: `--rate 20` over 400 calls, from the sandbox's log."""
    return batchbench.bench_pacing(_tools(), runs)


def bench_memory(runs: int) -> dict[str, Any]:
    """5. Memory: peak RSS of `batch --dry-run` over 10,000 and 1,000,000 rows (and the
    million-row dry run's time)."""
    return batchbench.bench_memory(_tools(), runs)


def bench_sandbox(runs: int) -> dict[str, Any]:
    """6. The sandbox: latency, throughput with signed callbacks, bursts, memory."""
    return sandboxbench.bench_sandbox([str(CALLPROFILE)], str(PYTHON), WORK / "sandbox", runs)


def bench_listen(runs: int) -> dict[str, Any]:
    """7. Verified callbacks per second through `callprofile listen` at concurrency 50."""
    return listenbench.bench_listen(_tools(), runs)


def bench_shared_ledger(runs: int) -> dict[str, Any]:
    """8. One PostgreSQL ledger: claim throughput with 1, 3 and 8 runners; shared pacing."""
    return ledgerbench.bench_shared_ledger(_tools(), runs)


def bench_dry_run(runs: int) -> dict[str, Any]:
    """9. Dry run: per-row cost of `batch --dry-run` against a naive loop over the same rows."""
    return dryrunbench.bench_dry_run(_tools(), runs)


BENCHMARKS: dict[str, Callable[[int], dict[str, Any]]] = {
    "startup": bench_startup,
    "validate": bench_validate,
    "validate_scaling": bench_validate_scaling,
    "merge": bench_merge,
    "batch_overhead": bench_batch_overhead,
    "pacing": bench_pacing,
    "memory": bench_memory,
    "sandbox": bench_sandbox,
    "listen": bench_listen,
    "shared_ledger": bench_shared_ledger,
    "dry_run": bench_dry_run,
}
DEFAULT_RUNS = {
    "startup": 21,
    "validate": 5,
    "validate_scaling": 3,
    "merge": 5,
    "batch_overhead": 3,
    "pacing": 3,
    "memory": 3,
    "sandbox": 3,
    "listen": 5,
    "shared_ledger": 3,
    "dry_run": 5,
}


# ---------------------------------------------------------------------------- report


def measured(results: dict[str, Any]) -> Iterator[tuple[str, float]]:
    for bench in results.values():
        yield from bench.get("ratios", {}).items()
        yield from bench.get("checks", {}).items()


def shown(name: str, value: float) -> str:
    unit = UNITS.get(name, "x")
    if unit in (" calls", " conns"):
        return f"{value:g}{unit}"
    if unit == " us" or (unit == "/s" and value >= 100):
        return f"{value:.0f}{unit}"
    return f"{value:.1f}{unit}" if unit in (" MB", " s") else f"{value:.2f}{unit}"


def verdicts(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for name, value in measured(results):
        verdict = met(name, value)
        if verdict is None:
            continue
        target, sense = TARGETS[name]
        unit = UNITS.get(name, "x")
        found[name] = {"value": value, "target": f"{sense} {target:g}{unit}", "met": verdict}
        if unit == "x":
            found[name]["ratio"] = value
    return found


def table(results: dict[str, Any]) -> str:
    lines = [f"{'benchmark':<14} {'command':<38} {'median':>10} {'min':>10} {'max':>10}"]
    for bench, result in results.items():
        if "table" in result:  # a benchmark with its own layout (the sandbox's scenarios)
            lines.extend(f"{bench:<14} {line}" for line in result["table"].splitlines())
            continue
        if "figures" not in result:
            lines.append(f"{bench:<14} {result.get('status', '')}: {result.get('reason', '')}")
            continue
        for name, fig in result["figures"].items():
            lines.append(
                f"{bench:<14} {name:<38} {fig['median_s'] * 1000:>8.1f}ms "
                f"{fig['min_s'] * 1000:>8.1f}ms {fig['max_s'] * 1000:>8.1f}ms"
            )
    lines.append("")
    lines.append(f"{'measure':<34} {'measured':>11}  {'target':<18} met")
    for name, value in measured(results):
        target = TARGETS.get(name)
        wanted = f"{target[1]} {target[0]:g}{UNITS.get(name, 'x')}" if target else "-"
        verdict = met(name, value)
        mark = "" if verdict is None else ("yes" if verdict else "NO")
        lines.append(f"{name:<34} {shown(name, value):>11}  {wanted:<18} {mark}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, help="repetitions per figure (default per benchmark)")
    parser.add_argument(
        "--only", help=f"comma-separated subset of: {', '.join(BENCHMARKS)}", default=""
    )
    parser.add_argument("--output", default=str(HERE / "results.json"))
    args = parser.parse_args(argv)
    chosen = [n.strip() for n in args.only.split(",") if n.strip()] or list(BENCHMARKS)
    unknown = [n for n in chosen if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")

    ensure_venv()
    warm_bytecode()
    load_at_start = load_average()
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    results: dict[str, Any] = {}
    for name in chosen:
        print(f"running {name} ...", file=sys.stderr)
        results[name] = BENCHMARKS[name](args.runs or DEFAULT_RUNS.get(name, 5))
    info = machine()
    info["load_average_start"] = load_at_start
    info["load_average_end"] = info.pop("load_average")
    report = {
        "machine": info,
        "commit": commit(),
        "started": started,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "results": results,
        "targets": verdicts(results),
    }
    Path(args.output).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"{info['cpu']}, {info['nproc']} CPUs, Python {info['python']}")
    print(
        f"commit {report['commit']['sha']}{' (dirty)' if report['commit']['dirty'] else ''}, "
        f"load average {info['load_average_start']} at start, {info['load_average_end']} at end"
    )
    print(table(results))
    print(f"\nwrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
