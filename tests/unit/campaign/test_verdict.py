"""The verdict for one number, through ``callprofile can-call``: calling hours in the callee's
local time across DST changes and two-zone area codes, the state rules table, consent, and
do-not-call revocations. Exit 0 callable, 1 not."""

from __future__ import annotations

import json
import socket

import pytest

from tests.helpers.campaign import write_campaign_profiles

NEW_YORK, FLORIDA, OKLAHOMA = "+12125550123", "+13055550123", "+14055550123"
IDAHO = "+12085550123"  # area code 208: America/Boise and America/Los_Angeles
TOLL_FREE = "+18005550123"


def verdict(cli, number, at, *args, profiles_dir=None):
    result = cli("can-call", number, "--at", at, "-o", "json", *args, profiles_dir=profiles_dir)
    assert result.exit_code in (0, 1), result.stderr
    data = json.loads(result.stdout)
    assert result.exit_code == (0 if data["callable"] else 1)
    return data


def failing(data):
    return {r["rule"]: r for r in data["rules"] if not r["ok"]}


@pytest.mark.parametrize(
    ("at", "callable_"),
    [
        # Spring forward: Sunday 8 March 2026, 02:00 in New York. 12:30 UTC is 08:30 EDT that
        # morning; a fixed UTC-5 offset would say 07:30 and refuse.
        ("2026-03-08T12:30:00Z", True),
        ("2026-03-07T12:30:00Z", False),  # the day before: 07:30 EST
        ("2026-03-08T01:59:00Z", True),  # 20:59 EST on the 7th
        ("2026-03-08T02:00:00Z", False),  # 21:00 EST: the end is exclusive
        # Fall back: Sunday 1 November 2026. 12:30 UTC is 07:30 EST now (08:30 the day before).
        ("2026-11-01T12:30:00Z", False),
        ("2026-10-31T12:30:00Z", True),
        ("2026-11-02T00:59:00Z", True),  # 19:59 EST
        ("2026-11-01T00:59:00Z", True),  # 20:59 EDT on 31 October
        ("2026-11-01T01:00:00Z", False),  # 21:00 EDT
    ],
)
def test_federal_hours_follow_daylight_saving_in_the_callees_zone(cli, at, callable_):
    data = verdict(cli, NEW_YORK, at)
    assert data["callable"] is callable_
    if not callable_:
        assert failing(data)["us-hours"]["citation"] == "47 CFR 64.1200(c)(1)"
        assert failing(data)["us-hours"]["code"] == "CP614"


def test_next_allowed_time_crosses_the_dst_change(cli):
    # 21:30 EST on Saturday 7 March; the next morning is already on EDT (UTC-4).
    data = verdict(cli, NEW_YORK, "2026-03-08T02:30:00Z")
    assert data["next_allowed"] == "2026-03-08T12:00:00Z"
    data = verdict(cli, NEW_YORK, "2026-11-01T02:30:00Z")  # 22:30 EDT, then EST
    assert data["next_allowed"] == "2026-11-01T13:00:00Z"


@pytest.mark.parametrize(
    ("at", "callable_", "outside"),
    [
        ("2026-11-26T15:30:00Z", False, "07:30 in America/Los_Angeles"),  # 08:30 in Boise
        ("2026-11-26T16:00:00Z", True, None),  # 09:00 Boise, 08:00 Los Angeles
        ("2026-11-27T03:59:00Z", True, None),  # 20:59 Boise
        ("2026-11-27T04:00:00Z", False, "21:00 in America/Boise"),  # though 20:00 in LA
    ],
)
def test_an_area_code_spanning_two_zones_gets_the_intersection(cli, at, callable_, outside):
    data = verdict(cli, IDAHO, at)
    assert data["time_zones"] == ["America/Boise", "America/Los_Angeles"]
    assert data["callable"] is callable_
    if outside:
        assert failing(data)["us-hours"]["message"].startswith(outside)


