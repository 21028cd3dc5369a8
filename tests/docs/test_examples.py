"""Every `console` example in README.md, CONTRIBUTING.md and docs/ runs and prints what it shows.

Each block is one test case, named after its file and line. It runs in a fresh directory holding a
copy of the example profiles/, with a clean environment and `callprofile` being this environment's
installed entry point. The format is in tests/helpers/docs_examples.py and CONTRIBUTING.md.

The selected examples run a few at a time (each in its own shell, directory and process group):
most of an example's time is spent waiting on processes starting and sandboxes stopping, so this
keeps the docs test a small part of the suite. Each test case then judges its own example.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.helpers.docs_examples import (
    Example,
    Outcome,
    crash_logs,
    examples_in,
    mismatch,
    run_example,
)
from tests.helpers.env import EXAMPLE_PROFILES, ROOT

DOCS = sorted(
    [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *(ROOT / "docs").rglob("*.md")],
    key=lambda p: p.relative_to(ROOT).as_posix(),
)
EXAMPLES = [example for path in DOCS if path.exists() for example in examples_in(path, ROOT)]
AT_ONCE = 4

Ran = tuple[list[Outcome], Path]


@pytest.fixture(scope="module")
def ran(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Future[Ran]]:
    """The examples this session selected, started together; name -> (outcomes, directory)."""
    selected = [
        item.callspec.params["example"]
        for item in request.session.items
        if getattr(item, "originalname", None) == "test_example" and item.module is request.module
    ]

    def run(example: Example, directory: Path) -> Ran:
        return run_example(example, directory, EXAMPLE_PROFILES), directory

    # The directories are made here, in one thread: pytest creates its base directory on the
    # first mktemp, and threads racing to do that made two of them and failed.
    directories = [tmp_path_factory.mktemp("example") for _ in selected]
    pool = ThreadPoolExecutor(max_workers=AT_ONCE)
    futures = {
        example.name: pool.submit(run, example, directory)
        for example, directory in zip(selected, directories, strict=True)
    }
    pool.shutdown(wait=False)
    return futures


@pytest.mark.parametrize("example", [pytest.param(e, id=e.name) for e in EXAMPLES])
def test_example(example: Example, ran: dict[str, Future[Ran]]):
    outcomes, directory = ran[example.name].result()
    for outcome in outcomes:
        problem = mismatch(example, outcome)
        assert problem is None, problem
    # Exit 3 (a crash log) is a bug even where a pipe hid the exit code.
    assert crash_logs(directory) == []
