"""The workflow `init` writes works as written (issue 9, item 4).

callprofile is installed from the locally built wheel into one fresh venv (like a user's
machine); its `init` writes the workflow and the requirements file it installs from. Then, in a
second fresh venv standing in for the CI runner, the workflow's own `run:` lines are executed
with bash: the install step (pip, from the line init wrote), the validate step and the diff step.
Only the pull-request comment (`gh`) is left out.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import venv
from pathlib import Path

import pytest
import yaml

from tests.helpers.gitrepo import make_repo
from tests.helpers.packaging import clean_env, run

pytestmark = [pytest.mark.slow, pytest.mark.skipif(os.name == "nt", reason="bash steps")]


def fresh_venv(path: Path) -> Path:
    """A venv without pip (fast to create); returns its bin directory."""
    venv.EnvBuilder(with_pip=False).create(path)
    return path / "bin"


def pip_shim(directory: Path, python: Path) -> None:
    """``pip`` on PATH, installing into ``python``'s venv (GitHub's setup-python has one)."""
    directory.mkdir(parents=True, exist_ok=True)
    shim = directory / "pip"
    shim.write_text(
        f'#!/bin/sh\nexec "{sys.executable}" -m pip --python "{python}" "$@"\n', encoding="utf-8"
    )
    shim.chmod(shim.stat().st_mode | stat.S_IEXEC)


def test_the_generated_workflow_installs_validates_and_diffs(tmp_path, monkeypatch, built_wheel):
    env = clean_env()
    pip = [sys.executable, "-m", "pip"]

    # The user's machine: callprofile from the wheel; init writes the repository.
    user_bin = fresh_venv(tmp_path / "user-venv")
    done = run(
        [*pip, "--python", str(user_bin / "python"), "install", "-q", str(built_wheel)],
        tmp_path,
        env,
    )
    assert done.returncode == 0, done.stderr
    repo = make_repo(tmp_path, monkeypatch, name="profiles-repo")
    init = run([str(user_bin / "callprofile"), "init"], repo.root, env)
    assert init.returncode == 0, init.stderr
    requirements = (repo.root / ".github/callprofile-requirements.txt").read_text("utf-8")
    line = requirements.strip().splitlines()[-1]
    # Named the way it was installed: the wheel file, never a version no index has.
    assert line == f"callprofile @ {built_wheel.as_uri()}", requirements
    assert "CI cannot reach" in init.stderr  # a local file: init says to point it elsewhere
    repo.commit("scaffold")
    repo.git("update-ref", "refs/remotes/origin/main", "HEAD")  # what checkout's fetch gives
    repo.write("profiles/base/defaults.yaml", repo.root.joinpath("profiles/base/defaults.yaml")
               .read_text("utf-8").replace("Timeout: 25", "Timeout: 30"))  # fmt: skip

    # The CI runner: a fresh venv with pip on PATH; the workflow's steps, as written.
    workflow = yaml.safe_load((repo.root / ".github/workflows/callprofile.yml").read_text())
    steps = {s.get("name"): s for s in workflow["jobs"]["review"]["steps"]}
    runner_bin = fresh_venv(tmp_path / "ci-venv")
    pip_shim(tmp_path / "ci-shims", runner_bin / "python")
    ci = {
        **env,
        "PATH": os.pathsep.join([str(tmp_path / "ci-shims"), str(runner_bin), env["PATH"]]),
        "GITHUB_ACTIONS": "true",
    }

    def step(name: str) -> subprocess.CompletedProcess[str]:
        spec = steps[name]
        extra = {k: v for k, v in (spec.get("env") or {}).items() if "${{" not in str(v)}
        extra.update({"BASE_REF": "main"} if "BASE_REF" in (spec.get("env") or {}) else {})
        return run(["bash", "-e", "-c", spec["run"]], repo.root, {**ci, **extra})

    install = step("Install callprofile")
    assert install.returncode == 0, install.stdout + install.stderr
    assert (runner_bin / "callprofile").exists()
    check = step("Validate")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "2 profile(s) checked: 0 error(s), 0 warning(s)" in check.stderr
    diff = step("Diff against the base branch")
    assert diff.returncode == 0, diff.stdout + diff.stderr
    comment = (repo.root / "callprofile-diff.md").read_text("utf-8")
    assert comment.startswith("<!-- callprofile-diff -->")
    assert "| ~ | `Timeout` | `25` | `30` |" in comment
