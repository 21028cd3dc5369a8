"""validate --format sarif: a SARIF 2.1.0 log that the official schema accepts, one rule per
code with help text, results at file/line/column, and fingerprints that survive moved lines."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from tests.helpers.env import ROOT

SCHEMA = json.loads((ROOT / "tests/data/sarif-schema-2.1.0.json").read_text("utf-8"))

GOOD = 'connection_id: "c"\ncall:\n  From: "+13120001234"\n  AIAssistantId: "a"\n'
BAD = (
    'connection_id: "c"\n'
    "call:\n"
    '  From: "+13120001234"\n'
    '  AIAssistantId: "a"\n'
    '  Timeout: "soon"\n'
    '  StatusCallback: "http://example.com/cb"\n'
)
POLICY = GOOD + 'campaign:\n  policy:\n    hours: {start: "20:00", end: "09:00"}\n'
NO_CALL = 'connection_id: "c"\n'


def profiles(tmp_path: Path, clean: bool = False) -> Path:
    root = tmp_path / "profiles"
    root.mkdir(parents=True, exist_ok=True)
    (root / "good.yaml").write_text(GOOD, encoding="utf-8")
    if not clean:
        (root / "bad.yaml").write_text(BAD, encoding="utf-8")
        (root / "policy.yaml").write_text(POLICY, encoding="utf-8")
        (root / "nocall.yaml").write_text(NO_CALL, encoding="utf-8")
    return root


def sarif_log(cli, root: Path) -> dict:
    result = cli("validate", "--format", "sarif", profiles_dir=root)
    assert result.exit_code == 1, result.stderr  # errors found: the same exit as text
    return json.loads(result.stdout)


def test_sarif_output_is_valid_against_the_official_schema(cli, tmp_path):
    log = sarif_log(cli, profiles(tmp_path))
    errors = sorted(jsonschema.Draft4Validator(SCHEMA).iter_errors(log), key=str)
    assert errors == [], [e.message for e in errors]
    assert log["version"] == "2.1.0"
    # A clean directory gives a valid log with no results.
    root = profiles(tmp_path / "clean", clean=True)
    result = cli("validate", "--format", "sarif", profiles_dir=root)
    assert result.exit_code == 0
    clean = json.loads(result.stdout)
    assert list(jsonschema.Draft4Validator(SCHEMA).iter_errors(clean)) == []
    assert clean["runs"][0]["results"] == []


def test_rules_carry_help_text_and_results_carry_regions(cli, tmp_path):
    root = profiles(tmp_path)
    run = sarif_log(cli, root)["runs"][0]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert set(rules) == {"CP101", "CP301", "CP407", "CP601"}
    for rule in rules.values():
        assert rule["help"]["text"] and rule["shortDescription"]["text"]
    assert rules["CP407"]["defaultConfiguration"]["level"] == "warning"
    assert rules["CP407"]["help"]["text"].startswith("Callback URL that is not https.")
    found = {
        (r["ruleId"], r["level"]): r["locations"][0]["physicalLocation"] for r in run["results"]
    }
    timeout = found[("CP101", "error")]
    assert timeout["artifactLocation"]["uri"] == "profiles/bad.yaml"
    assert (timeout["region"]["startLine"], timeout["region"]["startColumn"]) == (5, 12)
    policy = found[("CP601", "error")]
    assert policy["artifactLocation"]["uri"] == "profiles/policy.yaml"
    assert (policy["region"]["startLine"], policy["region"]["startColumn"]) == (7, 34)
    # A problem of the whole profile (no call at all) is placed on the profile's file.
    assert found[("CP301", "error")]["artifactLocation"]["uri"] == "profiles/nocall.yaml"
    assert found[("CP301", "error")]["region"] == {"startLine": 1, "startColumn": 1}
    for result in run["results"]:
        assert rules[result["ruleId"]] == run["tool"]["driver"]["rules"][result["ruleIndex"]]
    # The same findings as the text format, in the same order.
    text = cli("validate", "--format", "text", profiles_dir=root).stdout.splitlines()
    assert [line.rsplit("[", 1)[1].rstrip("]") for line in text] == [
        r["ruleId"] for r in run["results"]
    ]


def test_fingerprints_are_stable_when_lines_move(cli, tmp_path):
    root = profiles(tmp_path)
    before = sarif_log(cli, root)["runs"][0]["results"]
    for name, text in (("bad", BAD), ("policy", POLICY)):
        (root / f"{name}.yaml").write_text("# a comment added on top\n\n" + text, "utf-8")
    after = sarif_log(cli, root)["runs"][0]["results"]

    def prints(results):
        return [r["partialFingerprints"]["callprofile/v1"] for r in results]

    assert prints(before) == prints(after)
    assert len(set(prints(before))) == len(before)
    lines = [r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in before]
    moved = [r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in after]
    assert [m - n for m, n in zip(moved, lines, strict=True)] == [0, 0, 2, 2, 2]
