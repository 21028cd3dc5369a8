"""Run callprofile in a fresh process and read its peak memory from the operating system."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers.env import ROOT

# A wrapper process runs the command and reads the child's peak RSS with getrusage: measuring
# from the test process itself would count pytest's own memory.
_WRAPPER = (
    "import resource, subprocess, sys\n"
    "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
    "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    "sys.stdout.write(done.stdout + done.stderr)\n"
)


def peak_of(
    cwd: Path, profiles: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> tuple[int, int, str]:
    """Exit code, peak RSS (KiB on Linux) and output of ``callprofile --profiles-dir PROFILES
    ARGS``, with the caller's TELNYX_* and CALLPROFILE_* variables removed and ``env`` added."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TELNYX_", "CALLPROFILE_"))}
    clean.update(PYTHONPATH=str(ROOT), **(env or {}))
    command = [sys.executable, "-c", _WRAPPER, sys.executable, "-m", "runner"]
    done = subprocess.run(
        [*command, "--profiles-dir", str(profiles), *args],
        cwd=cwd,
        env=clean,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    head, _, output = done.stdout.partition("\n")
    code, peak = (int(x) for x in head.split())
    return code, peak, output
