"""``callprofile batch`` as a subprocess (``python -m runner``) against a sandbox, with its
stderr read line by line so a test can wait for a line instead of sleeping."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from tests.helpers.batch_server import LoggedSandbox
from tests.helpers.env import API_KEY, ROOT, assert_no_secrets

WAIT = 60  # seconds: only a bound for a hung test, never a pause


class Batch:
    """One ``callprofile batch`` process, its stderr read line by line."""

    def __init__(
        self,
        tmp_path: Path,
        server: LoggedSandbox,
        *args: str,
        hook: str = "",
        ledger: str | None = None,
    ):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TELNYX_", "CALLPROFILE"))}
        env.update(TELNYX_API_KEY=API_KEY, TELNYX_BASE_URL=server.base_url, NO_COLOR="1")
        env["PYTHONPATH"] = str(ROOT)
        if hook:
            env["CALLPROFILE_TEST_KILL_AFTER"] = hook
        argv = [sys.executable, "-m", "runner", "--profiles-dir", str(tmp_path / "profiles")]
        argv += ["batch", "remind", "--contacts", "c.csv", "--rate", "1000", *args]
        if ledger is not None:
            argv += ["--ledger", ledger]
        self.proc = subprocess.Popen(
            argv,
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stderr: list[str] = []
        self.stdout = ""
        self.stopping = threading.Event()
        self._seen = threading.Condition()
        self._ended = False
        self._readers = [
            threading.Thread(target=self._read_err, daemon=True),
            threading.Thread(target=self._read_out, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read_err(self) -> None:
        for line in self.proc.stderr:
            with self._seen:
                self.stderr.append(line)
                self._seen.notify_all()
            if "stopping" in line:
                self.stopping.set()
        with self._seen:
            self._ended = True
            self._seen.notify_all()

    def wait_for(self, fragment: str) -> bool:
        """Wait until a line of stderr holds ``fragment``; False if the process ended first."""
        with self._seen:
            return self._seen.wait_for(
                lambda: self._ended or any(fragment in line for line in self.stderr), WAIT
            ) and any(fragment in line for line in self.stderr)

    def _read_out(self) -> None:
        self.stdout = self.proc.stdout.read()

    def wait(self) -> int:
        code = self.proc.wait(WAIT)
        for reader in self._readers:
            reader.join(WAIT)
        assert_no_secrets(self.err + self.stdout)
        return code

    @property
    def err(self) -> str:
        return "".join(self.stderr)
