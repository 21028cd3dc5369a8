"""The repository's own text: a merge that left conflict markers behind must not land (one did,
inside a docstring, where neither ruff nor the suite would notice)."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.env import ROOT

CHECKED = ("runner", "tests", "docs", "benchmarks", "schemas", "profiles", ".ci")
TOP_FILES = ("README.md", "CONTRIBUTING.md", "pyproject.toml")
MARKERS = ("<<<<<<< ", ">>>>>>> ", "||||||| ")


def _text_files() -> list[Path]:
    found = [ROOT / name for name in TOP_FILES if (ROOT / name).is_file()]
    for folder in CHECKED:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and ".work" not in path.parts:
                found.append(path)
    return found


def test_no_file_holds_merge_conflict_markers() -> None:
    offenders = []
    for path in _text_files():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            if line.startswith(MARKERS) or line == "=======":
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line[:40]}")
    assert offenders == []


def test_the_check_sees_the_files_it_names() -> None:
    names = {path.relative_to(ROOT).as_posix() for path in _text_files()}
    assert "runner/cli/main.py" in names
    assert "benchmarks/run.py" in names
    assert "README.md" in names
