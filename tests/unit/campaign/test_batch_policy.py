"""The calling policy in batch, against the sandbox: every skip and deferral carries its rule
and citation (on stderr, in the ledger and in the report); calling hours are checked when a row
is read and again when its turn to dial comes; the 24-hour cap counts calls across batches."""

from __future__ import annotations

import csv
import json
import threading
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from runner.batch import engine
from runner.profiles.store import Store
from tests.helpers.batch import ledger_rows, states, write_contacts
from tests.helpers.env import API_KEY

FLORIDA, NEW_YORK, CHICAGO = "+13055550123", "+12125550123", "+13125550124"

POLICY_PROFILE = """\
description: Batch policy test profile.
connection_id: "conn-policy"
call:
  From: "+13120001234"
  AIAssistantId: "assistant-policy"
campaign:
  policy:
{policy}
"""


def write_policy_profile(root, policy: str, name: str = "offer"):
    path = root / "profiles" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(POLICY_PROFILE.format(policy=policy), encoding="utf-8")
    return root / "profiles"


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


@pytest.fixture
def client():
    from runner.send import submit

    made = submit.make_client()
    yield made
    made.close()


def run(profiles, contacts, server, client, now, **kw):
    opts = engine.Options(
        profile="offer",
        contacts=str(contacts),
        base_url=server.base_url,
        api_key=API_KEY,
        rate=1000,
        **kw,
    )
    events: list[engine.RowEvent] = []
    hooks = engine.Hooks(now=now, client=client, on_row=events.append)
    return engine.run(Store(profiles), opts, hooks), events


def test_a_florida_row_at_830_pm_is_deferred_citing_florida(tmp_path, server, client):
    profiles = write_policy_profile(tmp_path, "    hours: us-federal\n    state_rules: true")
    contacts = write_contacts(
        tmp_path / "c.csv", [{"to": FLORIDA}, {"to": NEW_YORK}, {"to": CHICAGO}]
    )
    report = tmp_path / "report.csv"
    at_830 = instant("2026-11-27T01:30:00Z")  # 20:30 in Miami and New York, 19:30 in Chicago
    outcome, events = run(profiles, contacts, server, client, lambda: at_830, report=str(report))
    assert sorted(server.numbers()) == [NEW_YORK, CHICAGO]
    assert outcome.exit_code() == 6  # not finished: the Florida row waits for its window
    (florida,) = [r for r in ledger_rows(tmp_path / "c.csv.ledger.db") if r["e164"] == FLORIDA]
    assert florida["state"] == "deferred"
    assert florida["reason"] == (
        "20:30 in America/New_York is outside 08:00-20:00 [fl-hours: Fla. Stat. 501.616(6)(a)]; "
        "next allowed 2026-11-27T13:00Z"
    )
    assert [e.kind for e in events] == ["deferred"] and "Fla. Stat." in events[0].message
    with open(report, encoding="utf-8", newline="") as fh:
        reported = {r["to"]: r for r in csv.DictReader(fh)}
    assert "fl-hours: Fla. Stat. 501.616(6)(a)" in reported["'" + FLORIDA]["reason"]
    # The next morning the same command calls it.
    later, _ = run(profiles, contacts, server, client, lambda: instant("2026-11-27T13:00:00Z"))
    assert later.exit_code() == 0 and Counter(server.numbers())[FLORIDA] == 1


def test_hours_are_checked_again_when_the_rows_turn_comes(tmp_path, server, client):
    """A row read at 19:59 in Miami but dialled at 20:01 is deferred, not called."""
    profiles = write_policy_profile(tmp_path, "    state_rules: true")
    contacts = write_contacts(tmp_path / "c.csv", [{"to": FLORIDA}])
    read_at, dial_at = instant("2026-11-27T00:59:00Z"), instant("2026-11-27T01:01:00Z")
    turned = threading.Event()

    opts = engine.Options(
        profile="offer", contacts=str(contacts), base_url=server.base_url, api_key=API_KEY,
        rate=1000,
    )  # fmt: skip
    # The row is admitted (main thread), then progress is reported before it is queued for a
    # worker: the clock moves there, so the worker's check sees 20:01.
    hooks = engine.Hooks(
        now=lambda: dial_at if turned.is_set() else read_at,
        client=client,
        on_progress=lambda progress: turned.set() if progress.scanned else None,
    )
    outcome = engine.run(Store(profiles), opts, hooks)
    assert server.posts == []
    (row,) = ledger_rows(tmp_path / "c.csv.ledger.db")
    assert row["state"] == "deferred" and "20:01 in America/New_York" in row["reason"]
    assert "fl-hours" in row["reason"] and outcome.exit_code() == 6


