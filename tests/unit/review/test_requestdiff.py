"""diff: effective-request changes between a git revision and the work tree."""

from __future__ import annotations

import json

import pytest

from tests.helpers.env import SIP_PASSWORD
from tests.helpers.gitrepo import make_repo

RUN = 'call:\n  From: "+13125550100"\n  AIAssistantId: "a-1"\n'

BEFORE = {
    "profiles/amd.yaml": "abstract: true\ncall:\n  MachineDetection: Enable\n"
    "  DetectionMode: Regular\n  MachineDetectionSpeechThreshold: 2500\n",
    "profiles/base.yaml": 'abstract: true\nconnection_id: "conn-1"\ncall:\n  Timeout: 25\n'
    '  SipAuthUsername: "u"\n  SipAuthPassword: "{{ env.CALLPROFILE_SIP }}"\n',
    "profiles/a.yaml": "extends: [base, amd]\n" + RUN,
    "profiles/b.yaml": "extends: [base, amd]\n" + RUN + "  TimeLimit: 300\n",
    "profiles/plain.yaml": 'connection_id: "conn-9"\n' + RUN,
    "profiles/old.yaml": 'connection_id: "conn-9"\n' + RUN,
    "README.md": "not a profile\n",
}


@pytest.fixture
def repo(tmp_path, monkeypatch):
    monkeypatch.setenv("CALLPROFILE_SIP", SIP_PASSWORD)
    repo = make_repo(tmp_path, monkeypatch)
    for path, text in BEFORE.items():
        repo.write(path, text)
    repo.commit("profiles")
    # The change under review: only the fragments change, yet a and b change with them.
    repo.write(
        "profiles/amd.yaml",
        "abstract: true\ncall:\n  MachineDetection: Enable\n  DetectionMode: Premium\n",
    )
    repo.write(
        "profiles/base.yaml",
        'abstract: true\nconnection_id: "conn-2"\ncall:\n  Timeout: 25\n'
        '  SipAuthUsername: "u"\n  SipAuthPassword: "{{ env.CALLPROFILE_SIP }}-rotated"\n',
    )
    (repo.root / "profiles/old.yaml").unlink()
    repo.write("profiles/new.yaml", 'connection_id: "conn-9"\n' + RUN)
    repo.commit("switch to premium AMD, move connection")
    return repo


EXPECTED_TEXT = """\
a: changed
  ~ connection_id: "conn-1" -> "conn-2"
  ~ SipAuthPassword: "***" -> "***"
  ~ DetectionMode: "Regular" -> "Premium"
  - MachineDetectionSpeechThreshold: 2500
b: changed
  ~ connection_id: "conn-1" -> "conn-2"
  ~ SipAuthPassword: "***" -> "***"
  ~ DetectionMode: "Regular" -> "Premium"
  - MachineDetectionSpeechThreshold: 2500
new: added
old: removed
5 profile(s) compared with HEAD~1: 2 changed, 1 added, 1 removed, 1 unchanged
"""


def run_diff(cli, repo, *args):
    return cli("diff", "--base", "HEAD~1", *args, profiles_dir=repo.root / "profiles")


def test_diff_text_shows_fragment_change_in_every_child(cli, repo):
    result = run_diff(cli, repo)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == EXPECTED_TEXT


def test_diff_markdown(cli, repo):
    result = run_diff(cli, repo, "--format", "markdown")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "<!-- callprofile-diff -->\n"
        "### callprofile: effective requests compared with `HEAD~1`\n"
        "\n"
        "#### `a`: changed\n"
        "\n"
        "| | Field | Before | After |\n"
        "|---|---|---|---|\n"
        '| ~ | `connection_id` | `"conn-1"` | `"conn-2"` |\n'
        '| ~ | `SipAuthPassword` | `"***"` | `"***"` |\n'
        '| ~ | `DetectionMode` | `"Regular"` | `"Premium"` |\n'
        "| - | `MachineDetectionSpeechThreshold` | `2500` |  |\n"
        "\n"
        "#### `b`: changed\n"
        "\n"
        "| | Field | Before | After |\n"
        "|---|---|---|---|\n"
        '| ~ | `connection_id` | `"conn-1"` | `"conn-2"` |\n'
        '| ~ | `SipAuthPassword` | `"***"` | `"***"` |\n'
        '| ~ | `DetectionMode` | `"Regular"` | `"Premium"` |\n'
        "| - | `MachineDetectionSpeechThreshold` | `2500` |  |\n"
        "\n"
        "**Added profiles:** `new`\n"
        "\n"
        "**Removed profiles:** `old`\n"
        "\n"
        "<sub>5 profile(s) compared with HEAD~1: 2 changed, 1 added, 1 removed, 1 unchanged. "
        "Rendered with declared defaults, example variable values and a placeholder To; secrets "
        "shown as `***`.</sub>\n"
    )


