"""The diagnostic code registry (runner/codes.py): one definition per code, every code used is
registered, every registered code is used and documented."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from runner import codes
from runner.review.lint import RULES

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "runner"
DOCS = ROOT / "docs" / "reference" / "diagnostics.md"
LITERAL = re.compile(r"^CP\d{3}$")


def sources() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p != PACKAGE / "codes.py")


def used_names() -> dict[str, list[str]]:
    """``codes.NAME`` references in the package, with where each appears."""
    found: dict[str, list[str]] = {}
    for path in sources():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "codes"
            ):
                found.setdefault(node.attr, []).append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_no_module_spells_a_code_as_a_literal():
    literals = []
    for path in sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            literal = isinstance(node, ast.Constant) and isinstance(node.value, str)
            if literal and LITERAL.match(node.value):
                literals.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value}")
    assert literals == []


def test_every_code_used_is_registered():
    missing = {name: where for name, where in used_names().items() if not hasattr(codes, name)}
    assert missing == {}


def test_every_registered_code_is_used():
    constants = {
        name: value
        for name, value in vars(codes).items()
        if name.isupper() and isinstance(value, str) and LITERAL.match(value)
    }
    assert sorted(constants.values()) == sorted(codes.REGISTRY)
    unused = sorted(set(constants) - set(used_names()))
    assert unused == []


def test_a_code_cannot_be_registered_twice():
    with pytest.raises(ValueError, match="CP203 is registered twice"):
        codes.register("CP203", "error", "again")
    assert codes.REGISTRY["CP203"].meaning == "a required variable was not given"


def test_lint_rules_agree_with_the_registry():
    for rule in RULES:
        assert rule.severity == codes.severity(rule.code), rule.code


def test_the_markdown_table_lists_every_code_once_in_order():
    table = codes.markdown_table()
    rows = [line for line in table.splitlines() if line.startswith("| CP")]
    assert [row.split("|")[1].strip() for row in rows] == sorted(codes.REGISTRY)
    assert "| CP207 | warning | a required variable has no `example`" in table


@pytest.mark.skipif(not DOCS.exists(), reason="docs/reference/diagnostics.md not written yet")
def test_the_docs_table_is_the_registry():
    assert codes.markdown_table() in DOCS.read_text(encoding="utf-8")