def test_a_florida_number_at_830_pm_local_is_refused_citing_florida(cli):
    at = "2026-11-27T01:30:00Z"  # 20:30 in Miami (EST)
    data = verdict(cli, FLORIDA, at)
    assert data["callable"] is False and data["verdict"] == "defer"
    assert data["state"] == "FL (area code 305)"
    blocked = failing(data)
    assert list(blocked) == ["fl-hours"]  # federal hours (to 21:00) allow it
    assert blocked["fl-hours"]["citation"] == "Fla. Stat. 501.616(6)(a)"
    assert blocked["fl-hours"]["message"] == "20:30 in America/New_York is outside 08:00-20:00"
    assert data["next_allowed"] == "2026-11-27T13:00:00Z"
    # The text form says the same, and that it is not legal advice.
    result = cli("can-call", FLORIDA, "--at", at)
    assert result.exit_code == 1
    assert "NOT NOW" in result.stdout and "Fla. Stat. 501.616(6)(a)" in result.stdout
    assert "not legal advice" in result.stdout
    # New York at the same instant: only the federal rule applies, and it allows 20:30.
    assert verdict(cli, NEW_YORK, at)["callable"] is True
    # 19:59 in Miami is fine.
    assert verdict(cli, FLORIDA, "2026-11-27T00:59:00Z")["callable"] is True


def test_oklahoma_and_a_given_state_and_an_unknown_state(cli):
    at = "2026-11-27T02:30:00Z"  # 20:30 in Oklahoma City (CST), 21:30 in New York
    assert "ok-hours" in failing(verdict(cli, OKLAHOMA, at))
    # A New York number whose callee is known to live in Florida: the strictest rule wins.
    at = "2026-11-27T01:30:00Z"  # 20:30 in New York
    data = verdict(cli, NEW_YORK, at, "--state", "fl")
    assert data["state"] == "NY (area code 212), FL (given)" and "fl-hours" in failing(data)
    # A toll-free number has no state: the federal rule and the strictest candidate apply.
    data = verdict(cli, TOLL_FREE, at, "--timezone", "America/New_York")
    blocked = failing(data)
    assert set(blocked) == {"fl-hours", "ok-hours"}
    assert "state unknown: strictest candidate applies" in blocked["fl-hours"]["citation"]
    # Without a zone the toll-free number cannot be placed in time at all.
    data = verdict(cli, TOLL_FREE, "2026-11-26T18:00:00Z")
    assert failing(data)["time-zone"]["code"] == "CP617"


def test_a_profile_with_consent_required(cli, tmp_path):
    profiles = write_campaign_profiles(tmp_path)
    at = "2026-11-26T18:00:00Z"  # 13:00 in New York

    def check(profile, *args):
        return verdict(cli, NEW_YORK, at, "--profile", profile, *args, profiles_dir=profiles)

    # No consent on record: skipped (waiting will not help), citing the rule and the profile.
    data = check("reminder")
    assert data["verdict"] == "skip"
    rule = failing(data)["us-consent"]
    assert rule["code"] == "CP610"
    assert "FCC 24-17" in rule["citation"]
    assert "consent: required at profiles/base/compliance.yaml:7:14" in rule["citation"]
    # Express consent is enough for an informational call...
    assert check("reminder", "--consent", "express", "--consent-date", "2026-01-05")["callable"]
    # ...not for telemarketing, which needs it written.
    data = check("offer", "--consent", "express", "--consent-date", "2026-01-05")
    rule = failing(data)["us-written-consent"]
    assert rule["code"] == "CP611" and "64.1200(a)(2)" in rule["citation"]
    assert "purpose: telemarketing at profiles/offer.yaml:15:14" in rule["citation"]
    assert check("offer", "--consent", "written", "--consent-date", "2026-01-05")["callable"]
    # Consent without a date, or dated in the future, is not evidence.
    assert failing(check("offer", "--consent", "written"))["us-written-consent"]["code"] == "CP610"
    data = check("offer", "--consent", "written", "--consent-date", "2027-01-05")
    assert "in the future" in failing(data)["us-written-consent"]["message"]


