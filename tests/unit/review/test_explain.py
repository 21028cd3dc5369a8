"""explain: every field's value, the layer that set it, and the layers it overrode."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers.env import SIP_PASSWORD

FILES = {
    "amd": "abstract: true\ncall:\n  MachineDetection: Enable\n  DetectionMode: Regular\n",
    "base": 'abstract: true\nconnection_id: "conn-1"\ncall:\n  Timeout: 25\n'
    '  SipAuthPassword: "{{ env.CALLPROFILE_SIP }}"\n',
    "x": "extends: [base, amd]\nvariables:\n  who:\n    example: Ada\ncall:\n"
    '  From: "+13125550100"\n  AIAssistantId: "a-1"\n  DetectionMode: Premium\n'
    '  AIAssistantDynamicVariables:\n    who: "{{ who }}"\n',
}


def make(tmp_path: Path) -> Path:
    root = tmp_path / "p"
    root.mkdir()
    for name, text in FILES.items():
        (root / f"{name}.yaml").write_text(text, encoding="utf-8")
    return root


def test_explain_table_names_setter_and_overridden_layers(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("CALLPROFILE_SIP", SIP_PASSWORD)
    result = cli(
        "explain", "x", "--set", "Timeout=40", "--to", "+13125550111", profiles_dir=make(tmp_path)
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "FIELD                            VALUE           SET BY                       OVERRODE\n"
        'connection_id                    "conn-1"        p/base.yaml:2:16\n'
        "Timeout                          40              --set Timeout=40             "
        "p/base.yaml:4:12 (25)\n"
        'SipAuthPassword                  "***"           p/base.yaml:5:20 (template)\n'
        'MachineDetection                 "Enable"        p/amd.yaml:3:21\n'
        'DetectionMode                    "Premium"       p/x.yaml:8:18                '
        'p/amd.yaml:4:18 ("Regular")\n'
        'From                             "+13125550100"  p/x.yaml:6:9\n'
        'AIAssistantId                    "a-1"           p/x.yaml:7:18\n'
        'AIAssistantDynamicVariables.who  "Ada"           p/x.yaml:10:10 (template)\n'
        'To                               "+13125550111"  --to\n'
    )
    assert result.stderr == "note: variables rendered with their example values: who\n"


def test_explain_json_and_placeholder_to(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("CALLPROFILE_SIP", SIP_PASSWORD)
    result = cli("explain", "x", "-o", "json", "--var", "who=Bo", profiles_dir=make(tmp_path))
    assert result.exit_code == 0, result.stderr
    fields = {f["field"]: f for f in json.loads(result.stdout)["fields"]}
    assert fields["DetectionMode"] == {
        "field": "DetectionMode",
        "value": "Premium",
        "set_by": "p/x.yaml:8:18",
        "template": False,
        "overrode": [{"set_by": "p/amd.yaml:4:18", "value": "Regular"}],
    }
    assert fields["SipAuthPassword"]["value"] == "***"
    assert fields["To"]["set_by"] == "placeholder (no --to given)"
    assert fields["AIAssistantDynamicVariables.who"]["value"] == "Bo"
    assert result.stderr == "note: no --to given; To is a placeholder number\n"


def test_explain_show_secrets(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("CALLPROFILE_SIP", SIP_PASSWORD)
    result = cli(
        "explain",
        "x",
        "-o",
        "json",
        "--show-secrets",
        profiles_dir=make(tmp_path),
        allow_secrets=True,
    )
    fields = {f["field"]: f for f in json.loads(result.stdout)["fields"]}
    assert fields["SipAuthPassword"]["value"] == SIP_PASSWORD


def test_explain_invalid_profile_exits_1_with_position(cli, tmp_path):
    root = make(tmp_path)
    (root / "x.yaml").write_text("call:\n  Timeout: soon\n", encoding="utf-8")
    result = cli("explain", "x", profiles_dir=root)
    assert result.exit_code == 1
    assert "p/x.yaml:2:12: error: expected an integer" in result.stderr
