"""Every kind of profile error is reported at its exact file:line:col (issue 2, "Profiles" and
"Validation"), by ``validate`` and by the commands that build a request."""

from __future__ import annotations

import pytest

from runner.profiles.source import MAX_BYTES, MAX_DEPTH
from tests.helpers.core import BASE, failed, make_profiles

# (id, profile text, "line:col", code, the message, or a fragment of it)
CASES = [
    (
        "yaml-syntax-flow",
        'call:\n  Timeout: [1, 2\n  To: "+1"\n',
        "3:5",
        "CP001",
        "YAML syntax error: did not find expected ',' or ']' (while parsing a flow sequence)",
    ),
    (
        "yaml-syntax-indent",
        'call:\n  From: "+13120001234"\n   To: "+1"\n',
        "3:4",
        "CP001",
        "YAML syntax error: did not find expected key",
    ),
    (
        "yaml-tab",
        "description: x\ncall:\n\tTimeout: 5\n",
        "3:1",
        "CP001",
        "YAML syntax error: found character that cannot start any token",
    ),
    (
        "duplicate-key",
        "call:\n  Timeout: 10\n  Timeout: 20\n",
        "3:3",
        "CP002",
        "duplicate key 'Timeout' (first at line 2); YAML would silently keep only the last one",
    ),
    (
        "anchor",
        "call: &shared\n  Timeout: 10\n",
        "1:7",
        "CP003",
        "YAML anchors (&shared) are refused: share values through 'extends'",
    ),
    (
        "alias",
        "description: x\ncall:\n  To: *number\n",
        "3:7",
        "CP003",
        "YAML aliases (*number) are refused",
    ),
    (
        "merge-key",
        "call:\n  <<: {Timeout: 10}\n",
        "2:3",
        "CP003",
        "YAML merge keys ('<<') are refused: share values through 'extends'",
    ),
    (
        "python-tag",
        "call:\n  Timeout: !!python/object/apply:os.system [id]\n",
        "2:12",
        "CP005",
        "YAML tag 'tag:yaml.org,2002:python/object/apply:os.system' is not allowed",
    ),
    (
        "python-name-tag",
        "call:\n  Timeout: !!python/name:os.system\n",
        "2:12",
        "CP005",
        "is not allowed: profiles hold plain text, numbers, booleans, lists and mappings",
    ),
    (
        "custom-tag-on-mapping",
        "call: !thing\n  Timeout: 10\n",
        "1:7",
        "CP005",
        "YAML tag '!thing' is not allowed here",
    ),
    (
        "two-documents",
        "call: {}\n---\ncall: {}\n",
        "2:1",
        "CP001",
        "a profile file holds one YAML document; remove the '---' separator",
    ),
    (
        "not-a-mapping",
        "- a\n- b\n",
        "1:1",
        "CP006",
        "a profile must be a YAML mapping; this file is array, not a mapping",
    ),
    (
        "unknown-top-level-key",
        "descripton: x\ncall: {}\n",
        "1:1",
        "CP103",
        "unknown field 'descripton' in the profile; did you mean 'description'?",
    ),
    (
        "unknown-call-field",
        "call:\n  MachineDetectionTimout: 5000\n",
        "2:3",
        "CP103",
        "unknown field 'MachineDetectionTimout' in the request; "
        "did you mean 'MachineDetectionTimeout'?",
    ),
    (
        "unknown-field-no-hint",
        "call:\n  Zebra: 1\n",
        "2:3",
        "CP103",
        "unknown field 'Zebra' in the request (Telnyx would silently ignore it)",
    ),
    (
        "refused-twiml",
        'call:\n  Twiml: "<Response/>"\n',
        "2:3",
        "CP104",
        "this endpoint refuses Twiml: Telnyx answers 422",
    ),
    (
        "refused-texml",
        'call:\n  Texml: "<Response/>"\n',
        "2:3",
        "CP104",
        "this endpoint refuses Texml: Telnyx answers 422",
    ),
    (
        "refused-url",
        'call:\n  Url: "https://example.com/x"\n',
        "2:3",
        "CP104",
        "this endpoint refuses Url: Telnyx answers 422",
    ),
    (
        "unquoted-phone-number",
        "call:\n  From: +13120001234\n",
        "2:9",
        "CP102",
        "YAML read the unquoted value +13120001234 as an integer (13120001234); "
        'quote it: "+13120001234"',
    ),
    (
        "unquoted-connection-id",
        "connection_id: 1234567890\n",
        "1:16",
        "CP102",
        'quote it: "1234567890"',
    ),
    (
        "bad-enum",
        "call:\n  MachineDetection: Enabled\n",
        "2:21",
        "CP101",
        "'Enabled' is not one of Enable, Disable, DetectMessageEnd; did you mean 'Enable'?",
    ),
    (
        "out-of-range",
        "call:\n  Timeout: 5000\n",
        "2:12",
        "CP101",
        "5000 is out of range: must be between 5 and 120",
    ),
    (
        "wrong-type",
        "call:\n  Record: maybe\n",
        "2:11",
        "CP101",
        "expected a boolean, got string 'maybe'",
    ),
    (
        "not-e164",
        'call:\n  To: "13125550100"\n',
        "2:7",
        "CP101",
        "'13125550100' is not an E.164 number",
    ),
    (
        "dynamic-variable-not-string",
        "call:\n  AIAssistantDynamicVariables:\n    a: [1]\n",
        "3:8",
        "CP101",
        "expected a string, got array [1]",
    ),
    (
        "bad-extends-name",
        "extends: Base\n",
        "1:10",
        "CP101",
        "'Base' is not a valid profile name ([a-z0-9._-] segments joined by '/')",
    ),
    (
        "bad-extends-name-in-list",
        "extends:\n  - base\n  - ../escape\n",
        "3:5",
        "CP101",
        "'../escape' is not a valid profile name",
    ),
    (
        "reserved-variable-name",
        "variables:\n  to: {}\n",
        "2:3",
        "CP101",
        "invalid name 'to': names start with a letter or '_'",
    ),
    ("bad-variable-name", "variables:\n  my-var: {}\n", "2:3", "CP101", "invalid name 'my-var'"),
    (
        "unknown-variable-spec-key",
        "variables:\n  a: {requird: true}\n",
        "2:7",
        "CP103",
        "unknown field 'requird' in 'a'; did you mean 'required'?",
    ),
]