def test_the_24_hour_cap_counts_calls_across_batches(
    tmp_path, server, client, monkeypatch, ledger_spec
):
    # Both backends: the cap is checked inside the claim's transaction, in SQLite and PostgreSQL.
    monkeypatch.chdir(tmp_path)  # files are named relative to the working directory
    profiles = write_policy_profile(tmp_path, "    max_attempts_per_24h: 1")
    ledger = ledger_spec
    monday = write_contacts(tmp_path / "one.csv", [{"to": CHICAGO}, {"to": NEW_YORK}])
    tuesday = write_contacts(tmp_path / "two.csv", [{"to": CHICAGO}, {"to": FLORIDA}])
    noon = instant("2026-11-26T18:00:00Z")
    first, _ = run(profiles, monday, server, client, lambda: noon, ledger=ledger)
    assert first.exit_code() == 0
    # --min-interval 0 turns the repeat guard off: only the policy's cap stands.
    later = instant("2026-11-26T20:00:00Z")
    second, events = run(
        profiles,
        tuesday,
        server,
        client,
        lambda: later,
        ledger=ledger,
        min_interval=timedelta(0),
    )
    assert Counter(server.numbers()) == Counter([CHICAGO, NEW_YORK, FLORIDA])
    capped = {r["e164"]: r for r in ledger_rows(ledger) if r["state"] == "deferred"}
    assert list(capped) == [CHICAGO]
    assert capped[CHICAGO]["reason"] == (
        "1 call(s) to this number in the last 24 h; at most 1 allowed "
        "[policy.max_attempts_per_24h: at profiles/offer.yaml:8:27]"
    )
    assert second.exit_code() == 6 and [e.kind for e in events] == ["deferred"]
    # A day later the cap no longer holds.
    next_day = instant("2026-11-27T18:30:00Z")
    third, _ = run(profiles, tuesday, server, client, lambda: next_day, ledger=ledger)
    assert third.exit_code() == 0 and Counter(server.numbers())[CHICAGO] == 2


def test_floridas_three_calls_a_day_across_four_batches(tmp_path, server, client, ledger_spec, cli):
    profiles = write_policy_profile(tmp_path, "    state_rules: true")
    ledger = ledger_spec
    zero = timedelta(0)
    for n in range(4):
        contacts = write_contacts(tmp_path / f"b{n}.csv", [{"to": FLORIDA, "n": str(n)}])
        at = instant(f"2026-11-26T{15 + n}:00:00Z")  # 10:00-13:00 in Miami
        outcome, _ = run(profiles, contacts, server, client, lambda at=at: at, ledger=ledger,
                         min_interval=zero)  # fmt: skip
        assert outcome.exit_code() == (0 if n < 3 else 6), n
    assert Counter(server.numbers())[FLORIDA] == 3
    last = [r for r in ledger_rows(ledger) if r["state"] == "deferred"]
    assert len(last) == 1 and last[0]["reason"].endswith(
        "at most 3 allowed [fl-attempts: Fla. Stat. 501.616(6)(b)]"
    )
    # can-call reads the same count from the ledger (either backend).
    asked = cli("can-call", FLORIDA, "--at", "2026-11-26T19:30:00Z", "--ledger", ledger, "-o",
                "json")  # fmt: skip
    assert asked.exit_code == 1, asked.stderr
    assert "fl-attempts" in {r["rule"] for r in json.loads(asked.stdout)["rules"] if not r["ok"]}


