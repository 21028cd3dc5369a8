"""The README's Quick start works as written, CI runs the README's test command, and every
relative link and #anchor in the docs leads somewhere."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers.docs_examples import (
    Example,
    Step,
    crash_logs,
    fenced_blocks,
    mismatch,
    run_example,
)
from tests.helpers.env import EXAMPLE_PROFILES, ROOT

DOCS = sorted(
    [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *(ROOT / "docs").rglob("*.md")],
    key=lambda p: p.relative_to(ROOT).as_posix(),
)
INSTALL_AND_RUN = "python3 -m venv .venv && . .venv/bin/activate && pip install . && "
INSTALL_AND_TEST = "python3 -m venv .venv && . .venv/bin/activate && "


def quick_start() -> list[tuple[int, str, list[str]]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Quick start") :]
    offset = text[: text.index("## Quick start")].count("\n")
    return [(line + offset, info, body) for line, info, body in fenced_blocks(section)]


def test_quick_start_call_runs_against_the_sandbox_as_shown(tmp_path):
    """The first Quick start command, after its install step, prints the output shown below it
    (the install itself is what .ci/run and the wheel test cover)."""
    blocks = quick_start()
    (i, (line, _, body)) = next(
        (i, b) for i, b in enumerate(blocks) if b[2] and b[2][0].startswith(INSTALL_AND_RUN)
    )
    command = body[0][len(INSTALL_AND_RUN) :]
    assert command.startswith("callprofile run appointment-reminder --sandbox ")
    shown = blocks[i + 1]
    assert shown[1] == "text"
    example = Example("README.md", line, [Step(command, line + 1, shown[2])])
    (outcome,) = run_example(example, tmp_path, EXAMPLE_PROFILES)
    assert mismatch(example, outcome) is None, mismatch(example, outcome)
    assert crash_logs(tmp_path) == []


def test_ci_runs_the_quick_start_test_command():
    commands = [
        body[0]
        for _, info, body in quick_start()
        if info == "sh" and body and body[0].startswith(INSTALL_AND_TEST) and "pytest" in body[0]
    ]
    assert len(commands) == 1, commands
    test_command = commands[0][len(INSTALL_AND_TEST) :]
    assert test_command == "pip install -e '.[test]' && pytest -q"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert test_command in ci


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _outside_code(text: str) -> tuple[str, list[str]]:
    """The text with fenced blocks blanked out (lines kept), and the headings outside them."""
    kept, headings, fence = [], [], None
    for line in text.splitlines():
        stripped = line.lstrip()
        if fence is None and re.match(r"(`{3,}|~{3,})", stripped):
            fence = re.match(r"(`{3,}|~{3,})", stripped).group(1)
            kept.append("")
            continue
        if fence is not None:
            if stripped.startswith(fence) and not stripped[len(fence) :].strip(fence[0]).strip():
                fence = None
            kept.append("")
            continue
        if re.match(r"#{1,6} ", line):
            headings.append(line.lstrip("#").strip())
        kept.append(re.sub(r"`[^`]*`", "", line))
    return "\n".join(kept), headings


def _anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for heading in _outside_code(path.read_text(encoding="utf-8"))[1]:
        slug = _slug(heading)
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        found.add(slug if n == 0 else f"{slug}-{n}")
    return found


@pytest.mark.parametrize("page", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_and_anchor_exists(page: Path):
    text, _ = _outside_code(page.read_text(encoding="utf-8"))
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:
        file_part, _, anchor = target.partition("#")
        linked = (page.parent / file_part).resolve() if file_part else page
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
            broken.append(f"{target}: no heading with that anchor")
    assert broken == []


def test_the_docs_are_all_reachable_from_the_index():
    index = (ROOT / "docs" / "README.md").read_text(encoding="utf-8")
    linked = {(ROOT / "docs" / t).resolve() for t in re.findall(r"\]\(([^)#\s]+)", index)}
    pages = {p.resolve() for p in (ROOT / "docs").rglob("*.md")} - {ROOT / "docs" / "README.md"}
    assert sorted(str(p.relative_to(ROOT)) for p in pages - linked) == []


@pytest.mark.parametrize("page", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_module_and_file_the_docs_name_exists(page: Path):
    """`runner/batch/ledger/base.py`, `tests/unit/...`, `benchmarks/run.py`: the architecture and
    the guides name the module that owns each rule, so a move must update them."""
    text = page.read_text(encoding="utf-8")
    # Modules and packages only: files a run generates (benchmarks/results.json) are not here.
    named = set(re.findall(r"`((?:runner|tests|benchmarks)/[\w/-]*(?:\.py|/)?)`", text))
    missing = sorted(p for p in named if not (ROOT / p.rstrip("/")).exists())
    assert missing == []
