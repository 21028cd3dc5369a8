"""The wheel is complete: installed (not editable) into a fresh virtual environment, callprofile
finds its schemas and runs (issue 2, "Layout and packaging").

This is one of the slowest tests (a wheel build and a pip install, about 10-15 s). It runs by
default and in CI; deselect it locally with ``-m "not slow"`` (or ``-m "not wheel"``).
"""

from __future__ import annotations

import json
import os
import sys
import venv
from pathlib import Path

import pytest

from tests.helpers.env import EXAMPLE_PROFILES, ROOT
from tests.helpers.packaging import clean_env, run

pytestmark = [pytest.mark.wheel, pytest.mark.slow]
_run = run


def test_wheel_installs_and_runs_with_its_schemas(tmp_path, built_wheel):
    env = clean_env()
    pip = [sys.executable, "-m", "pip"]
    wheel = built_wheel

    # A fresh environment without pip (fast); this interpreter's pip installs into it, and
    # resolves the dependencies from the configured index, so a missing one fails here.
    target = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(target)
    python = target / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    installed = _run([*pip, "--python", str(python), "install", "-q", str(wheel)], tmp_path, env)
    assert installed.returncode == 0, installed.stderr
    bin_dir = python.parent
    callprofile = str(bin_dir / "callprofile")

    # The installed package, not this checkout, is what runs; its schemas live inside it.
    where = _run(
        [
            str(python),
            "-c",
            "import runner.schema.files as s; print(s.__file__); print(s.schemas_dir())",
        ],
        tmp_path,
        env,
    )
    assert where.returncode == 0, where.stderr
    module_file, schemas_dir = where.stdout.split()
    assert Path(module_file).is_relative_to(target)
    assert Path(schemas_dir) == Path(module_file).parent.parent / "_schemas"

    schema = _run([callprofile, "schema", "request"], tmp_path, env)
    assert schema.returncode == 0, schema.stderr
    assert schema.stdout == (ROOT / "schemas/ai-call-request.schema.json").read_text("utf-8")
    profile_schema = _run([callprofile, "schema", "profile"], tmp_path, env)
    assert json.loads(profile_schema.stdout)["title"] == "callprofile profile"

    render = _run(
        [
            callprofile,
            "--profiles-dir",
            str(EXAMPLE_PROFILES),
            "render",
            "appointment-reminder",
            "--to",
            "+13125550123",
            "--var",
            "customer_name=Ada",
            "--var",
            "appointment_time=Tuesday 3 PM",
            "-o",
            "json",
        ],
        tmp_path,
        env,
    )
    assert render.returncode == 0, render.stderr
    body = json.loads(render.stdout)["call"]
    assert body["AIAssistantDynamicVariables"]["customer_name"] == "Ada"
    assert body["To"] == "+13125550123"

    module = _run([str(python), "-m", "runner", "--help"], tmp_path, env)
    assert module.returncode == 0, module.stderr
    assert module.stdout.startswith("Usage: callprofile ")
