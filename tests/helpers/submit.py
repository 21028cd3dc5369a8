"""Helpers for the submission tests: a test profile, a sandbox fixture, subprocess runs that are
scanned for secrets, and a recorder that replaces the CLI's retry wait."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.env import API_KEY, assert_no_secrets
from tests.helpers.submit_data import PROFILE


@pytest.fixture
def profile_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """profiles/reminder.yaml holding the test SIP password; TELNYX_API_KEY is the test key."""
    root = tmp_path / "profiles"
    root.mkdir()
    (root / "reminder.yaml").write_text(PROFILE, encoding="utf-8")
    monkeypatch.setenv("TELNYX_API_KEY", API_KEY)
    return root


@pytest.fixture
def sandboxes() -> Iterator[list]:
    """Sandboxes appended here are stopped at teardown (which releases any stalled request)."""
    started: list = []
    yield started
    for sandbox in started:
        sandbox.stop()


@pytest.fixture
def sandbox(sandboxes: list):
    """sandbox(*steps, **options) -> a started Sandbox, stopped at teardown."""
    from runner.sandbox import Sandbox

    def start(*steps: object, **options: object) -> Sandbox:
        server = Sandbox(script=steps, **options).start()  # type: ignore[arg-type]
        sandboxes.append(server)
        return server

    return start


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Replaces the CLI's retry wait (runner.cli.cmd_run.wait); records each requested delay."""
    from runner.cli import cmd_run

    recorded: list[float] = []
    monkeypatch.setattr(cmd_run, "wait", recorded.append)
    return recorded


@pytest.fixture
def run_subprocess():
    """run_subprocess(*args, cwd=..., env=...) runs ``python -m runner`` in a clean
    environment; its output is checked for the test secrets."""
    return _run_subprocess


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TELNYX_", "CALLPROFILE_")) and k != "GITHUB_ACTIONS"
    }
    env.update(extra or {})
    return env


def _run_subprocess(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "runner", *args],
        cwd=cwd,
        env=clean_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert_no_secrets(done.stdout + done.stderr)
    return done
