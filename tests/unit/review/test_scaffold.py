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


def test_workflow_uploads_sarif_findings_to_code_scanning(cli, tmp_path):
    """The SARIF step runs as written (bash, callprofile on PATH) and leaves a valid log both
    when the profiles are clean and when they have findings (exit 1 is not a failed step)."""
    import json
    import os
    import subprocess
    import sys

    import jsonschema

    from tests.helpers.env import ROOT

    cli("init", "new")
    root = tmp_path / "new"
    workflow = yaml.safe_load((root / ".github/workflows/callprofile.yml").read_text())
    assert workflow["permissions"]["security-events"] == "write"
    steps = workflow["jobs"]["review"]["steps"]
    (sarif_step,) = [s for s in steps if "--format sarif" in s.get("run", "")]
    (upload,) = [s for s in steps if s.get("uses", "").startswith("github/codeql-action/upload")]
    assert upload["with"]["sarif_file"] == "callprofile.sarif"
    assert "head.repo.full_name == github.repository" in upload["if"]
    schema = json.loads((ROOT / "tests/data/sarif-schema-2.1.0.json").read_text("utf-8"))
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}
    for broken in (False, True):
        if broken:
            (root / "profiles/example.yaml").write_text("call:\n  Timeout: soon\n")
        done = subprocess.run(
            ["bash", "-e", "-c", sarif_step["run"]], cwd=root, env=env, capture_output=True
        )
        assert done.returncode == 0, done.stderr
        log = json.loads((root / "callprofile.sarif").read_text("utf-8"))
        assert list(jsonschema.Draft4Validator(schema).iter_errors(log)) == []
        assert bool(log["runs"][0]["results"]) is broken
    # A crash (here: an unknown option) is not hidden.
    bad = sarif_step["run"].replace("--format sarif", "--format sarif --no-such-flag")
    done = subprocess.run(["bash", "-e", "-c", bad], cwd=root, env=env, capture_output=True)
    assert done.returncode != 0


def test_workflow_plans_campaigns_whose_contacts_changed(cli, tmp_path, monkeypatch):
    """The plan step runs as written against a branch that adds campaigns/example.csv, and
    appends the plan's Markdown summary (numbers masked) to the pull-request comment."""
    import os
    import subprocess
    import sys

    from tests.helpers.gitrepo import make_repo

    repo = make_repo(tmp_path, monkeypatch, name="new")
    cli("init", "new")
    repo.commit("scaffold")
    repo.git("update-ref", "refs/remotes/origin/main", "HEAD")
    repo.git("checkout", "-q", "-b", "campaign")
    repo.write("campaigns/example.csv", "to,customer_name\n+13125550111,Ada\n+13125550112,Bo\n")
    repo.write("campaigns/nosuch.csv", "to\n+13125550113\n")  # no profile of that name
    repo.commit("a campaign")
    workflow = yaml.safe_load((repo.root / ".github/workflows/callprofile.yml").read_text())
    assert "campaigns/**" in workflow[True]["pull_request"]["paths"]  # YAML 1.1 reads "on" as true
    steps = workflow["jobs"]["review"]["steps"]
    (step,) = [s for s in steps if "callprofile plan" in s.get("run", "")]
    comment = next(s for s in steps if s.get("run", "").startswith("gh pr comment"))
    assert "callprofile-diff.md" in comment["run"]
    env = {
        **os.environ,
        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"],
        "BASE_REF": "main",
        "RUNNER_TEMP": str(tmp_path),
    }
    done = subprocess.run(
        ["bash", "-e", "-c", step["run"]], cwd=repo.root, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    md = (repo.root / "callprofile-diff.md").read_text()
    assert md.startswith("### callprofile plan: `example` (2 rows)")
    assert "| call | 2 |" in md and "+13125550111" not in md
    assert md.endswith("plan of campaigns/nosuch.csv failed: see the job log\n")
