"""--to/--from go through the same normalisation as contacts, and masking never hides a user's
own unusable input (issue 9, item 9)."""

from __future__ import annotations

import csv
import json

import pytest

from tests.helpers.batch import write_contacts, write_profile
from tests.helpers.env import API_KEY

REMINDER = ("appointment-reminder", "--var", "customer_name=Ada", "--var", "appointment_time=x")


def test_run_accepts_what_batch_accepts(cli, profiles):
    result = cli(
        "run", *REMINDER, "--to", "+1 (613) 555-0199", "--from", "+1 312-555-0142", "--dry-run",
        "-o", "json", profiles_dir=profiles,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    body = json.loads(result.stdout)["request"]["body"]
    assert (body["To"], body["From"]) == ("+16135550199", "+13125550142")


@pytest.mark.parametrize("value", ["+1 555", "call me", "+1-613-555-01999"])
def test_an_unusable_number_is_shown_as_given(cli, profiles, value):
    result = cli("run", *REMINDER, "--to", value, "--dry-run", profiles_dir=profiles)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"--to: error: {value!r} is not a ")
    assert "[CP017]" in result.stderr and "***" not in result.stderr


def test_batch_shows_invalid_numbers_as_given_and_masks_valid_ones(
    cli, tmp_path, server, monkeypatch
):
    monkeypatch.setenv("TELNYX_API_KEY", API_KEY)
    monkeypatch.setenv("TELNYX_BASE_URL", server.base_url)
    profiles = write_profile(tmp_path)
    rows = [
        {"to": "+13125550123", "name": "A"},
        {"to": "+1 555", "name": "B"},
        {"to": "+1 (312) 555-0123", "name": "C"},  # the same number as row 2
    ]
    contacts = write_contacts(tmp_path / "c.csv", rows)
    report = tmp_path / "report.csv"
    args = ("batch", "remind", "--contacts", str(contacts), "--report", str(report))
    result = cli(*args, "--rate", "1000", profiles_dir=profiles)
    assert result.exit_code == 1, result.stderr
    assert "row 3: error: '+1 555' is not a valid phone number" in result.stderr
    assert "row 4: duplicate: +1312***0123 is also on row 2" in result.stderr
    with open(report, encoding="utf-8", newline="") as fh:
        by_row = {r["row"]: r for r in csv.DictReader(fh)}
    assert by_row["3"]["to"] == "'+1 555"  # as given (quoted against formulas), not empty
    assert by_row["2"]["to"] == "'+13125550123"


def test_a_bad_do_not_call_line_is_shown_as_given(cli, tmp_path):
    profiles = write_profile(tmp_path)
    contacts = write_contacts(tmp_path / "c.csv", [{"to": "+13125550123", "name": "A"}])
    dnc = tmp_path / "dnc.txt"
    dnc.write_text("+13125550199\nnotanumber\n", encoding="utf-8")
    args = ("batch", "remind", "--contacts", str(contacts), "--dnc", str(dnc), "--dry-run")
    result = cli(*args, profiles_dir=profiles)
    assert result.exit_code == 1
    assert "dnc.txt:2:1: error: not a phone number on the do-not-call list: 'notanumber'" in (
        result.stderr
    )
