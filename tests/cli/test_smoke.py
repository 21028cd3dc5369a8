"""The example profiles (issue 2, "Example profiles"): every one validates, every runnable one
renders and dry-runs with its documented example values."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.helpers.env import EXAMPLE_PROFILES

ALL = sorted(
    str(p.relative_to(EXAMPLE_PROFILES).with_suffix("")) for p in EXAMPLE_PROFILES.rglob("*.yaml")
)


def _load(name: str) -> dict:
    return yaml.safe_load((EXAMPLE_PROFILES / f"{name}.yaml").read_text("utf-8"))


RUNNABLE = [name for name in ALL if not _load(name).get("abstract")]


def test_the_examples_the_issue_asks_for_exist():
    for fragment in (
        "amd/premium",
        "amd/regular-tuned",
        "recording/dual-channel",
        "region/europe",
        "codecs/g711",
    ):
        assert fragment in ALL
        assert _load(fragment)["abstract"] is True
    assert {"appointment-reminder", "sales/followup", "payments/reminder-eu"} <= set(RUNNABLE)


def test_examples_validate_clean(cli):
    result = cli("validate", profiles_dir=EXAMPLE_PROFILES)
    assert result.exit_code == 0, result.stderr
    assert f"{len(ALL)} profile(s) checked: 0 error(s), 0 warning(s)" in result.stderr


@pytest.mark.parametrize("name", ALL)
def test_each_example_validates_alone(cli, name):
    result = cli("validate", str(EXAMPLE_PROFILES / f"{name}.yaml"), profiles_dir=EXAMPLE_PROFILES)
    assert result.exit_code == 0, result.stderr
    assert "0 error(s), 0 warning(s)" in result.stderr


def _example_args(name: str) -> list[str]:
    """--var NAME=example for every variable without a default (merged through extends)."""
    args = ["--to", "+13125550123"]
    declared: dict = {}
    for layer in _chain(name):
        for var, spec in (_load(layer).get("variables") or {}).items():
            declared.setdefault(var, {}).update(spec or {})
    for var, spec in declared.items():
        if "default" not in spec:
            args += ["--var", f"{var}={spec['example']}"]
    return args


def _chain(name: str) -> list[str]:
    extends = _load(name).get("extends") or []
    if isinstance(extends, str):
        extends = [extends]
    out: list[str] = []
    for parent in extends:
        out += [p for p in _chain(parent) if p not in out]
    return [*out, name]


@pytest.mark.parametrize("name", RUNNABLE)
def test_example_profile_renders(cli, name):
    args = _example_args(name)
    result = cli("render", name, *args, "-o", "json", profiles_dir=EXAMPLE_PROFILES)
    assert result.exit_code == 0, result.stderr
    rendered = json.loads(result.stdout)
    assert rendered["call"]["To"] == "+13125550123"
    dynamic = rendered["call"]["AIAssistantDynamicVariables"]
    assert dynamic, "each runnable example uses dynamic variables"
    assert not any("{{" in value for value in dynamic.values())


@pytest.mark.parametrize("name", RUNNABLE)
def test_example_profile_dry_runs(cli, name):
    result = cli("run", name, *_example_args(name), "--dry-run", profiles_dir=EXAMPLE_PROFILES)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("POST https://api.telnyx.com/v2/texml/ai_calls/")
