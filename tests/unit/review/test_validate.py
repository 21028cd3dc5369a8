"""validate: every finding kind at its exact line and column, every output format, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.diagnostics import Diagnostic
from runner.review import reporters

KINDS = {
    "syntax": 'call:\n  From: "+1312\n',
    "dup": "call:\n  Timeout: 20\n  Timeout: 30\n",
    "anchor": "call: &c\n  Timeout: 20\n",
    "seq": "- a\n",
    "schema": 'connection_id: "c"\ncall:\n  From: "+13125550100"\n  AIAssistantId: "a"\n'
    '  Timout: 20\n  Timeout: "soon"\n  Twiml: "<Response/>"\n',
    "cycle": "extends: [cycle]\n",
    "missing": "extends:\n  - nope\n",
    "tpl": 'connection_id: "c"\nvariables:\n  name:\n    required: true\ncall:\n'
    '  From: "+13125550100"\n  AIAssistantId: "{{ nam }}"\n  CallerId: "{{ name"\n',
    "coerce": 'connection_id: "c"\ncall:\n  From: "+13125550100"\n  AIAssistantId: "a"\n'
    "  Timeout: \"{{ 'x' }}\"\n",
    "request": 'connection_id: "c"\ncall:\n  From: "+13125550100"\n  AIAssistantId: "a"\n'
    "  CallerId: \"{{ 'no|pipes' }}\"\n",
    "unquoted": 'connection_id: "c"\ncall:\n  From: +13125550100\n  AIAssistantId: "a"\n',
    "lint": 'connection_id: "c"\ncall:\n  From: "+13125550100"\n  AIAssistantId: "a"\n'
    "  Trim: do-not-trim\n",
}

EXPECTED = """\
p/anchor.yaml:1:7: error: YAML anchors (&c) are refused: share values through 'extends' [CP003]
p/coerce.yaml:5:12: error: Timeout: the template rendered 'x', which is not an integer [CP205]
p/cycle.yaml:1:11: error: 'extends' forms a cycle: cycle -> cycle [CP012]
p/dup.yaml:3:3: error: duplicate key 'Timeout' (first at line 2); YAML would silently keep only \
the last one [CP002]
p/lint.yaml:5:3: warning: Trim has no effect: Record is not set (off by default) (in profile lint) \
[CP406]
p/missing.yaml:2:5: error: no profile named 'nope' in p [CP011]
p/request.yaml:5:13: error: CallerId: 'no|pipes' may hold only letters, digits, spaces and \
-_~!.+ (at most 128 characters) [CP301]
p/schema.yaml:5:3: error: unknown field 'Timout' in the request; did you mean 'Timeout'? [CP103]
p/schema.yaml:6:12: error: expected an integer, got string 'soon' [CP101]
p/schema.yaml:7:3: error: this endpoint refuses Twiml: Telnyx answers 422; the AI assistant \
drives the call [CP104]
p/seq.yaml:1:1: error: a profile must be a YAML mapping; this file is array, not a mapping \
[CP006]
p/syntax.yaml:2:9: error: YAML syntax error: this quoted string is never closed (the file ends \
inside it) [CP001]
p/tpl.yaml:3:3: warning: required variable 'name' has no example; it was rendered with a \
placeholder (add 'example:' so reviews see real-looking values) [CP207]
p/tpl.yaml:7:18: error: template uses variable 'nam', which this profile does not declare; did \
you mean 'name'? (else add it under 'variables') [CP202]
p/tpl.yaml:8:13: error: template syntax error: unexpected end of template, expected 'end of \
print statement'. [CP201]
p/unquoted.yaml:3:9: error: YAML read the unquoted value +13125550100 as an integer \
(13125550100); quote it: "+13125550100" [CP102]
"""


def make(tmp_path: Path, files: dict[str, str], dirname: str = "p") -> Path:
    root = tmp_path / dirname
    root.mkdir()
    for name, text in files.items():
        (root / f"{name}.yaml").write_text(text, encoding="utf-8")
    return root


def test_every_finding_kind_at_its_line_and_column_sorted(cli, tmp_path):
    result = cli("validate", profiles_dir=make(tmp_path, KINDS))
    assert result.exit_code == 1
    assert result.stdout == EXPECTED
    assert "12 profile(s) checked: 14 error(s), 2 warning(s)" in result.stderr


def test_placeholder_and_examples_are_announced_on_stderr_not_as_findings(cli, tmp_path):
    text = (
        'connection_id: "c"\nvariables:\n  who:\n    required: true\n    example: Ada\n'
        'call:\n  From: "+13125550100"\n  AIAssistantId: "a"\n'
        '  AIAssistantDynamicVariables:\n    who: "{{ who }}"\n'
    )
    root = make(tmp_path, {"x": text})
    # The notes are printed with -v when all is clean (issue 9, item 12), and always with
    # findings.
    result = cli("validate", "-v", profiles_dir=root)
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "note: no To in 1 profile(s) (x); rendered with the placeholder +15555550100 (the real "
        "number comes from --to)",
        "note: variables given no value in 1 profile(s) (x) were rendered with stand-ins (each "
        "variable's 'example', else example-NAME)",
        "1 profile(s) checked: 0 error(s), 0 warning(s)",
    ]
    quiet = cli("validate", profiles_dir=root)
    assert quiet.exit_code == 0
    assert quiet.stderr.splitlines() == ["1 profile(s) checked: 0 error(s), 0 warning(s)"]


SMALL = {"lint": KINDS["lint"], "dup": KINDS["dup"]}


def test_json_format(cli, tmp_path):
    result = cli("validate", "--format", "json", profiles_dir=make(tmp_path, SMALL))
    assert result.exit_code == 1
    # The list is the document's "diagnostics" (the -o json contract, issue 9, item 5).
    document = json.loads(result.stdout)
    assert document["schema_version"] == 1
    assert (document["command"], document["exit_code"]) == ("validate", 1)
    assert (document["checked"], document["errors"], document["warnings"]) == (2, 1, 1)
    assert document["diagnostics"] == [
        {
            "file": "p/dup.yaml",
            "line": 3,
            "col": 3,
            "end_line": None,
            "end_col": None,
            "severity": "error",
            "code": "CP002",
            "message": "duplicate key 'Timeout' (first at line 2); YAML would silently keep only "
            "the last one",
            "json_path": None,
            "origin": None,
        },
        {
            "file": "p/lint.yaml",
            "line": 5,
            "col": 3,
            "end_line": 5,
            "end_col": 20,
            "severity": "warning",
            "code": "CP406",
            "message": "Trim has no effect: Record is not set (off by default) (in profile lint)",
            "json_path": "$.call.Trim",
            "origin": None,
        },
    ]


def test_github_format_escapes_properties_and_repeats_the_plain_list(cli, tmp_path):
    # ',' and ':' in the path must be escaped in the properties; '%' in a message too.
    files = {
        "x": 'connection_id: "c"\ncall:\n  From: "+13125550100"\n  AIAssistantId: "a"\n'
        '  "Time%out": 5\n'
    }
    root = make(tmp_path, files, dirname="a,b:c")
    result = cli("validate", "--format", "github", profiles_dir=root)
    assert result.exit_code == 1
    assert result.stdout == (
        "::error file=a%2Cb%3Ac/x.yaml,line=5,col=3,endLine=5,endColumn=16,"
        "title=callprofile CP103::unknown field 'Time%25out' in the request; did you mean "
        "'Timeout'?\n"
        "a,b:c/x.yaml:5:3: error: unknown field 'Time%out' in the request; did you mean "
        "'Timeout'? [CP103]\n"
    )


def test_auto_format_is_github_under_github_actions(cli, tmp_path, monkeypatch):
    root = make(tmp_path, SMALL)
    assert cli("validate", profiles_dir=root).stdout.startswith("p/dup.yaml:3:3: error:")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    out = cli("validate", profiles_dir=root).stdout.splitlines()
    assert out[0].startswith("::error file=p/dup.yaml,line=3,col=3,title=callprofile CP002::")
    assert out[1].startswith("::warning file=p/lint.yaml,line=5,col=3,endLine=5,endColumn=20,")
    assert out[2:] == cli("validate", "--format", "text", profiles_dir=root).stdout.splitlines()


@pytest.mark.parametrize(
    ("args", "code"), [((), 0), (("--strict",), 1), (("--no-lint", "--strict"), 0)]
)
def test_warnings_fail_only_with_strict(cli, tmp_path, args, code):
    root = make(tmp_path, {"lint": KINDS["lint"]})
    assert cli("validate", *args, profiles_dir=root).exit_code == code


def test_named_files_are_checked_alone(cli, tmp_path):
    root = make(tmp_path, SMALL)
    result = cli("validate", str(root / "lint.yaml"), profiles_dir=root)
    assert result.exit_code == 0
    assert [line.split(": ")[0] for line in result.stdout.splitlines()] == ["p/lint.yaml:5:3"]


def test_validate_accepts_profiles_dir_after_the_command(cli, tmp_path):
    root = make(tmp_path, SMALL)
    result = cli("validate", "--profiles-dir", str(root))
    assert result.exit_code == 1
    assert "p/dup.yaml:3:3: error:" in result.stdout


def test_workflow_command_data_escapes_newlines():
    diag = Diagnostic("line one\r\nline two 100%", "CP101", file="p/x.yaml", line=1, col=1)
    assert reporters.github([diag]).splitlines()[0] == (
        "::error file=p/x.yaml,line=1,col=1,title=callprofile CP101::line one%0D%0Aline two 100%25"
    )
