"""Every `console` example in README.md, CONTRIBUTING.md and docs/ runs and prints what it shows.

Each block is one test case, named after its file and line. It runs in a fresh directory holding a
copy of the example profiles/, with a clean environment and `callprofile` being this environment's
installed entry point. The format is in tests/helpers/docs_examples.py and CONTRIBUTING.md.
"""

from __future__ import annotations

import pytest

from tests.helpers.docs_examples import Example, crash_logs, examples_in, mismatch, run_example
from tests.helpers.env import EXAMPLE_PROFILES, ROOT

DOCS = sorted(
    [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *(ROOT / "docs").rglob("*.md")],
    key=lambda p: p.relative_to(ROOT).as_posix(),
)
EXAMPLES = [example for path in DOCS if path.exists() for example in examples_in(path, ROOT)]


@pytest.mark.parametrize("example", [pytest.param(e, id=e.name) for e in EXAMPLES])
def test_example(example: Example, tmp_path):
    for outcome in run_example(example, tmp_path, EXAMPLE_PROFILES):
        problem = mismatch(example, outcome)
        assert problem is None, problem
    # Exit 3 (a crash log) is a bug even where a pipe hid the exit code.
    assert crash_logs(tmp_path) == []