@pytest.mark.parametrize(
    ("text", "where", "code", "message"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_profile_error_position(cli, tmp_path, text, where, code, message):
    tree = make_profiles(tmp_path / "profiles", {"p": text})
    err = failed(cli, tree, "validate", "profiles/p.yaml")
    line = err.splitlines()[0]
    assert line.startswith(f"profiles/p.yaml:{where}: error: "), err
    assert message in line
    assert line.endswith(f"[{code}]")


def test_validate_without_paths_checks_the_whole_directory(cli, tmp_path):
    tree = make_profiles(
        tmp_path / "profiles",
        {"good": BASE, "sub/bad": "call:\n  Timeout: 5000\n", "other": "call:\n  Zebra: 1\n"},
    )
    err = failed(cli, tree, "validate")
    assert "profiles/sub/bad.yaml:2:12: error: 5000 is out of range" in err
    assert "profiles/other.yaml:2:3: error: unknown field 'Zebra'" in err
    assert "3 profile(s) checked: 2 error(s), 0 warning(s)" in err


def test_render_reports_the_same_position_as_validate(cli, tmp_path):
    tree = make_profiles(tmp_path / "profiles", {"p": BASE + "  MachineDetectionTimout: 5000\n"})
    err = failed(cli, tree, "render", "p")
    assert "profiles/p.yaml:6:3: error: unknown field 'MachineDetectionTimout'" in err


def test_error_in_a_parent_points_into_the_parent(cli, tmp_path):
    tree = make_profiles(
        tmp_path / "profiles",
        {"base/x": "call:\n  Timeout: 5000\n", "child": "extends: base/x\n" + BASE},
    )
    err = failed(cli, tree, "render", "child")
    assert err.startswith("profiles/base/x.yaml:2:12: error: 5000 is out of range")


def test_nesting_cap(cli, tmp_path):
    lines, indent = ["call:"], "  "
    for level in range(MAX_DEPTH + 5):
        lines.append(f"{indent}k{level}:")
        indent += "  "
    lines.append(f"{indent}v: 1")
    tree = make_profiles(tmp_path / "profiles", {"deep": "\n".join(lines) + "\n"})
    err = failed(cli, tree, "validate", "profiles/deep.yaml")
    # The mapping that crosses the cap (depth MAX_DEPTH + 1) is the value of the key on line
    # MAX_DEPTH + 1, so it starts on the next line, at that line's indentation.
    line = MAX_DEPTH + 1
    assert f"profiles/deep.yaml:{line}:{2 * line - 1}: error: nesting deeper than {MAX_DEPTH}" in (
        err
    )
    assert "[CP004]" in err


def test_nesting_cap_in_flow_style(cli, tmp_path):
    depth = MAX_DEPTH + 5
    tree = make_profiles(tmp_path / "profiles", {"deep": "a: " + "[" * depth + "]" * depth})
    err = failed(cli, tree, "validate", "profiles/deep.yaml")
    # The k-th "[" stands at column 3 + k and opens depth k (the root mapping is depth 0);
    # the first one past the cap is refused.
    assert f"profiles/deep.yaml:1:{3 + MAX_DEPTH + 1}: error: nesting deeper than" in err


def test_size_cap(cli, tmp_path):
    tree = make_profiles(tmp_path / "profiles", {"big": 'description: "' + "x" * MAX_BYTES + '"\n'})
    err = failed(cli, tree, "validate", "profiles/big.yaml")
    assert f"profiles/big.yaml:1:1: error: file is {MAX_BYTES + 1} bytes" in err
    assert f"limited to {MAX_BYTES} bytes [CP004]" in err


def test_alias_bomb_is_refused_at_the_first_anchor(cli, tmp_path):
    bomb = 'a: &a ["x","x"]\nb: &b [*a,*a]\nc: &c [*b,*b]\n'
    tree = make_profiles(tmp_path / "profiles", {"bomb": bomb})
    err = failed(cli, tree, "validate", "profiles/bomb.yaml")
    assert err.startswith("profiles/bomb.yaml:1:4: error: YAML anchors (&a) are refused")


# ---- extends graph ---------------------------------------------------------------------------


def test_extends_cycle_prints_the_chain(cli, tmp_path):
    tree = make_profiles(
        tmp_path / "profiles",
        {"a": "extends: b\n" + BASE, "b": "extends: [c]\ncall: {}\n", "c": "extends:\n  - a\n"},
    )
    err = failed(cli, tree, "render", "a")
    assert err.strip() == (
        "profiles/c.yaml:2:5: error: 'extends' forms a cycle: a -> b -> c -> a [CP012]"
    )


def test_two_profile_cycle(cli, tmp_path):
    tree = make_profiles(tmp_path / "profiles", {"a": "extends: b\n", "b": "extends: a\n"})
    err = failed(cli, tree, "render", "a")
    assert "profiles/b.yaml:1:10: error: 'extends' forms a cycle: a -> b -> a [CP012]" in err


def test_self_extension_is_a_cycle(cli, tmp_path):
    tree = make_profiles(tmp_path / "profiles", {"a": "extends: a\n"})
    err = failed(cli, tree, "validate")
    assert "profiles/a.yaml:1:10: error: 'extends' forms a cycle: a -> a [CP012]" in err


def test_missing_parent_with_did_you_mean(cli, tmp_path):
    tree = make_profiles(
        tmp_path / "profiles",
        {"base/us-east": "call: {}\n", "child": "extends:\n  - base/us-eats\n" + BASE},
    )
    err = failed(cli, tree, "render", "child")
    assert err.strip() == (
        "profiles/child.yaml:2:5: error: no profile named 'base/us-eats' in profiles; "
        "did you mean 'base/us-east'? [CP011]"
    )


def test_missing_profile_on_the_command_line(cli, tmp_path):
    tree = make_profiles(tmp_path / "profiles", {"sales/followup": BASE})
    err = failed(cli, tree, "render", "sales/folowup")
    assert "profile name: error: no profile named 'sales/folowup'" in err
    assert "did you mean 'sales/followup'?" in err


@pytest.mark.parametrize("command", ["run", "render"])
def test_abstract_profile_cannot_run(cli, tmp_path, command):
    tree = make_profiles(tmp_path / "profiles", {"frag": "abstract: true\n" + BASE})
    err = failed(cli, tree, command, "frag", "--dry-run" if command == "run" else "--show-secrets")
    assert err.strip() == (
        "profiles/frag.yaml:1:11: error: profile 'frag' is abstract: a fragment meant to be "
        "extended, not run [CP013]"
    )


def test_abstract_parent_is_fine(cli, tmp_path):
    tree = make_profiles(
        tmp_path / "profiles", {"frag": "abstract: true\n" + BASE, "real": "extends: frag\n"}
    )
    assert cli("render", "real", profiles_dir=tree).exit_code == 0
    assert cli("validate", profiles_dir=tree).exit_code == 0


# ---- the final request: errors name the layer that set the value ----------------------------


def test_final_request_error_names_the_values_file_position(cli, tmp_path):
    tree = make_profiles(tmp_path / "profiles", {"p": BASE})
    (tmp_path / "v.yaml").write_text("call:\n  Timeout: 9999\n", encoding="utf-8")
    err = failed(cli, tree, "render", "p", "-f", "v.yaml")
    assert "v.yaml:2:12: error: 9999 is out of range" in err


def test_final_request_error_names_the_flag(cli, tmp_path):
    tree = make_profiles(tmp_path / "profiles", {"p": BASE})
    err = failed(cli, tree, "render", "p", "--set", "Timeout=9999")
    assert err.strip() == (
        "--set Timeout=9999: error: Timeout: 9999 is out of range: must be between 5 and 120 "
        "[CP301]"
    )


def test_missing_required_field_hints_at_the_flag(cli, tmp_path):
    tree = make_profiles(tmp_path / "profiles", {"p": BASE.replace('  To: "+13125550100"\n', "")})
    err = failed(cli, tree, "render", "p")
    assert "missing required field 'To' (give it with --to)" in err
    assert cli("render", "p", "--to", "+13125550100", profiles_dir=tree).exit_code == 0


def test_values_file_may_hold_only_connection_id_and_call(cli, tmp_path):
    tree = make_profiles(tmp_path / "profiles", {"p": BASE})
    (tmp_path / "v.yaml").write_text("cal:\n  Timeout: 10\n", encoding="utf-8")
    err = failed(cli, tree, "render", "p", "-f", "v.yaml")
    assert "v.yaml:1:1: error: a values file may set only connection_id and call, not 'cal'" in err
    assert "did you mean 'call'?" in err


def test_missing_values_file(cli, tmp_path):
    tree = make_profiles(tmp_path / "profiles", {"p": BASE})
    err = failed(cli, tree, "render", "p", "-f", "nope.yaml")
    assert "nope.yaml: error: cannot read file" in err
