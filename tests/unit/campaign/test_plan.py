"""plan: every row rendered and judged, frozen in a file that is byte-identical for the same
inputs and time, holds no secret, and summarises itself for review."""

from __future__ import annotations

import json

from tests.helpers.campaign import write_campaign_profiles
from tests.helpers.env import SIP_PASSWORD

AT = "2026-11-27T01:30:00Z"  # 20:30 in New York and Miami
CONTACTS = (
    "to,name,consent,consent_date\n"
    "+12125550123,Ada,written,2026-01-05\n"  # 2: called (federal hours allow 20:30)
    "+13055550123,Bo,written,2026-01-05\n"  # 3: deferred: Florida stops at 20:00
    "+13125550124,Cy,,\n"  # 4: skipped: no consent
    "+12125550123,Ada again,written,2026-01-05\n"  # 5: duplicate of row 2
    "not-a-number,Di,written,2026-01-05\n"  # 6: invalid
    "+14055550123,Ed,express,2026-01-05\n"  # 7: skipped: telemarketing needs written consent
)


def setup(tmp_path):
    profiles = write_campaign_profiles(tmp_path)
    (tmp_path / "contacts.csv").write_text(CONTACTS, encoding="utf-8")
    return profiles


def plan(cli, profiles, *args, out="plan.jsonl"):
    return cli(
        "plan", "offer", "--contacts", "contacts.csv", "--out", out, "--at", AT, *args,
        profiles_dir=profiles,
    )  # fmt: skip


def lines(path):
    return [json.loads(x) for x in path.read_text("utf-8").splitlines()]


def test_the_plan_records_every_row_with_its_verdict_and_reason(cli, tmp_path):
    profiles = setup(tmp_path)
    result = plan(cli, profiles)
    assert result.exit_code == 0, result.stderr
    header, *rows, trailer = lines(tmp_path / "plan.jsonl")
    assert header["created_at"] == AT and header["valid_until"] == "2026-11-28T01:30:00Z"
    assert [(r["row"], r["action"]) for r in rows] == [
        (2, "call"),
        (3, "defer"),
        (4, "skip"),
        (5, "duplicate"),
        (6, "invalid"),
        (7, "skip"),
    ]
    assert trailer["summary"] == {
        "rows": 6, "call": 1, "defer": 1, "skip": 2, "invalid": 1, "duplicate": 1
    }  # fmt: skip
    by_row = {r["row"]: r for r in rows}
    assert by_row[2]["request"] == {
        "connection_id": "conn-offer",
        "body": {
            "From": "+13120001234",
            "AIAssistantId": "assistant-offer",
            "AIAssistantDynamicVariables": {"name": "Ada"},
            "To": "+12125550123",
        },
    }
    # A deferred row keeps its request: apply re-checks its window when its turn comes.
    assert by_row[3]["request"]["body"]["To"] == "+13055550123"
    assert "Fla. Stat. 501.616(6)(a)" in by_row[3]["reason"]
    assert [r["rule"] for r in by_row[3]["rules"]] == ["fl-hours"]
    assert "request" not in by_row[4] and by_row[4]["rules"][0]["code"] == "CP610"
    assert by_row[7]["rules"][0]["code"] == "CP611"
    assert "is not a phone number" in by_row[6]["reason"]
    # Every input is named with its digest: each profile file of the chain, the contacts...
    kinds = [(i["kind"], i["name"]) for i in header["inputs"]]
    assert kinds[:3] == [
        ("profile", "profiles/base/compliance.yaml"),
        ("profile", "profiles/offer.yaml"),
        ("contacts", "contacts.csv"),
    ]
    assert {"policy", "rules"} <= {k for k, _ in kinds}
    # The summary: counts, the effective request, reasons, and that it is not legal advice.
    assert "  defer           1  outside a calling window" in result.stdout
    assert '"AIAssistantId": "assistant-offer"' in result.stdout
    assert "not legal advice" in result.stdout


