"""The command surface: ``python -m runner``, ``list``, ``schema``, ``validate``, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from runner.schema import files as schemas
from runner.schema import profile as profile_schema
from tests.helpers.core import BASE, failed, make_profiles
from tests.helpers.env import ROOT


def test_python_dash_m_runner_is_the_cli(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "runner", "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: callprofile [OPTIONS] COMMAND [ARGS]...")
    for command in ("list", "render", "run", "schema", "validate"):
        assert f"\n  {command} " in result.stdout


def test_version(cli):
    from runner import __version__

    result = cli("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"callprofile, version {__version__}"


def test_unknown_command_and_flag_are_usage_errors(cli, tmp_path):
    assert cli("nope").exit_code == 2
    tree = make_profiles(tmp_path / "profiles", {"p": BASE})
    assert cli("render", "p", "--no-such-flag", profiles_dir=tree).exit_code == 2
    assert cli("render", profiles_dir=tree).exit_code == 2


def _tree(tmp_path):
    return make_profiles(
        tmp_path / "profiles",
        {
            "base/defaults": "description: Shared defaults\nabstract: true\ncall:\n  Timeout: 20\n",
            "team/reminder": "description: Remind someone\nextends: base/defaults\n" + BASE,
            "bare": BASE,
            "broken": "call: [\n",
        },
    )


def test_list_text_marks_abstract_and_broken_profiles(cli, tmp_path):
    result = cli("list", profiles_dir=_tree(tmp_path))
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "bare",
        "base/defaults  Shared defaults (abstract)",
        "broken         (invalid: run 'callprofile validate')",
        "team/reminder  Remind someone",
    ]


def test_list_json(cli, tmp_path):
    result = cli("list", "-o", "json", profiles_dir=_tree(tmp_path))
    assert result.exit_code == 0
    entries = {e["name"]: e for e in json.loads(result.stdout)["profiles"]}
    assert list(entries) == ["bare", "base/defaults", "broken", "team/reminder"]
    assert entries["base/defaults"]["abstract"] is True
    assert entries["team/reminder"] == {
        "name": "team/reminder",
        "description": "Remind someone",
        "abstract": False,
        "extends": ["base/defaults"],
        "file": "profiles/team/reminder.yaml",
    }
    assert entries["broken"]["error"].startswith("profiles/broken.yaml:2:1: error: YAML syntax")


def test_list_of_an_empty_directory(cli, tmp_path):
    (tmp_path / "empty").mkdir()
    result = cli("list", profiles_dir=tmp_path / "empty")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "no profiles in" in result.stderr
    empty = json.loads(cli("list", "-o", "json", profiles_dir=tmp_path / "empty").stdout)
    assert empty["profiles"] == []


def test_schema_request_is_the_committed_file(cli):
    result = cli("schema", "request")
    assert result.stdout == (ROOT / "schemas/ai-call-request.schema.json").read_text("utf-8")
    assert cli("schema").stdout == result.stdout  # request is the default


def test_schema_profile_is_committed_and_derived_from_the_request_schema(cli):
    """The committed profile schema is exactly what profile_schema.build() derives, so the two
    schemas cannot drift apart. After changing the request schema, regenerate with:
    python -c "import json,runner.schema.profile as p,runner.schema.files as s;
    print(json.dumps(p.build(s.request_schema()), indent=2))" > schemas/profile.schema.json"""
    printed = cli("schema", "profile").stdout
    committed = (ROOT / "schemas/profile.schema.json").read_text("utf-8")
    assert printed == committed
    assert json.loads(committed) == profile_schema.build(schemas.request_schema())


def test_request_schema_shape():
    request = schemas.request_schema()
    assert request["required"] == ["From", "To", "AIAssistantId"]
    fields = schemas.request_fields()
    assert len(fields) == 41
    assert {"Twiml", "Texml", "Url"}.isdisjoint(fields)
    for name in fields:
        assert request["properties"][name].get("description"), name
    assert schemas.is_sensitive(("SipAuthPassword",))


def test_validate_named_file_outside_the_directory(cli, tmp_path):
    tree = make_profiles(tmp_path / "profiles", {"p": BASE})
    elsewhere = make_profiles(tmp_path / "elsewhere", {"x": "call:\n  Timeout: 1\n"})
    err = failed(cli, tree, "validate", str(elsewhere / "x.yaml"))
    assert "elsewhere/x.yaml:2:12: error: 1 is out of range" in err


def test_validate_warns_about_required_variables_without_example(cli, tmp_path):
    tree = make_profiles(
        tmp_path / "profiles",
        {
            "p": "variables:\n  who: {required: true}\n"
            + BASE
            + "  AIAssistantDynamicVariables: {who: '{{ who }}'}\n"
        },
    )
    result = cli("validate", profiles_dir=tree)
    assert result.exit_code == 0  # a warning is not an error
    assert "profiles/p.yaml:2:3: warning: required variable 'who' has no example" in result.stdout
    assert "1 profile(s) checked: 0 error(s), 1 warning(s)" in result.stderr


def test_internal_error_is_one_line_and_a_log(cli, tmp_path, monkeypatch):
    tree = make_profiles(tmp_path / "profiles", {"p": BASE})

    def boom(*args, **kwargs):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr("runner.flow.compose.compose", boom)
    result = cli("render", "p", profiles_dir=tree)
    assert result.exit_code == 3
    assert result.stderr.startswith("callprofile: internal error (RuntimeError); this is a bug.")
    log = Path(result.stderr.strip().rsplit("Details: ", 1)[1])
    assert log.is_relative_to(tmp_path / "state")  # XDG_STATE_HOME, set by conftest
    assert "RuntimeError: simulated bug" in log.read_text("utf-8")
