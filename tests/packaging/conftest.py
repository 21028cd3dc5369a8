"""The wheel, built once per test session for the tests that install it into fresh venvs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.helpers.env import ROOT
from tests.helpers.packaging import clean_env, run


@pytest.fixture(scope="session")
def built_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    done = run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)],
        dist,
        clean_env(),
    )
    assert done.returncode == 0, done.stderr
    (wheel,) = dist.glob("callprofile-*.whl")
    return wheel