def test_consent_cases_in_a_batch(cli, tmp_path, server, monkeypatch):
    monkeypatch.setenv("TELNYX_API_KEY", API_KEY)
    monkeypatch.setenv("TELNYX_BASE_URL", server.base_url)
    profiles = write_policy_profile(tmp_path, "    consent: required\n    purpose: telemarketing")
    rows = [
        {"to": "+13125550101", "consent": "written", "consent_date": "2026-01-05"},
        {"to": "+13125550102", "consent": "express", "consent_date": "2026-01-05"},
        {"to": "+13125550103"},
        {"to": "+13125550104", "consent": "maybe", "consent_date": "2026-01-05"},
        {"to": "+13125550105", "consent": "written", "consent_date": "last year"},
    ]
    contacts = write_contacts(tmp_path / "c.csv", rows, ["to", "consent", "consent_date"])
    dry = cli("batch", "offer", "--contacts", str(contacts), "--dry-run", profiles_dir=profiles)
    assert "2 invalid" in dry.stderr and "2 refused by the calling policy" in dry.stderr
    result = cli("batch", "offer", "--contacts", str(contacts), "--rate", "1000",
                 profiles_dir=profiles)  # fmt: skip
    assert result.exit_code == 1, result.stderr  # invalid rows: fix them
    assert server.numbers() == ["+13125550101"]
    err = result.stderr
    assert "c.csv row 3: policy: +1312***0102: telemarketing needs prior express written" in err
    assert "[CP603]" in err and "c.csv row 5:" in err and "'maybe' is not one of" in err
    assert "c.csv row 6:" in err and "consent_date: 'last year' is not a date" in err
    by_row = {r["row_no"]: r for r in ledger_rows(tmp_path / "c.csv.ledger.db")}
    assert by_row[2]["state"] == "placed"
    assert (by_row[3]["skip_kind"], by_row[4]["skip_kind"]) == ("policy", "policy")
    assert "us-written-consent: 47 CFR 64.1200(a)(2)-(3)" in by_row[3]["reason"]
    assert "no consent evidence" in by_row[4]["reason"]
    assert (by_row[5]["skip_kind"], by_row[6]["skip_kind"]) == ("invalid", "invalid")
    assert states(tmp_path / "c.csv.ledger.db") == {"placed": 1, "skipped": 4}


def test_window_flag_replaces_the_policy_hours_and_says_so(cli, tmp_path, server, monkeypatch):
    monkeypatch.setenv("TELNYX_API_KEY", API_KEY)
    monkeypatch.setenv("TELNYX_BASE_URL", server.base_url)
    profiles = write_policy_profile(tmp_path, '    hours: {start: "09:00", end: "17:00"}')
    contacts = write_contacts(tmp_path / "c.csv", [{"to": CHICAGO}])
    result = cli("batch", "offer", "--contacts", str(contacts), "--window", "00:00-23:59",
                 "--dry-run", profiles_dir=profiles)  # fmt: skip
    assert (
        "--window 00:00-23:59 replaces hours 09:00-17:00 set at profiles/offer.yaml:8:12 "
        "for this run" in result.stderr
    )


def test_rows_outside_the_applied_plan_are_not_called(tmp_path, server, client):
    """apply hands the engine the plan's rows: any other row (one whose verdict changed with
    time since the plan) is skipped as unplanned, and the batch still accounts for it."""
    profiles = write_policy_profile(tmp_path, "    state_rules: true")
    contacts = write_contacts(tmp_path / "c.csv", [{"to": NEW_YORK}, {"to": CHICAGO}])
    noon = instant("2026-11-26T18:00:00Z")
    outcome, events = run(
        profiles, contacts, server, client, lambda: noon, only_rows=frozenset({2})
    )
    assert server.numbers() == [NEW_YORK]
    rows = {r["row_no"]: r for r in ledger_rows(tmp_path / "c.csv.ledger.db")}
    assert (rows[3]["state"], rows[3]["skip_kind"]) == ("skipped", "unplanned")
    assert [e.kind for e in events] == ["unplanned"] and outcome.exit_code() == 0
