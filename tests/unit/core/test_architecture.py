"""The shape of the package, checked over its own source (docs/architecture.md): imports go one
way (no cycles, counting imports made inside functions), modules stay small, click stays in
runner/cli, and importing the library does not import click."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.helpers.env import ROOT

PACKAGE = ROOT / "runner"
MAX_LINES = 400
# "About 400": a module may run this far over while a split is pending; past it, the test fails.
TOLERANCE = 20
# Modules allowed past MAX_LINES + TOLERANCE for now, each with the reason and the way out
# (none today).
OVERSIZE: dict[str, str] = {}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(name: str) -> set[str]:
    """The runner modules ``name`` imports, at module level or inside functions (a lazy import
    is still a dependency), except those only for type checking."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def add(target: str) -> None:
        if target in MODULES:
            found.add(target)
        elif target.rpartition(".")[0] in MODULES:
            found.add(target.rpartition(".")[0])

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking_only(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                add(f"{base}.{alias.name}")  # a submodule, else the module itself
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    found.discard(name)
    return found


GRAPH = {name: imports_of(name) for name in MODULES}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_import_graph_is_read():
    assert "runner.flow.compose" in GRAPH["runner.batch.engine"]
    assert "runner.codes" in GRAPH["runner.profiles.source"]
    # A lazy import inside a function counts; a TYPE_CHECKING one does not.
    assert "runner.flow.request" in GRAPH["runner.flow.compose"]
    assert "runner.flow.compose" not in GRAPH["runner.flow.request"]


def test_no_import_cycles():
    assert cycles(GRAPH) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_is_much_over_400_lines():
    long = {}
    for path in MODULES.values():
        lines = len(path.read_text(encoding="utf-8").splitlines())
        rel = str(path.relative_to(ROOT))
        if lines > MAX_LINES + TOLERANCE and rel not in OVERSIZE:
            long[rel] = lines
    assert long == {}


def test_the_oversize_list_names_only_modules_that_still_need_it():
    for rel in OVERSIZE:
        path = ROOT / rel
        if path.exists():
            assert len(path.read_text(encoding="utf-8").splitlines()) > MAX_LINES + TOLERANCE


def test_click_is_imported_only_under_runner_cli():
    outside = []
    for name, path in MODULES.items():
        if name.startswith("runner.cli"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            if any(n == "click" or n.startswith("click.") for n in names):
                outside.append(f"{name}:{node.lineno}")
    assert outside == []


def test_commands_do_not_import_the_root_group():
    for name in MODULES:
        if name.startswith("runner.cli.cmd_"):
            assert "runner.cli.main" not in GRAPH[name], name


def test_the_core_does_not_import_the_command_line():
    for name, deps in GRAPH.items():
        if name.startswith("runner.cli") or name in ("runner.__main__",):
            continue
        assert not {d for d in deps if d.startswith("runner.cli")}, name


def test_importing_the_package_imports_no_click():
    code = "import runner, sys; assert 'click' not in sys.modules, 'click imported'"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
