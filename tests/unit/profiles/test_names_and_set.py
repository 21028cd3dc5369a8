"""Profile names can never reach outside the profiles directory, and ``--set`` values are typed by
the request schema, never by guessing (issue 2, "Profiles" and "Composition and overrides")."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from tests.helpers.core import BASE, failed, make_profiles, rendered
from tests.helpers.env import SIP_PASSWORD

# ---- path traversal --------------------------------------------------------------------------

# Paths opened while a test watches (an audit hook cannot be removed, so it is installed once and
# records only while a list is set).
_opened: list[str] | None = None


def _audit(event: str, args: tuple) -> None:
    if event == "open" and _opened is not None and args and isinstance(args[0], (str, Path)):
        _opened.append(os.fspath(args[0]))


sys.addaudithook(_audit)


@pytest.fixture
def watch_opens():
    global _opened
    _opened = []
    try:
        yield _opened
    finally:
        _opened = None


@pytest.fixture
def outside(tmp_path):
    """A valid profile outside the profiles directory, and the directory itself."""
    make_profiles(tmp_path / "outside", {"secret": BASE})
    tree = make_profiles(tmp_path / "profiles", {"ok": BASE})
    return tree, tmp_path / "outside"


@pytest.mark.parametrize(
    "name",
    [
        "../outside/secret",
        "ok/../../outside/secret",
        "/etc/passwd",
        "ABSOLUTE",
        "Ok",
        "a\\b",
        "..\\outside\\secret",
        "./ok",
        "ok//x",
        "ok/",
        ".hidden",
        "_under",
        "",
    ],
)
def test_unsafe_names_are_refused_before_any_file_is_opened(cli, outside, watch_opens, name):
    tree, out_dir = outside
    err = failed(cli, tree, "render", name)
    assert err.strip() == (
        f"profile name: error: invalid profile name {name!r}: names are lower-case segments of "
        "[a-z0-9._-] joined by '/', relative to the profiles directory (no '..', absolute paths "
        "or backslashes) [CP010]"
    )
    assert not [p for p in watch_opens if str(out_dir) in p or str(tree) in p]


def test_absolute_path_to_a_real_profile_is_refused(cli, outside, watch_opens):
    tree, out_dir = outside
    err = failed(cli, tree, "run", str(out_dir / "secret"), "--dry-run")
    assert "invalid profile name" in err and "[CP010]" in err
    assert not [p for p in watch_opens if str(out_dir) in p]


def test_symlinked_file_resolving_outside_is_refused_unread(cli, outside, watch_opens):
    tree, out_dir = outside
    (tree / "evil.yaml").symlink_to(out_dir / "secret.yaml")
    err = failed(cli, tree, "render", "evil")
    assert err.strip().startswith(
        "profile name: error: profile 'evil' resolves outside the profiles directory"
    )
    assert err.strip().endswith("refused [CP010]")
    assert not [p for p in watch_opens if p.endswith("secret.yaml") or p.endswith("evil.yaml")]


def test_symlinked_directory_resolving_outside_is_refused(cli, outside, watch_opens):
    tree, out_dir = outside
    (tree / "team").symlink_to(out_dir, target_is_directory=True)
    err = failed(cli, tree, "render", "team/secret")
    assert "profile 'team/secret' resolves outside the profiles directory" in err
    assert not [p for p in watch_opens if p.endswith("secret.yaml")]


def test_extends_through_a_symlink_outside_is_refused(cli, outside):
    tree, out_dir = outside
    (tree / "evil.yaml").symlink_to(out_dir / "secret.yaml")
    (tree / "child.yaml").write_text("extends: evil\n", encoding="utf-8")
    err = failed(cli, tree, "render", "child")
    assert "profiles/child.yaml:1:10: error: profile 'evil' resolves outside" in err


def test_symlink_inside_the_directory_is_fine(cli, outside, watch_opens):
    tree, _ = outside
    (tree / "alias.yaml").symlink_to(tree / "ok.yaml")
    assert rendered(cli, tree, "alias")["call"]["To"] == "+13125550100"
    # The watch sees profile reads (so the "never opened" checks above can fail).
    assert [p for p in watch_opens if p.endswith("alias.yaml")]


def test_profiles_dir_from_the_environment(cli, outside, monkeypatch):
    tree, _ = outside
    monkeypatch.setenv("CALLPROFILE_DIR", str(tree))
    result = cli("render", "ok")
    assert result.exit_code == 0, result.stderr
    missing = cli("--profiles-dir", str(tree / "nope"), "render", "ok")
    assert missing.exit_code == 1
    assert "does not exist (set it with --profiles-dir or CALLPROFILE_DIR) [CP011]" in (
        missing.stderr
    )


def test_default_profiles_dir_is_dot_profiles(cli, outside):
    # The cli fixture runs in tmp_path, whose ./profiles is the tree.
    assert cli("render", "ok").exit_code == 0


def test_name_with_extension_suggests_the_profile(cli, outside):
    tree, _ = outside
    err = failed(cli, tree, "render", "ok.yaml")
    assert "no profile named 'ok.yaml' in profiles; did you mean 'ok'? [CP011]" in err


# ---- --set typing ----------------------------------------------------------------------------


@pytest.fixture
def tree(tmp_path):
    return make_profiles(
        tmp_path / "profiles",
        {"p": BASE + "  Timeout: 30\n  AIAssistantDynamicVariables:\n    keep: x\n"},
    )


@pytest.mark.parametrize(
    ("flag", "field", "expected"),
    [
        ("Timeout=60", "Timeout", 60),
        ("Timeout= 60", "Timeout", 60),
        ("Record=true", "Record", True),
        ("Record=false", "Record", False),
        ("From=+13125550100", "From", "+13125550100"),
        ("AIAssistantId=12345", "AIAssistantId", "12345"),
        ("CallerId=true", "CallerId", "true"),
        ("StatusCallbackEvent=initiated completed", "StatusCallbackEvent", "initiated completed"),
        ("MachineDetection=Enable", "MachineDetection", "Enable"),
    ],
)
def test_set_is_typed_by_the_schema(cli, tree, flag, field, expected):
    value = rendered(cli, tree, "p", "--set", flag)["call"][field]
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(("value", "expected"), [("gold", "gold"), ("42", "42"), ("true", "true")])
def test_set_into_dynamic_variables_keeps_strings(cli, tree, value, expected):
    dv = rendered(cli, tree, "p", "--set", f"AIAssistantDynamicVariables.tier={value}")["call"][
        "AIAssistantDynamicVariables"
    ]
    assert dv == {"keep": "x", "tier": expected}


def test_set_json_null_removes_a_key(cli, tree):
    call = rendered(cli, tree, "p", "--set-json", "Timeout=null")["call"]
    assert "Timeout" not in call


def test_set_json_sets_lists_and_mappings(cli, tree):
    call = rendered(cli, tree, "p", "--set-json", 'CustomHeaders=[{"name": "X-A", "value": "1"}]')[
        "call"
    ]
    assert call["CustomHeaders"] == [{"name": "X-A", "value": "1"}]


# (flags, the whole error line)
SET_ERRORS = [
    (
        ("--set", "Timeout=abc"),
        "--set Timeout=abc: error: Timeout wants integer: 'abc' is not an integer [CP302]",
    ),
    (
        ("--set", "Timeout=6.5"),
        "--set Timeout=6.5: error: Timeout wants integer: '6.5' is not an integer [CP302]",
    ),
    (
        ("--set", "Record=yes"),
        "--set Record=yes: error: Record wants boolean: 'yes' is not a boolean (use true or false) "
        "[CP302]",
    ),
    (
        ("--set", "StatusCallbacks=x"),
        "--set StatusCallbacks=x: error: StatusCallbacks is a list; use --set-json [CP302]",
    ),
    (
        ("--set", "AIAssistantDynamicVariables=x"),
        "--set AIAssistantDynamicVariables=x: error: AIAssistantDynamicVariables is a mapping; "
        "use --set-json [CP302]",
    ),
    (("--set", "Timeout"), "--set Timeout: error: --set takes NAME=VALUE, got 'Timeout' [CP302]"),
    (("--set", "=5"), "--set =5: error: --set takes NAME=VALUE, got '=5' [CP302]"),
    (
        ("--set", "Timout=5"),
        "--set Timout=5: error: unknown field 'Timout'; did you mean 'Timeout'? [CP302]",
    ),
    (
        ("--set", "Twiml=<Response/>"),
        "--set Twiml=<Response/>: error: this endpoint refuses Twiml: Telnyx answers 422; the AI "
        "assistant drives the call [CP302]",
    ),
    (
        ("--set", "Timeout.x=5"),
        "--set Timeout.x=5: error: 'Timeout.x' is not a field of the request [CP302]",
    ),
    (
        ("--set", "AIAssistantDynamicVariables.=5"),
        "--set AIAssistantDynamicVariables.=5: error: 'AIAssistantDynamicVariables.' is not a "
        "field path (FIELD or FIELD.key) [CP302]",
    ),
    (
        ("--set-json", "Timeout=abc"),
        "--set-json Timeout=abc: error: value is not valid JSON (Expecting value) [CP302]",
    ),
    (
        ("--set-json", 'Timeout="60"'),
        "--set-json Timeout=\"60\": error: Timeout: expected an integer, got string '60' [CP301]",
    ),
    (("--var", "novalue"), "--var novalue: error: --var takes NAME=VALUE, got 'novalue' [CP302]"),
]


@pytest.mark.parametrize(("args", "line"), SET_ERRORS, ids=[" ".join(a) for a, _ in SET_ERRORS])
def test_bad_flags_name_the_flag(cli, tree, args, line):
    assert failed(cli, tree, "render", "p", *args).strip() == line


def test_secret_fields_are_redacted_in_flag_errors(cli, tree):
    err = failed(cli, tree, "render", "p", "--set-json", f'SipAuthPassword=["{SIP_PASSWORD}"]')
    assert err.strip() == (
        "--set-json SipAuthPassword=***: error: SipAuthPassword: expected a string, got array *** "
        "[CP301]"
    )


def test_secret_set_by_flag_is_redacted_in_render(cli, tree):
    out = rendered(cli, tree, "p", "--set", f"SipAuthPassword={SIP_PASSWORD}")
    assert out["call"]["SipAuthPassword"] == "***"
    shown = cli(
        "render",
        "p",
        "--set",
        f"SipAuthPassword={SIP_PASSWORD}",
        "--show-secrets",
        profiles_dir=tree,
        allow_secrets=True,
    )
    assert SIP_PASSWORD in shown.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--set-json", "Timeout=40", "--set", "Timeout=50"), 50),
        (("--set", "Timeout=50", "--set-json", "Timeout=40"), 40),
        (("--set=Timeout=50", "--set-json=Timeout=40", "--set", "Timeout=45"), 45),
        (("--set-json", "Timeout=null", "--set", "Timeout=41"), 41),
    ],
)
def test_set_and_set_json_apply_in_command_line_order(cli, tree, args, expected):
    assert rendered(cli, tree, "p", *args)["call"]["Timeout"] == expected


def test_set_and_set_json_order_shows_in_explain_history(cli, tree):
    result = cli(
        "explain",
        "p",
        "--set",
        "Timeout=50",
        "--set-json",
        "Timeout=40",
        "--set",
        "Timeout=45",
        "-o",
        "json",
        profiles_dir=tree,
    )
    assert result.exit_code == 0, result.stderr
    (row,) = [f for f in json.loads(result.stdout)["fields"] if f["field"] == "Timeout"]
    assert row["set_by"] == "--set Timeout=45"
    assert [o["set_by"] for o in row["overrode"]] == [
        "profiles/p.yaml:6:12",
        "--set Timeout=50",
        "--set-json Timeout=40",
    ]


@pytest.mark.parametrize(
    "value", ["1" * 5000, "[" * 100_000 + "]" * 100_000], ids=["huge-integer", "deep-nesting"]
)
def test_set_json_values_python_cannot_hold_are_a_clean_error(cli, tree, value):
    err = failed(cli, tree, "render", "p", "--set-json", f"Timeout={value}")
    assert "value is not usable JSON" in err and "[CP302]" in err
