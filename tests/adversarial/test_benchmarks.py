"""The benchmark's inputs stay valid as the schemas change, and its arithmetic is right (the
benchmark itself is run by hand: python3 benchmarks/run.py)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from tests.helpers.env import ROOT


def load(name: str):
    spec = importlib.util.spec_from_file_location(
        f"bench_{name}", ROOT / "benchmarks" / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_generated_profiles_validate_clean(cli, tmp_path: Path):
    generate = load("generate")
    # Enough leaves that every fragment is used (an unused abstract fragment is CP409).
    files = generate.generate(tmp_path / "profiles", total=100)
    assert len(files) == 100
    result = cli("validate", profiles_dir=tmp_path / "profiles")
    assert result.exit_code == 0, result.stderr
    assert "100 profile(s) checked: 0 error(s), 0 warning(s)" in result.stderr
    # Three deep: leaf -> region fragment -> base fragment.
    leaf = next(f for f in files if f.parent.name.startswith("team-"))
    assert "extends:" in leaf.read_text(encoding="utf-8")


def test_ratios_are_medians_of_paired_rounds_and_targets_are_judged():
    run = load("run")
    figures = {
        "slow": {"samples_s": [2.0, 9.0, 3.0]},
        "fast": {"samples_s": [1.0, 3.0, 1.0]},
    }
    assert run.ratio(figures, "slow", "fast") == 3.0
    verdicts = run.verdicts(
        {"startup": {"ratios": {"render_vs_python": 8.5, "sdk_vs_render": 20.0, "other": 1.0}}}
    )
    assert verdicts["render_vs_python"]["met"] is False
    assert verdicts["sdk_vs_render"]["met"] is True
    assert "other" not in verdicts


def test_pacing_arithmetic():
    run = load("batchbench")
    steady = [i / 16 for i in range(400)]  # 16 calls per second, exact in binary
    assert abs(run.achieved_rate(steady) - 16) < 1e-9
    assert run.busiest_window(steady, 5.0) == 80
    burst = [0.0] * 101 + [10.0]
    assert run.busiest_window(burst, 5.0) == 101


def test_contacts_are_streamed_distinct_and_valid(tmp_path: Path):
    from runner.phone import normalise

    bench = load("batchbench")
    path = bench.write_contacts(tmp_path / "contacts.csv", 1000)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "to,customer_name,appointment_time"
    assert len(set(lines[1:])) == 1000
    numbers = [line.split(",")[0] for line in (lines[1], lines[-1])]
    numbers.append("+1312" + str(2_000_000 + 7_999_999))  # the last number it can write
    assert all(normalise(n) == n for n in numbers)  # valid numbers, not invalid rows


def test_targets_for_absolute_figures():
    run = load("run")
    found = run.verdicts(
        {
            "pacing": {"checks": {"pacing_achieved_rate": 19.2, "pacing_busiest_5s_window": 101}},
            "memory": {"checks": {"memory_1m_vs_10k_rows": 1.02}},
        }
    )
    assert found["pacing_achieved_rate"]["met"] is True  # within 5% of 20
    assert run.met("pacing_achieved_rate", 18.9) is False
    assert found["pacing_busiest_5s_window"]["met"] is False
    assert found["memory_1m_vs_10k_rows"]["met"] is True


def test_results_name_the_commit_and_the_load():
    run = load("run")
    measured = run.commit()
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=run.ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert measured["sha"] == head
    assert isinstance(measured["dirty"], bool)
    loads = run.load_average()
    assert loads is None or (len(loads) == 3 and all(x >= 0 for x in loads))


def test_the_naive_dry_run_loop_renders_what_batch_dry_run_prints(cli, tmp_path: Path):
    """The dry-run benchmark's baseline does the same rendering work: same rows, same bodies."""
    import json
    import os

    bench = load("batchbench")
    contacts = bench.write_contacts(tmp_path / "contacts.csv", 25)
    profiles = ROOT / "profiles"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    naive = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "naive_dry_run.py"), "--profiles",
         str(profiles), "--profile", bench.PROFILE, "--contacts", str(contacts)],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    ours = cli("batch", bench.PROFILE, "--contacts", str(contacts), "--dry-run",
               profiles_dir=profiles)  # fmt: skip
    assert ours.exit_code == 0, ours.stderr
    expected = [json.loads(line) for line in ours.stdout.splitlines()]
    assert [json.loads(line) for line in naive.stdout.splitlines()] == expected
    assert len(expected) == 25


def test_dry_run_per_row_cost_is_the_slope_and_targets_are_judged():
    bench = load("dryrunbench")
    small, large = bench.SIZES
    assert abs(bench.per_row_us(1.0, 1.0 + (large - small) * 50e-6) - 50.0) < 1e-6
    run = load("run")
    found = run.verdicts(
        {
            "dry_run": {"ratios": {"dry_run_vs_naive_per_row": 1.4}},
            "memory": {"checks": {"memory_dry_run_1m_rows_s": 75.0}},
        }
    )
    assert found["dry_run_vs_naive_per_row"]["met"] is True
    assert found["memory_dry_run_1m_rows_s"]["met"] is False
    assert run.shown("memory_dry_run_1m_rows_s", 75.0) == "75.0 s"


def test_the_naive_render_renders_what_render_prints(cli, tmp_path: Path):
    """The filters start-up benchmark's baseline renders the same templates to the same text,
    and its profile is valid (so the comparison times a successful render)."""
    import json

    run = load("run")
    profile = tmp_path / "profiles" / "filters.yaml"
    profile.parent.mkdir()
    profile.write_text(run.FILTERS_PROFILE, encoding="utf-8")
    values = ["customer_name=ada", "appointment_time=tuesday 3 pm"]
    naive = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "naive_render.py"), str(profile), *values],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    ours = cli("render", "filters", "--to", "+13125550123", "-o", "json",
               *[a for v in values for a in ("--var", v)], profiles_dir=profile.parent)  # fmt: skip
    assert ours.exit_code == 0, ours.stderr
    document = json.loads(ours.stdout)
    expected = json.loads(naive.stdout)
    assert document["connection_id"] == expected["connection_id"]
    assert {k: v for k, v in document["call"].items() if k != "To"} == expected["call"]
    assert expected["call"]["AIAssistantDynamicVariables"]["clinic"] == "Northside clinic"
    assert cli("validate", profiles_dir=profile.parent).exit_code == 0