def test_planning_twice_gives_byte_identical_files(cli, tmp_path):
    profiles = setup(tmp_path)
    assert plan(cli, profiles, out="one.jsonl").exit_code == 0
    assert plan(cli, profiles, out="two.jsonl").exit_code == 0
    one, two = (tmp_path / "one.jsonl").read_bytes(), (tmp_path / "two.jsonl").read_bytes()
    assert one == two
    # A template reading the clock renders the plan's time, not the wall clock: the same
    # --at gives the same text, another --at another.
    offer = profiles / "offer.yaml"
    offer.write_text(
        offer.read_text().replace(
            '    name: "{{ name }}"\n',
            '    name: "{{ name }}"\n    when: "{{ now.isoformat() }}"\n',
        ),
        encoding="utf-8",
    )
    assert plan(cli, profiles, out="three.jsonl").exit_code == 0
    assert plan(cli, profiles, out="four.jsonl").exit_code == 0
    three = (tmp_path / "three.jsonl").read_bytes()
    assert three == (tmp_path / "four.jsonl").read_bytes()
    assert lines(tmp_path / "three.jsonl")[1]["request"]["body"]["AIAssistantDynamicVariables"] == {
        "name": "Ada",
        "when": "2026-11-27T01:30:00+00:00",
    }
    assert plan(cli, profiles, "--at", "2026-11-27T02:30:00Z", out="five.jsonl").exit_code == 0
    assert (tmp_path / "five.jsonl").read_bytes() != three


def test_a_secret_is_referenced_never_stored(cli, tmp_path, monkeypatch):
    profiles = setup(tmp_path)
    monkeypatch.setenv("CALLPROFILE_SIP", SIP_PASSWORD)
    offer = profiles / "offer.yaml"
    offer.write_text(
        offer.read_text().replace(
            '  AIAssistantId: "assistant-offer"\n',
            '  AIAssistantId: "assistant-offer"\n'
            '  SipAuthUsername: "agent"\n'
            '  SipAuthPassword: "{{ env.CALLPROFILE_SIP }}"\n',
        ),
        encoding="utf-8",
    )
    result = plan(cli, profiles)
    assert result.exit_code == 0, result.stderr
    text = (tmp_path / "plan.jsonl").read_text("utf-8")
    assert SIP_PASSWORD not in text
    row = lines(tmp_path / "plan.jsonl")[1]
    assert row["request"]["body"]["SipAuthPassword"] == "***"
    assert row["request"]["secrets"] == {"SipAuthPassword": "profiles/offer.yaml:12:20"}
    assert (
        "secret SipAuthPassword: not stored; read at apply time from profiles/offer.yaml:12:20"
        in (result.stdout)
    )
    # A secret given on the command line cannot be referenced: the plan is refused, unwritten
    # (a secret field by name, or a known secret's value anywhere).
    for args in (
        ("--set", f"SipAuthPassword={SIP_PASSWORD}"),
        ("--set-json", f'AIAssistantDynamicVariables={{"pin": "{SIP_PASSWORD}"}}'),
    ):
        (tmp_path / "refused.jsonl").unlink(missing_ok=True)
        result = cli(
            "plan", "offer", "--contacts", "contacts.csv", "--out", "refused.jsonl", "--at", AT,
            *args, profiles_dir=profiles, allow_secrets=True,
        )  # fmt: skip
        assert result.exit_code == 1, result.stdout
        assert "[CP621]" in result.stderr and SIP_PASSWORD not in result.stderr
        assert not (tmp_path / "refused.jsonl").exists()
        assert not list(tmp_path.glob(".plan-*"))


def test_markdown_summary_masks_numbers_and_lists_reasons(cli, tmp_path):
    profiles = setup(tmp_path)
    result = plan(cli, profiles, "--format", "markdown")
    assert result.exit_code == 0, result.stderr
    md = result.stdout
    assert md.startswith("### callprofile plan: `offer` (6 rows)\n")
    assert "| call | 1 |" in md and "| skip | 2 |" in md
    assert "| consent | `required` | profiles/base/compliance.yaml:7:14 |" in md
    assert "| 4 | +1312***0124 | skip | no consent evidence" in md
    assert "+13125550124" not in md and "+12125550123" not in md
    assert "not legal advice" in md
    data = json.loads(plan(cli, profiles, "-o", "json").stdout)
    assert data["summary"]["defer"] == 1 and data["plan"] == "plan.jsonl"
    assert [r["row"] for r in data["not_called"]] == [4, 5, 6, 7]


def test_bad_plan_options_are_usage_errors(cli, tmp_path):
    profiles = setup(tmp_path)
    for args, flag in [
        (("--valid-for", "soon"), "--valid-for"),
        (("--valid-for", "0"), "--valid-for"),
        (("--window", "9-5"), "--window"),
        (("--at", "2026-11-27 01:30"), "--at"),
        (("--to", "+12125550123"), "drop --to"),
    ]:
        result = plan(cli, profiles, *args)
        assert result.exit_code == 2, (args, result.output)
        assert flag in result.stderr
    assert not (tmp_path / "plan.jsonl").exists()
    result = cli(
        "plan", "offer", "--contacts", "missing.csv", "--out", "p.jsonl", profiles_dir=profiles
    )
    assert result.exit_code == 1 and "missing.csv" in result.stderr