def test_diff_json(cli, repo):
    result = run_diff(cli, repo, "--format", "json", "b", "plain", "new")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    # The -o json contract's common keys (issue 9, item 5), then the diff's own.
    common = ("schema_version", "command", "exit_code", "diagnostics", "notes")
    assert [document.pop(k) for k in common] == [1, "diff", 0, [], []]
    assert document == {
        "base": "HEAD~1",
        "profiles": [
            {
                "name": "b",
                "status": "changed",
                "changes": [
                    {"field": "connection_id", "kind": "changed", "old": "conn-1", "new": "conn-2"},
                    {"field": "SipAuthPassword", "kind": "changed", "old": "***", "new": "***"},
                    {
                        "field": "DetectionMode",
                        "kind": "changed",
                        "old": "Regular",
                        "new": "Premium",
                    },
                    {
                        "field": "MachineDetectionSpeechThreshold",
                        "kind": "removed",
                        "old": 2500,
                        "new": None,
                    },
                ],
                "problems": [],
            },
            {"name": "new", "status": "added", "changes": [], "problems": []},
            {"name": "plain", "status": "unchanged", "changes": [], "problems": []},
        ],
    }


def test_diff_exit_code(cli, repo):
    assert run_diff(cli, repo, "--exit-code").exit_code == 1
    assert run_diff(cli, repo, "--exit-code", "plain").exit_code == 0
    same = cli("diff", "--base", "HEAD", "--exit-code", profiles_dir=repo.root / "profiles")
    assert same.exit_code == 0
    assert same.stdout == "4 profile(s) compared with HEAD: 4 unchanged\n"


def test_diff_reads_the_base_without_touching_the_work_tree(cli, repo):
    # An uncommitted edit is part of "now"; the work tree and index stay as they were.
    repo.write("profiles/plain.yaml", 'connection_id: "conn-9"\n' + RUN + "  Timeout: 20\n")
    status = repo.git("status", "--porcelain")
    result = run_diff(cli, repo, "plain")
    assert result.stdout.splitlines()[:2] == ["plain: changed", "  + Timeout: 20"]
    assert repo.git("status", "--porcelain") == status
    assert "Timeout: 20" in (repo.root / "profiles/plain.yaml").read_text()


def test_diff_reports_a_profile_the_change_breaks(cli, repo):
    repo.write("profiles/amd.yaml", "abstract: true\ncall:\n  DetectionMode: Turbo\n")
    result = run_diff(cli, repo, "a")
    assert result.stdout == (
        "a: invalid now\n"
        "  repo/profiles/amd.yaml:3:18: error: 'Turbo' is not one of Premium, Regular, "
        "PremiumCallScreening [CP101]\n"
        "1 profile(s) compared with HEAD~1: 1 invalid\n"
    )


@pytest.mark.parametrize("rev", ["nope", "--help", "HEAD~9"])
def test_diff_bad_revision_is_a_usage_error(cli, repo, rev):
    result = cli("diff", "--base", rev, profiles_dir=repo.root / "profiles")
    assert result.exit_code == 2
    assert "Invalid value for '--base'" in result.stderr
    assert "revision" in result.stderr


def test_diff_outside_a_repository_is_a_usage_error(cli, tmp_path):
    (tmp_path / "p").mkdir()
    result = cli("diff", "--base", "HEAD", profiles_dir=tmp_path / "p")
    assert result.exit_code == 2
    assert "is not inside a git repository" in result.stderr


def test_diff_unknown_profile_name_is_a_usage_error(cli, repo):
    result = run_diff(cli, repo, "nosuch")
    assert result.exit_code == 2
    assert "no profile named 'nosuch' at HEAD~1 or now" in result.stderr


def test_diff_markdown_keeps_pipes_and_backticks_inside_table_cells(cli, repo):
    repo.write(
        "profiles/plain.yaml",
        'connection_id: "conn-9"\n' + RUN + '  AIAssistantDynamicVariables:\n    note: "a|b`c"\n',
    )
    result = run_diff(cli, repo, "--format", "markdown", "plain")
    assert '| + | `AIAssistantDynamicVariables.note` |  | ``"a\\|b`c"`` |\n' in result.stdout


def test_diff_naming_a_fragment_compares_the_profiles_extending_it(cli, repo):
    result = run_diff(cli, repo, "amd")
    assert [line for line in result.stdout.splitlines() if not line.startswith(" ")] == [
        "a: changed",
        "b: changed",
        "2 profile(s) compared with HEAD~1: 2 changed",
    ]


def test_diff_lists_a_new_profile_that_does_not_render_as_invalid(cli, repo):
    repo.write("profiles/broken.yaml", "call:\n  Timeout: soon\n")
    result = run_diff(cli, repo, "broken")
    assert result.stdout == (
        "broken: invalid now\n"
        "  repo/profiles/broken.yaml:2:12: error: expected an integer, got string 'soon' [CP101]\n"
        "1 profile(s) compared with HEAD~1: 1 invalid\n"
    )
