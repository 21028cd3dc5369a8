"""init: a new profiles repository that validates clean, with editor, hook and CI set up."""

from __future__ import annotations

import re

import yaml

FILES = [
    "schemas/profile.schema.json",
    "profiles/base/defaults.yaml",
    "profiles/example.yaml",
    ".pre-commit-config.yaml",
    ".github/workflows/callprofile.yml",
    ".github/callprofile-requirements.txt",
]


def listing(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_init_scaffolds_a_repository_that_validates_clean(cli, tmp_path):
    result = cli("init", "new")
    assert result.exit_code == 0, result.stderr
    root = tmp_path / "new"
    assert listing(root) == sorted(FILES)
    assert result.stdout.splitlines() == [f"created new/{f}" for f in FILES]
    check = cli("validate", "--strict", profiles_dir=root / "profiles")
    assert check.exit_code == 0, check.stdout
    assert check.stdout == ""
    assert "2 profile(s) checked: 0 error(s), 0 warning(s)" in check.stderr


def test_every_profile_points_its_editor_at_the_written_schema(cli, tmp_path):
    cli("init", "new")
    root = tmp_path / "new"
    schema = cli("schema", "profile").stdout
    assert (root / "schemas/profile.schema.json").read_text() == schema
    for profile in (root / "profiles").rglob("*.yaml"):
        first = profile.read_text().splitlines()[0]
        match = re.fullmatch(r"# yaml-language-server: \$schema=(\S+)", first)
        assert match, first
        assert (profile.parent / match.group(1)).resolve() == root / "schemas/profile.schema.json"


def test_hook_and_workflow_run_validate_and_post_the_diff(cli, tmp_path):
    cli("init", "new")
    root = tmp_path / "new"
    hooks = yaml.safe_load((root / ".pre-commit-config.yaml").read_text())
    (hook,) = hooks["repos"][0]["hooks"]
    assert hook["entry"] == "callprofile validate"
    assert re.search(hook["files"], "profiles/sales/x.yaml")
    workflow = yaml.safe_load((root / ".github/workflows/callprofile.yml").read_text())
    steps = workflow["jobs"]["review"]["steps"]
    runs = [s.get("run", "") for s in steps]
    assert "callprofile validate --strict" in runs
    assert any("callprofile diff --base" in r and "--format markdown" in r for r in runs)
    assert any(r.startswith("gh pr comment") for r in runs)
    assert steps[0]["with"]["fetch-depth"] == 0


def test_init_refuses_to_overwrite_and_writes_nothing(cli, tmp_path):
    target = tmp_path / "new"
    (target / "profiles").mkdir(parents=True)
    (target / "profiles/example.yaml").write_text("mine\n")
    result = cli("init", "new")
    assert result.exit_code == 1
    assert result.stderr == (
        "callprofile: error: refusing to overwrite existing file(s) in new: "
        "profiles/example.yaml; nothing was written\n"
    )
    assert listing(target) == ["profiles/example.yaml"]
    assert (target / "profiles/example.yaml").read_text() == "mine\n"