def test_quiet_days_in_the_callees_local_date(cli, tmp_path):
    profiles = write_campaign_profiles(tmp_path)
    args = ("--profile", "reminder", "--consent", "express", "--consent-date", "2026-01-05")
    # 25 December 2026 in Los Angeles, though already the 26th in UTC.
    data = verdict(cli, "+13105550123", "2026-12-26T03:00:00Z", *args, profiles_dir=profiles)
    rule = failing(data)["policy.quiet_days"]
    assert (
        rule["code"] == "CP615" and rule["citation"] == "quiet_days at profiles/reminder.yaml:10:17"
    )
    assert data["next_allowed"] == "2026-12-26T16:00:00Z"  # 08:00 on the 26th in Los Angeles


def test_do_not_call_entries_and_dated_revocations(cli, tmp_path):
    dnc = tmp_path / "dnc.txt"
    dnc.write_text(
        f"# company do-not-call list\n{NEW_YORK}\n+1 305 555 0123, 2026-05-01\n", encoding="utf-8"
    )
    at = "2026-11-26T18:00:00Z"
    data = verdict(cli, NEW_YORK, at, "--dnc", str(dnc))
    assert failing(data)["us-dnc"]["code"] == "CP612" and data["verdict"] == "skip"
    # Consent older than the revocation does not count; consent given since does.
    data = verdict(
        cli, FLORIDA, at, "--dnc", str(dnc), "--consent", "written", "--consent-date", "2026-01-01"
    )
    rule = failing(data)["us-revocation"]
    assert rule["code"] == "CP613" and rule["citation"].startswith("47 CFR 64.1200(a)(10)")
    data = verdict(
        cli, FLORIDA, at, "--dnc", str(dnc), "--consent", "written", "--consent-date", "2026-06-01"
    )
    assert data["callable"] is True


def test_bad_flags_are_usage_errors(cli, tmp_path):
    for args, flag in [
        (("12",), "NUMBER"),
        (("+12125550123", "--at", "2026-11-26T18:00:00"), "--at"),
        (("+12125550123", "--at", "tomorrow"), "--at"),
        (("+12125550123", "--state", "Florida"), "--state"),
        (("+12125550123", "--timezone", "../etc/passwd"), "--timezone"),
        (("+12125550123", "--consent-date", "last week"), "--consent-date"),
    ]:
        result = cli("can-call", *args)
        assert result.exit_code == 2, (args, result.stdout)
        assert flag in result.stderr and "Traceback" not in result.stderr
    dnc = tmp_path / "dnc.txt"
    dnc.write_text("+12125550123, 2026-02-30\n", encoding="utf-8")
    result = cli("can-call", NEW_YORK, "--dnc", str(dnc))
    assert result.exit_code == 1
    assert result.stderr == (
        f"{dnc}:1:15: error: '2026-02-30' on the do-not-call list is not a calendar date [CP506]\n"
    )


def test_bad_ledgers_are_refused_without_a_traceback(cli, tmp_path):
    with socket.socket() as probe:  # a port nobody listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    missing = cli("can-call", NEW_YORK, "--ledger", str(tmp_path / "none.db"))
    assert missing.exit_code == 2 and "--ledger" in missing.stderr
    secret = cli("can-call", NEW_YORK, "--ledger", "postgresql://calls:hunter2@127.0.0.1/calls")
    assert secret.exit_code == 2 and "password" in secret.stderr
    assert "hunter2" not in secret.stderr + secret.stdout
    away = f"postgresql://postgres@127.0.0.1:{closed_port}/calls"
    unreachable = cli("can-call", NEW_YORK, "--ledger", away)
    assert unreachable.exit_code == 6, unreachable.stderr
    for result in (missing, secret, unreachable):
        assert "Traceback" not in result.stderr
