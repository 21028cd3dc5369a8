"""The library API (runner/__init__.py): what a Python user imports, in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import runner
from tests.helpers.env import ROOT

# Compose once, render three calls, send them to the sandbox, and check that neither composing
# nor rendering imported click (the command line's library).
THREE_CALLS = """\
import sys
from runner import Sandbox, compose, submit
composed = compose("profiles", "appointment-reminder")
calls = [("+13125550101", "Ada"), ("+13125550102", "Grace"), ("+13125550103", "Linus")]
given = {"appointment_time": "noon"}
requests = [composed.request(to=to, variables={**given, "customer_name": n}) for to, n in calls]
assert "click" not in sys.modules, "composing and rendering imported click"
with Sandbox() as sandbox:
    for request in requests:
        result = submit(request, base_url=sandbox.base_url, api_key="KEY-local-only")
        print(result.status, request.body["To"], result.call_sid is not None)
    print(sandbox.post_count)
"""


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_three_calls_in_under_15_lines_without_click():
    assert len(THREE_CALLS.strip().splitlines()) < 15
    done = run_python(THREE_CALLS)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "placed +13125550101 True",
        "placed +13125550102 True",
        "placed +13125550103 True",
        "3",
    ]


def test_the_example_in_the_package_docstring_runs():
    doc = runner.__doc__ or ""
    after = doc.split("::\n", 1)[1].splitlines()
    lines = []
    for line in after:
        if line and not line.startswith("    "):
            break
        lines.append(line)
    example = textwrap.dedent("\n".join(lines))
    assert "compose(" in example and "submit(" in example
    done = run_python(example)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["placed", "placed"]


def test_every_exported_name_resolves_lazily():
    code = (
        "import sys, runner\n"
        "loaded = set(sys.modules)\n"
        "assert not any(m.startswith('runner.') for m in loaded), sorted(loaded)\n"
        "for name in runner.__all__:\n"
        "    assert getattr(runner, name) is not None, name\n"
        "assert 'click' not in sys.modules\n"
        "print(' '.join(sorted(runner.__all__)))\n"
    )
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == sorted(runner.__all__)
    for name in ("Store", "compose", "Composed", "Overrides", "Request", "ProfileError"):
        assert name in runner.__all__
    for name in ("Diagnostic", "submit", "Sandbox"):
        assert name in runner.__all__


def test_an_unknown_name_is_an_attribute_error():
    try:
        runner.does_not_exist  # noqa: B018
    except AttributeError as exc:
        assert "does_not_exist" in str(exc)
    else:
        raise AssertionError("no AttributeError")
