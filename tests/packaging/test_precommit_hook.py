"""The pre-commit hook this repository publishes runs validate on another repository.

pre-commit installs this project into an environment of its own (about half a minute), so this
is a single test, marked slow (``pytest -q -m "not slow"`` leaves it out of the quick loop).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.env import ROOT
from tests.helpers.gitrepo import make_repo


@pytest.mark.slow
@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="needs this project's git repository")
def test_pre_commit_try_repo_runs_validate(tmp_path, monkeypatch):
    pre_commit = Path(sys.executable).with_name("pre-commit")
    if not pre_commit.exists():
        found = shutil.which("pre-commit")
        if found is None:
            pytest.skip("pre-commit is not installed (pip install -e '.[test]')")
        pre_commit = Path(found)
    repo = make_repo(tmp_path, monkeypatch, name="other")
    repo.write("profiles/ok.yaml", "abstract: true\ncall:\n  Timeout: 20\n")
    repo.write("profiles/user.yaml", "extends: ok\ncall:\n  Timeout: soon\n")
    repo.write("notes/ignored.yaml", "not: [a profile\n")
    repo.commit("profiles")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}
    env.pop("PRE_COMMIT", None)
    done = subprocess.run(
        [str(pre_commit), "try-repo", str(ROOT), "callprofile-validate", "--all-files"],
        cwd=repo.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "callprofile validate" in done.stdout
    assert "Failed" in done.stdout
    assert "profiles/user.yaml:3:12: error: expected an integer, got string 'soon' [CP101]" in (
        done.stdout
    )
    assert "notes/ignored.yaml" not in done.stdout
