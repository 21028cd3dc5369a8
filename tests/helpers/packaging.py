"""Running things in fresh virtual environments (the packaging tests)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def clean_env() -> dict[str, str]:
    """The environment without this checkout's venv or settings leaking into a fresh one."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.pop("VIRTUAL_ENV", None)
    env.pop("CALLPROFILE_DIR", None)
    return env


def run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )
