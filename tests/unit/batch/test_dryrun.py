"""A batch composes its profile once (runner.flow.compose): each values file (-f) and vars file
is read and checked once per batch, whatever the number of rows, and every row renders from it.

The files are named pipes that serve their text to one reader and then disappear: a second read
of either finds no file, and the rows would come out invalid."""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path

import pytest

from tests.helpers.batch import many, write_contacts, write_profile

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="named pipes")
ROWS = 50


class OneShotPipe:
    """A named pipe that gives ``text`` to the first reader and is then removed."""

    def __init__(self, path: Path, text: str):
        self.path = path
        self.served = 0
        os.mkfifo(path)
        self._thread = threading.Thread(target=self._serve, args=(text,), daemon=True)
        self._thread.start()

    def _serve(self, text: str) -> None:
        fd = os.open(self.path, os.O_WRONLY)  # returns once a reader has opened the pipe
        try:
            os.unlink(self.path)  # nobody can open it a second time
            os.write(fd, text.encode("utf-8"))
            self.served += 1
        finally:
            os.close(fd)

    def close(self) -> None:
        if self.path.exists():  # never read: let the writer's open return
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
            self._thread.join(10)
            os.close(fd)
        self._thread.join(10)


def test_a_dry_run_reads_each_values_and_vars_file_once(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    profiles = write_profile(tmp_path)
    contacts = write_contacts(tmp_path / "c.csv", many(ROWS))
    values = OneShotPipe(tmp_path / "values.yaml", "call:\n  Timeout: 33\n")
    variables = OneShotPipe(tmp_path / "vars.yaml", "note: from the vars file\n")
    try:
        result = cli(
            "batch", "remind", "--contacts", str(contacts), "--dry-run",
            "-f", str(values.path), "--vars-file", str(variables.path),
            profiles_dir=profiles,
        )  # fmt: skip
    finally:
        values.close()
        variables.close()
    assert result.exit_code == 0, result.stderr
    assert (values.served, variables.served) == (1, 1)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == ROWS
    assert {line["body"]["Timeout"] for line in lines} == {33}
    notes = {line["body"]["AIAssistantDynamicVariables"]["note"] for line in lines}
    assert notes == {"from the vars file"}
    assert f"dry run: {ROWS} rows: {ROWS} would be sent" in result.stderr


def test_the_pipe_really_is_gone_after_one_read(tmp_path):
    """The check above means something: a second read of a served pipe fails."""
    pipe = OneShotPipe(tmp_path / "values.yaml", "call: {}\n")
    try:
        assert Path(pipe.path).read_text(encoding="utf-8") == "call: {}\n"
    finally:
        pipe.close()
    assert pipe.served == 1
    with pytest.raises(FileNotFoundError):
        Path(pipe.path).read_text(encoding="utf-8")
