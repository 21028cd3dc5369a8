"""apply: runs exactly a plan's calls through the batch machinery, against the sandbox, or
refuses (exit 1, nothing sent) naming every input that changed; an expired or edited plan is
refused; secrets are read when it runs; hours are checked again when each row's turn comes."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from tests.helpers.batch import ledger_rows
from tests.helpers.env import API_KEY

BASE = """\
description: Consent policy for every campaign.
abstract: true
connection_id: "conn-apply"
campaign:
  policy:
    consent: required
"""
MID = """\
description: The sales line.
abstract: true
extends: base/compliance
call:
  From: "+13120001234"
"""
OFFER = """\
description: An informational call.
extends: sales/line
variables:
  name:
    required: true
call:
  AIAssistantId: "assistant-apply"
  AIAssistantDynamicVariables:
    name: "{{ name }}"
    pin: "{{ env.CALLPROFILE_PIN }}"
"""
PIN = "pin-8a7f-secret"
CONTACTS = (
    "to,name,consent,consent_date\n"
    "+13125550101,Ada,written,2026-01-05\n"
    "+13125550102,Bo,,\n"  # no consent: skipped by the plan, and by apply
    "+13125550103,Cy,express,2026-01-05\n"
)


@pytest.fixture
def world(tmp_path, monkeypatch, server):
    monkeypatch.setenv("TELNYX_API_KEY", API_KEY)
    monkeypatch.setenv("TELNYX_BASE_URL", server.base_url)
    monkeypatch.setenv("CALLPROFILE_PIN", PIN)
    for name, text in {"base/compliance": BASE, "sales/line": MID, "offer": OFFER}.items():
        path = tmp_path / "profiles" / f"{name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (tmp_path / "contacts.csv").write_text(CONTACTS, encoding="utf-8")
    (tmp_path / "dnc.txt").write_text("+13125550199\n", encoding="utf-8")
    return tmp_path


def plan(cli, *args):
    result = cli(
        "plan", "offer", "--contacts", "contacts.csv", "--dnc", "dnc.txt", "--out", "offer.plan",
        *args,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    return result


def apply(cli, *args):
    return cli("apply", "offer.plan", "--rate", "1000", *args)


def test_an_unchanged_plan_applies_exactly_its_calls(cli, world, server):
    plan(cli)
    text = (world / "offer.plan").read_text("utf-8")
    assert PIN not in text and API_KEY not in text
    result = apply(cli, "--report", "report.csv")
    assert result.exit_code == 0, result.stderr
    assert sorted(server.numbers()) == ["+13125550101", "+13125550103"]
    # The secret was referenced in the plan and read when the plan ran.
    assert {p["body"]["AIAssistantDynamicVariables"]["pin"] for p in server.posts} == {PIN}
    assert "applying offer.plan: profile offer, 2 planned call(s) of 3 row(s)" in result.stderr
    rows = {r["row_no"]: r for r in ledger_rows(world / "contacts.csv.ledger.db")}
    assert (rows[3]["state"], rows[3]["skip_kind"]) == ("skipped", "policy")
    assert "us-consent" in rows[3]["reason"]
    # Applying again resumes the same batch: nothing is sent twice.
    again = apply(cli)
    assert again.exit_code == 0, again.stderr
    assert len(server.posts) == 2


def add_fragment(world):
    (world / "profiles/extra.yaml").write_text("abstract: true\n", encoding="utf-8")
    line = world / "profiles/sales/line.yaml"
    line.write_text(
        MID.replace("extends: base/compliance", "extends: [base/compliance, extra]"), "utf-8"
    )


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (
            lambda w: (w / "profiles/base/compliance.yaml").write_text(
                BASE.replace("Consent policy", "The consent policy"), encoding="utf-8"
            ),
            ["profile file profiles/base/compliance.yaml changed"],
        ),
        (
            lambda w: (w / "contacts.csv").write_text(
                CONTACTS.replace("+13125550103,Cy", "+13125550104,Cy"), encoding="utf-8"
            ),
            ["contacts contacts.csv changed"],
        ),
        (
            lambda w: (w / "dnc.txt").write_text("+13125550199\n+13125550101\n", encoding="utf-8"),
            ["do-not-call list dnc.txt changed"],
        ),
        (
            lambda w: (w / "profiles/base/compliance.yaml").write_text(
                BASE.replace("consent: required", "consent: not-required"), encoding="utf-8"
            ),
            ["profile file profiles/base/compliance.yaml changed", "policy changed"],
        ),
        (
            add_fragment,
            [
                "profile file profiles/sales/line.yaml changed",
                "profile file profiles/extra.yaml is a new input",
            ],
        ),
    ],
    ids=["fragment-two-levels-up", "one-contacts-row", "dnc-list", "policy", "new-fragment"],
)
def test_a_changed_input_refuses_and_is_named(cli, world, server, change, named):
    plan(cli)
    change(world)
    result = apply(cli)
    assert result.exit_code == 1
    assert "[CP623]" in result.stderr and "nothing was sent" in result.stderr
    for text in named:
        assert text in result.stderr, result.stderr
    assert server.posts == []
    assert not (world / "contacts.csv.ledger.db").exists()


def test_an_expired_plan_is_refused(cli, world, server):
    plan(cli, "--at", "2026-01-01T09:00:00Z", "--valid-for", "2h")
    result = apply(cli)
    assert result.exit_code == 1
    assert result.stderr == (
        "callprofile: error: offer.plan: the plan expired at 2026-01-01T11:00:00Z (made "
        "2026-01-01T09:00:00Z); plan again (plan --valid-for sets how long a plan stays valid); "
        "nothing was sent [CP622]\n"
    )
    assert server.posts == []


def test_an_edited_or_truncated_plan_is_refused(cli, world, server):
    plan(cli)
    path = world / "offer.plan"
    lines = path.read_text("utf-8").splitlines(keepends=True)
    path.write_text("".join(lines).replace("+13125550103", "+13125550177"), encoding="utf-8")
    result = apply(cli)
    assert result.exit_code == 1 and "it was edited" in result.stderr and "[CP620]" in result.stderr
    path.write_text("".join(lines[:-1]), encoding="utf-8")
    result = apply(cli)
    assert result.exit_code == 1 and "cut short" in result.stderr
    path.write_text("to,name\n", encoding="utf-8")
    result = apply(cli)
    assert result.exit_code == 1 and "not a plan file" in result.stderr
    assert cli("apply", "missing.plan").exit_code == 1
    assert server.posts == []


def test_a_row_that_renders_differently_refuses(cli, world, server, monkeypatch):
    """No file changed, but the connection id comes from the environment and it did."""
    base = world / "profiles/base/compliance.yaml"
    base.write_text(BASE.replace('connection_id: "conn-apply"\n', ""), encoding="utf-8")
    monkeypatch.setenv("TELNYX_CONNECTION_ID", "conn-one")
    plan(cli)
    monkeypatch.setenv("TELNYX_CONNECTION_ID", "conn-two")
    result = apply(cli)
    assert result.exit_code == 1 and "[CP624]" in result.stderr
    assert "row 2, row 4" in result.stderr
    assert server.posts == []


def test_a_planned_row_outside_its_window_when_its_turn_comes_is_deferred(cli, world, server):
    """Planned twelve hours ago inside a one-hour window; now it is outside: deferred."""
    then = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=12)
    local = then.astimezone(ZoneInfo("America/Chicago"))
    start = local.replace(minute=0)
    window = f"{start:%H:%M}-{start + timedelta(hours=1):%H:%M}"
    at = then.strftime("%Y-%m-%dT%H:%M:%SZ")
    result = plan(cli, "--at", at, "--window", window, "-o", "json")
    assert json.loads(result.stdout)["summary"]["call"] == 2
    result = apply(cli)
    assert result.exit_code == 6, result.stderr  # not finished: run again inside the window
    assert server.posts == []
    rows = {r["row_no"]: r for r in ledger_rows(world / "contacts.csv.ledger.db")}
    assert rows[2]["state"] == rows[4]["state"] == "deferred"
    assert f"outside {window} [policy.hours: --window {window}]" in rows[2]["reason"]
