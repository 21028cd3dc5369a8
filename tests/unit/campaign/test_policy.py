"""campaign.policy in a profile: checked by the profile schema at file:line:col, merged through
extends, and shown by explain with where each setting came from."""

from __future__ import annotations

import json

from tests.helpers.campaign import write_campaign_profiles


def test_explain_shows_each_setting_with_the_line_that_set_it(cli, tmp_path):
    profiles = write_campaign_profiles(tmp_path)
    result = cli("explain", "offer", "--to", "+13125550111", profiles_dir=profiles)
    assert result.exit_code == 0, result.stderr
    policy = result.stdout.split("\n\n")[1]
    assert policy == (
        "POLICY       VALUE          SET BY\n"
        "hours        us-federal     profiles/base/compliance.yaml:5:12\n"
        "state_rules  true           profiles/base/compliance.yaml:6:18\n"
        "consent      required       profiles/base/compliance.yaml:7:14\n"
        "purpose      telemarketing  profiles/offer.yaml:15:14"
    )
    # The built-in rules it turns on, each with its citation and the date it was checked.
    assert (
        "fl-hours            Florida     08:00-20:00      2026-11-01  Fla. Stat. 501.616(6)(a)"
        in (result.stdout)
    )
    assert "us-hours            federal     08:00-21:00      2026-11-01  47 CFR 64.1200(c)(1)" in (
        result.stdout
    )
    assert "not legal advice" in result.stdout


def test_a_child_overrides_or_removes_what_a_fragment_set(cli, tmp_path):
    profiles = write_campaign_profiles(tmp_path)
    (profiles / "late.yaml").write_text(
        "extends: reminder\n"
        "campaign:\n"
        "  policy:\n"
        '    hours: {start: "10:00", end: "18:00"}\n'
        "    consent: null\n"
        "    max_attempts_per_24h: 2\n",
        encoding="utf-8",
    )
    result = cli("explain", "late", "--to", "+13125550111", "-o", "json", profiles_dir=profiles)
    assert result.exit_code == 0, result.stderr
    settings = json.loads(result.stdout)["policy"]["settings"]
    assert settings == {
        "hours": {"value": "10:00-18:00", "set_by": "profiles/late.yaml:4:12"},
        "state_rules": {"value": True, "set_by": "profiles/base/compliance.yaml:6:18"},
        "purpose": {"value": "informational", "set_by": "profiles/reminder.yaml:9:14"},
        "max_attempts_per_24h": {"value": 2, "set_by": "profiles/late.yaml:6:27"},
        "quiet_days": {"value": ["2026-12-25"], "set_by": "profiles/reminder.yaml:10:17"},
    }


def test_a_profile_without_a_policy_shows_none(cli, tmp_path):
    profiles = write_campaign_profiles(tmp_path)
    (profiles / "plain.yaml").write_text(
        'connection_id: "c"\ncall:\n  From: "+13120001234"\n  AIAssistantId: "a"\n',
        encoding="utf-8",
    )
    result = cli("explain", "plain", "--to", "+13125550111", profiles_dir=profiles)
    assert result.exit_code == 0 and "POLICY" not in result.stdout
    result = cli("explain", "plain", "--to", "+13125550111", "-o", "json", profiles_dir=profiles)
    assert "policy" not in json.loads(result.stdout)


def test_validate_points_at_each_bad_policy_value(cli, tmp_path):
    profiles = write_campaign_profiles(tmp_path)
    (profiles / "bad.yaml").write_text(
        "extends: reminder\n"
        "campaign:\n"
        "  policy:\n"
        "    hours: federal\n"
        "    consent: requird\n"
        "    max_attempts_per_24h: 0\n"
        '    quiet_days: ["2026-12-25", "Christmas"]\n'
        "    callers: 3\n",
        encoding="utf-8",
    )
    result = cli("validate", profiles_dir=profiles)
    assert result.exit_code == 1
    assert result.stdout == (
        "profiles/bad.yaml:4:12: error: 'federal' is not one of us-federal; "
        "did you mean 'us-federal'? [CP101]\n"
        "profiles/bad.yaml:5:14: error: 'requird' is not one of required, not-required, null; "
        "did you mean 'required'? [CP101]\n"
        "profiles/bad.yaml:6:27: error: 0 is out of range: must be between 1 and 100 [CP101]\n"
        "profiles/bad.yaml:7:32: error: 'Christmas' is not a date like 2026-12-25 [CP101]\n"
        "profiles/bad.yaml:8:5: error: unknown field 'callers' in 'policy' [CP103]\n"
    )


def test_validate_finds_values_that_cannot_work_after_merging(cli, tmp_path):
    profiles = write_campaign_profiles(tmp_path)
    (profiles / "bad.yaml").write_text(
        "extends: reminder\n"
        "campaign:\n"
        "  policy:\n"
        '    hours: {start: "20:00", end: "09:00"}\n'
        "    quiet_days: [2026-02-30]\n",
        encoding="utf-8",
    )
    (profiles / "half.yaml").write_text(
        'extends: reminder\ncampaign:\n  policy:\n    hours: {end: "17:00"}\n', encoding="utf-8"
    )
    (profiles / "clock.yaml").write_text(
        'extends: reminder\ncampaign:\n  policy:\n    hours: {start: 9:00, end: "17:00"}\n',
        encoding="utf-8",
    )
    result = cli("validate", profiles_dir=profiles)
    assert result.exit_code == 1
    assert result.stdout == (
        "profiles/bad.yaml:4:34: error: hours end 09:00 is not after start 20:00; calling hours "
        "lie within one local day [CP601]\n"
        "profiles/bad.yaml:5:18: error: quiet day '2026-02-30' is not a calendar date [CP601]\n"
        "profiles/clock.yaml:4:20: error: YAML read the unquoted value 9:00 as an integer (540); "
        'quote it: "9:00" [CP102]\n'
        "profiles/half.yaml:4:12: error: hours needs both start and end (missing start) [CP601]\n"
    )


def test_the_rules_table_cites_every_rule_with_a_date(cli, tmp_path):
    """The shipped table: every rule has a citation and an as-of date, and at least the federal
    hours and the Florida and Oklahoma hours and caps are there."""
    from runner.campaign import rules

    table = {r.id: r for r in rules.table()}
    for rule in table.values():
        assert rule.citation and rule.as_of.year >= 2024 and rule.summary
    assert (str(table["us-hours"].start), str(table["us-hours"].end)) == ("08:00:00", "21:00:00")
    assert table["us-hours"].citation == "47 CFR 64.1200(c)(1)"
    for state in ("fl", "ok"):
        hours, cap = table[f"{state}-hours"], table[f"{state}-attempts"]
        assert (str(hours.start), str(hours.end), cap.max_per_24h) == ("08:00:00", "20:00:00", 3)
    assert rules.state_for_area_code("305") == "FL" and rules.state_for_area_code("918") == "OK"
    assert rules.state_for_area_code("800") is None  # toll-free: no state
