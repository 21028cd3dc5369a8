"""Each lint rule: a profile that triggers it (exact line and column), one that does not, and
an ignore comment that silences it (on the line, or alone on the line above)."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from tests.helpers.env import SIP_PASSWORD

RUNNABLE = """\
connection_id: "conn-1"
call:
  From: "+13125550100"
  AIAssistantId: "assistant-1"
"""


def files_for(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "p"
    for name, text in files.items():
        path = root / f"{name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def findings(cli, root: Path, code: str | None = None) -> list[str]:
    result = cli("validate", "--format", "text", profiles_dir=root)
    assert result.exit_code in (0, 1), result.stderr
    lines = result.stdout.splitlines()
    return [line for line in lines if code is None or line.endswith(f"[{code}]")]


def where(line: str) -> str:
    """'p/x.yaml:3:5: warning: ... [CP403]' -> 'p/x.yaml:3:5 warning CP403'"""
    match = re.match(r"^(\S+:\d+:\d+): (\w+): .* \[(\w+)\]$", line)
    assert match, line
    return " ".join(match.groups())


# code -> (files that trigger it, expected 'file:line:col severity code' findings, files that
# do not trigger it). Effective rules put the cause in a fragment extended by two profiles, so
# each test also shows the finding is reported once, at the fragment's line.
CASES: dict[str, tuple[dict[str, str], list[str], dict[str, str]]] = {
    "CP401": (
        {"x": RUNNABLE + f'  SipAuthUsername: "user"\n  SipAuthPassword: "{SIP_PASSWORD}"\n'},
        ["p/x.yaml:6:20 error CP401"],
        {"x": RUNNABLE + '  SipAuthPassword: "{{ env.CALLPROFILE_SIP_PASSWORD }}"\n'},
    ),
    "CP402": (
        {
            "amd": """\
                abstract: true
                call:
                  MachineDetection: Enable
                  DetectionMode: Premium
                  MachineDetectionSpeechThreshold: 2500
                  MachineDetectionSilenceTimeout: 5000
                """,
            "a": "extends: amd\n" + RUNNABLE,
            "b": "extends: amd\n" + RUNNABLE,
        },
        ["p/amd.yaml:5:3 warning CP402", "p/amd.yaml:6:3 warning CP402"],
        {
            "amd": """\
                abstract: true
                call:
                  MachineDetection: Enable
                  DetectionMode: Regular
                  MachineDetectionSpeechThreshold: 2500
                """,
            "a": "extends: amd\n" + RUNNABLE,
        },
    ),
    "CP403": (
        {
            "amd": """\
                abstract: true
                call:
                  MachineDetectionTimeout: 10000
                """,
            "a": "extends: amd\n" + RUNNABLE,
            "b": "extends: amd\n" + RUNNABLE + "  MachineDetection: Disable\n",
        },
        ["p/amd.yaml:3:3 warning CP403", "p/amd.yaml:3:3 warning CP403"],
        {
            "amd": """\
                abstract: true
                call:
                  MachineDetectionTimeout: 10000
                """,
            # The parent's tuning counts once the child switches detection on.
            "a": "extends: amd\n" + RUNNABLE + "  MachineDetection: Enable\n",
        },
    ),
    "CP404": (
        {"x": RUNNABLE + "  MachineDetection: Enable\n  MachineDetectionPromptEndTimeout: 3000\n"},
        ["p/x.yaml:6:3 warning CP404"],
        {
            "x": RUNNABLE + "  MachineDetection: Enable\n  DetectionMode: PremiumCallScreening\n"
            "  MachineDetectionPromptEndTimeout: 3000\n"
        },
    ),
    "CP405": (
        {
            "x": RUNNABLE + "  MachineDetection: Enable\n"
            '  AsyncAmdStatusCallback: "https://example.com/amd"\n'
        },
        ["p/x.yaml:6:3 warning CP405"],
        {
            "x": RUNNABLE + "  MachineDetection: Enable\n  AsyncAmd: true\n"
            '  AsyncAmdStatusCallback: "https://example.com/amd"\n'
        },
    ),
    "CP406": (
        {
            "rec": "abstract: true\ncall:\n  RecordingChannels: dual\n  Trim: do-not-trim\n",
            "a": "extends: rec\n" + RUNNABLE,
            "b": "extends: rec\n" + RUNNABLE,
        },
        ["p/rec.yaml:3:3 warning CP406", "p/rec.yaml:4:3 warning CP406"],
        {
            "rec": "abstract: true\ncall:\n  RecordingChannels: dual\n",
            "a": "extends: rec\n" + RUNNABLE + "  Record: true\n",
        },
    ),
    "CP407": (
        {
            "x": RUNNABLE + '  StatusCallback: "http://example.com/status"\n'
            '  StatusCallbacks: ["https://example.com/a", "http://example.com/b"]\n'
        },
        ["p/x.yaml:5:19 warning CP407", "p/x.yaml:6:46 warning CP407"],
        {
            "x": RUNNABLE + '  StatusCallback: "https://example.com/status"\n'
            '  ConversationCallback: "{{ env.CALLPROFILE_HOOK }}/conversation"\n'
        },
    ),
    "CP408": (
        {
            "x": "variables:\n  name:\n    example: Ada\n  unused:\n    default: x\n"
            + RUNNABLE
            + '  AIAssistantDynamicVariables:\n    name: "{{ name }}"\n'
        },
        ["p/x.yaml:4:3 warning CP408"],
        {
            "base": "abstract: true\nvariables:\n  name:\n    example: Ada\n",
            # Declared in the fragment, used by the child's template.
            "x": "extends: base\n"
            + RUNNABLE
            + '  AIAssistantDynamicVariables:\n    name: "{{ name }}"\n',
        },
    ),
    "CP102": (
        {"x": RUNNABLE.replace('"+13125550100"', "+13125550100")},
        ["p/x.yaml:3:9 error CP102"],
        {"x": RUNNABLE},
    ),
    "CP409": (
        {"orphan": "abstract: true\ncall:\n  Timeout: 20\n", "x": RUNNABLE},
        ["p/orphan.yaml:1:1 warning CP409"],
        {"used": "abstract: true\ncall:\n  Timeout: 20\n", "x": "extends: used\n" + RUNNABLE},
    ),
}


@pytest.fixture(autouse=True)
def _template_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLPROFILE_SIP_PASSWORD", SIP_PASSWORD)
    monkeypatch.setenv("CALLPROFILE_HOOK", "https://example.com")


@pytest.mark.parametrize("code", sorted(CASES))
def test_rule_triggers_at_exact_position(cli, tmp_path, code):
    files, expected, _ = CASES[code]
    found = findings(cli, files_for(tmp_path, files))
    assert sorted(where(f) for f in found if f.endswith(f"[{code}]")) == sorted(expected)
    # The rule's finding is the only one: no other rule fires on the trigger case.
    assert [f for f in found if not f.endswith(f"[{code}]")] == []


@pytest.mark.parametrize("code", sorted(CASES))
def test_rule_does_not_trigger(cli, tmp_path, code):
    _, _, files = CASES[code]
    result = cli("validate", "--strict", profiles_dir=files_for(tmp_path, files))
    assert result.stdout == ""
    assert result.exit_code == 0, result.stderr


SILENCEABLE = sorted(set(CASES) - {"CP102"})


def _silence(root: Path, finding: str, code: str, above: bool) -> None:
    file, line = finding.split(":")[0], int(finding.split(":")[1])
    path = root.parent / file
    lines = path.read_text(encoding="utf-8").splitlines()
    if above:
        indent = re.match(r"\s*", lines[line - 1]).group(0)
        lines.insert(line - 1, f"{indent}# callprofile: ignore[{code}]")
    else:
        lines[line - 1] += f"  # callprofile: ignore[CP999, {code}]"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.mark.parametrize("above", [False, True], ids=["same-line", "line-above"])
@pytest.mark.parametrize("code", SILENCEABLE)
def test_ignore_comment_silences_one_line(cli, tmp_path, code, above):
    files, _, _ = CASES[code]
    root = files_for(tmp_path, files)
    found = findings(cli, root, code)
    first = found[0]
    _silence(root, first, code, above)
    after = findings(cli, root, code)
    # Only the silenced line went quiet; other lines with the same rule still report.
    assert len(after) == len({f.split(": ")[0] for f in found}) - 1


def test_ignore_comment_for_another_code_does_not_silence(cli, tmp_path):
    root = files_for(
        tmp_path, {"x": RUNNABLE + "  RecordingChannels: dual  # callprofile: ignore[CP403]\n"}
    )
    assert [where(f) for f in findings(cli, root)] == ["p/x.yaml:5:3 warning CP406"]


def test_schema_error_cp102_cannot_be_silenced(cli, tmp_path):
    text = RUNNABLE.replace('"+13125550100"', "+13125550100  # callprofile: ignore[CP102]")
    root = files_for(tmp_path, {"x": text})
    assert [where(f) for f in findings(cli, root)] == ["p/x.yaml:3:9 error CP102"]


def test_secret_is_never_printed_in_any_format(cli, tmp_path):
    files, _, _ = CASES["CP401"]
    root = files_for(tmp_path, files)
    for fmt in ("text", "json", "github"):
        result = cli("validate", "--format", fmt, profiles_dir=root)  # cli asserts no secret
        assert result.exit_code == 1


def test_rule_messages_name_the_cause_and_the_profiles(cli, tmp_path):
    files, _, _ = CASES["CP403"]
    found = findings(cli, files_for(tmp_path, files), "CP403")
    assert found == [
        "p/amd.yaml:3:3: warning: MachineDetectionTimeout has no effect: MachineDetection is "
        "Disable (set at p/b.yaml:6:21) (in profile b) [CP403]",
        "p/amd.yaml:3:3: warning: MachineDetectionTimeout has no effect: MachineDetection is "
        "not set (detection is off by default) (in profile a) [CP403]",
    ]


def test_list_rules_prints_the_table_in_code_order(cli):
    result = cli("validate", "--list-rules")
    assert result.exit_code == 0
    codes = [line.split()[0] for line in result.stdout.splitlines()]
    assert codes == [*(f"CP40{i}" for i in range(1, 9)), "CP102", "CP409"]
    assert "warning  AsyncAmdStatusCallback without AsyncAmd: true" in result.stdout


def test_fragment_finding_is_reported_once_naming_every_profile(cli, tmp_path):
    files, _, _ = CASES["CP402"]
    found = findings(cli, files_for(tmp_path, files), "CP402")
    assert found[0] == (
        "p/amd.yaml:5:3: warning: MachineDetectionSpeechThreshold has no effect: DetectionMode "
        "is Premium (set at p/amd.yaml:4:18), which ignores speech and silence thresholds "
        "(in profiles a, b) [CP402]"
    )


def test_naming_a_fragment_checks_the_profiles_that_extend_it(cli, tmp_path):
    files, expected, _ = CASES["CP406"]
    root = files_for(tmp_path, files)
    result = cli("validate", str(root / "rec.yaml"), profiles_dir=root)
    assert sorted(where(f) for f in result.stdout.splitlines()) == sorted(expected)
    assert "note: also checked 2 profile(s) (a, b) extending the named files" in result.stderr
    assert "3 profile(s) checked" in result.stderr
