"""``campaign.retry`` in a profile: checked by the profile schema at file:line:col, completed
through extends, shown by explain (each value with the line that set it) and by diff's effective
view, and never part of the request that is sent."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers.gitrepo import make_repo

CALL = 'connection_id: "c"\ncall:\n  From: "+13125550100"\n  AIAssistantId: "a"\n'
FRAGMENT = (
    "abstract: true\ncampaign:\n  retry:\n    on: [no-answer, busy, machine]\n"
    "    after: 2h\n    max_attempts: 3\n"
)


def write(root: Path, files: dict[str, str]) -> Path:
    profiles = root / "profiles"
    for name, text in files.items():
        path = profiles / f"{name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return profiles


def test_bad_values_are_reported_at_their_lines(cli, tmp_path):
    profiles = write(
        tmp_path,
        {
            "x": CALL + "campaign:\n  retry:\n    on: [no-answer, voicemail]\n"
            "    after: 2 hours\n    max_attempts: 0\n"
        },
    )
    result = cli("validate", profiles_dir=profiles)
    assert result.exit_code == 1
    lines = result.stdout.splitlines() + result.stderr.splitlines()
    assert any(
        "x.yaml:7:21: error: 'voicemail' is not one of human, machine" in line for line in lines
    ), lines
    assert any("x.yaml:8:12: error: '2 hours' is not a duration like 90s" in x for x in lines)
    out_of_range = "x.yaml:9:19: error: 0 is out of range: must be between 1 and 20"
    assert any(out_of_range in x for x in lines)


def test_an_incomplete_rule_is_an_error_where_it_is_set(cli, tmp_path):
    rule = "campaign:\n  retry:\n    on: [busy]\n    after: 40d\n"
    profiles = write(tmp_path, {"x": CALL + rule})
    result = cli("validate", profiles_dir=profiles)
    assert result.exit_code == 1
    assert "x.yaml:7:9: error: campaign.retry needs on, after and max_attempts; max_attempts" in (
        result.stdout + result.stderr
    )
    assert "[CP750]" in result.stdout + result.stderr
    late = FRAGMENT.replace("abstract: true\n", "").replace("2h", "40d")
    long = write(tmp_path, {"x": CALL + late})
    result = cli("validate", profiles_dir=long)
    assert "is longer than 30 days" in result.stdout + result.stderr and result.exit_code == 1


def test_explain_shows_each_value_and_where_it_came_from(cli, tmp_path):
    profiles = write(
        tmp_path,
        {
            "base/retry": FRAGMENT,
            "x": "extends: [base/retry]\n"
            + CALL
            + "campaign:\n  policy:\n    max_attempts_per_24h: 2\n  retry:\n    after: 30m\n",
        },
    )
    result = cli("explain", "x", profiles_dir=profiles)
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    on = 'on                    ["no-answer", "busy", "machine"]  profiles/base/retry.yaml:4:9'
    assert on in text
    assert "after                 30m" in text and "profiles/x.yaml:10:12" in text
    assert "max_attempts          3" in text and "profiles/base/retry.yaml:6:19" in text
    assert "max_attempts_per_24h  2" in text and "profiles/x.yaml:8:27" in text
    document = json.loads(cli("explain", "x", "-o", "json", profiles_dir=profiles).stdout)
    assert document["retry"]["after"] == {"value": "30m", "set_by": "profiles/x.yaml:10:12"}
    # Never in the request: the body has no campaign key, whatever the profile declares.
    assert not any(f["field"].startswith("campaign") for f in document["fields"])
    rendered = cli("render", "x", "--to", "+13125550111", "-o", "json", profiles_dir=profiles)
    assert rendered.exit_code == 0, rendered.stderr
    assert "campaign" not in rendered.stdout and "max_attempts" not in rendered.stdout


def test_diff_shows_the_effective_retry_rule(cli, tmp_path, monkeypatch):
    repo = make_repo(tmp_path, monkeypatch)
    repo.write("profiles/base/retry.yaml", FRAGMENT)
    repo.write("profiles/x.yaml", "extends: [base/retry]\n" + CALL)
    repo.commit("first")
    repo.write("profiles/base/retry.yaml", FRAGMENT.replace("2h", "4h").replace(", machine", ""))
    monkeypatch.chdir(repo.root)
    result = cli("diff", "--exit-code")
    assert result.exit_code == 1, result.stderr
    assert result.stdout.splitlines() == [
        "x: changed",
        '  ~ campaign.retry.on: ["no-answer", "busy", "machine"] -> ["no-answer", "busy"]',
        '  ~ campaign.retry.after: "2h" -> "4h"',
        "1 profile(s) compared with HEAD: 1 changed",
    ]
