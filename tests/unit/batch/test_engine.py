"""callprofile batch / batch-status through the CLI, against the sandbox; its JSON-lines log
is the record of what arrived. Every test that keeps a ledger runs once per backend (a SQLite
file, then a database on a throwaway PostgreSQL server)."""

from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers.batch import (
    ledger_events,
    ledger_exists,
    ledger_rows,
    many,
    number,
    states,
    write_contacts,
    write_profile,
)
from tests.helpers.batch_server import Script
from tests.helpers.env import API_KEY

FAST = ("--rate", "1000", "--concurrency", "8")


@dataclass
class Env:
    profiles: Path
    ledger: str  # a SQLite file or a postgresql:// URL


@pytest.fixture
def env(tmp_path, monkeypatch, server, ledger_spec):
    monkeypatch.setenv("TELNYX_API_KEY", API_KEY)
    monkeypatch.setenv("TELNYX_BASE_URL", server.base_url)
    return Env(write_profile(tmp_path), ledger_spec)


def batch(cli, env, contacts, *args):
    ledger = () if "--ledger" in args else ("--ledger", env.ledger)
    return cli(
        "batch", "remind", "--contacts", str(contacts), *FAST, *ledger, *args,
        profiles_dir=env.profiles,
    )  # fmt: skip


def test_few_hundred_rows_each_called_once_and_a_rerun_sends_nothing(cli, env, server, tmp_path):
    contacts = write_contacts(tmp_path / "c.csv", many(300))
    result = batch(cli, env, contacts)
    assert result.exit_code == 0, result.stderr
    assert len(server.posts) == 300
    assert sorted(server.numbers()) == sorted(number(i) for i in range(300))
    assert all(p["path"] == "/v2/texml/ai_calls/conn-batch" for p in server.posts)
    ledger = env.ledger
    assert states(ledger) == {"placed": 300}
    answered = {p["response"]["call_sid"]: p["body"]["To"] for p in server.posts}
    assert {r["call_sid"]: r["e164"] for r in ledger_rows(ledger)} == answered
    assert "placed        300" in result.stdout

    again = batch(cli, env, contacts)
    assert again.exit_code == 0, again.stderr
    assert len(server.posts) == 300  # resume: nothing is sent twice
    assert "resuming batch" in again.stderr


def test_row_values_are_data_and_extra_columns_are_ignored(cli, env, server, tmp_path):
    contacts = write_contacts(
        tmp_path / "c.csv",
        [{"to": number(1), "name": "{{ 7 * 7 }}", "crm_id": "A-17", "note": "{% raw %}"}],
    )
    result = batch(cli, env, contacts)
    assert result.exit_code == 0, result.stderr
    sent = server.posts[0]["body"]["AIAssistantDynamicVariables"]
    assert sent == {"name": "{{ 7 * 7 }}", "note": "{% raw %}"}
    assert "crm_id" not in json.dumps(server.posts[0]["body"])


def test_jsonl_contacts_and_empty_cells_use_defaults(cli, env, server, tmp_path):
    contacts = tmp_path / "c.jsonl"
    contacts.write_text(
        json.dumps({"to": number(1), "name": "Ada", "note": ""})
        + "\n\n"
        + json.dumps({"to": number(2), "name": "Bob", "note": None, "age": 42})
        + "\n",
        encoding="utf-8",
    )
    result = batch(cli, env, contacts)
    assert result.exit_code == 0, result.stderr
    notes = [p["body"]["AIAssistantDynamicVariables"]["note"] for p in server.posts]
    assert notes == ["none", "none"]


def test_invalid_rows_are_reported_with_row_number_and_the_batch_goes_on(
    cli, env, server, tmp_path
):
    contacts = tmp_path / "c.jsonl"
    lines = [
        json.dumps({"to": number(1), "name": "Ada"}),
        json.dumps({"to": "12345", "name": "Bad number"}),
        json.dumps({"to": number(3)}),  # required variable missing
        "{not json",
        json.dumps({"to": number(5), "name": "Tz", "timezone": "Mars/Olympus"}),
        json.dumps({"to": number(6), "name": "Last"}),
    ]
    contacts.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = batch(cli, env, contacts)
    assert result.exit_code == 1, result.stderr
    assert sorted(server.numbers()) == [number(1), number(6)]
    err = result.stderr
    assert "c.jsonl row 2: error:" in err and "[CP503]" in err
    assert "c.jsonl row 3:" in err and "required variable 'name'" in err
    assert "add a column 'name' to the contacts file" in err
    assert "c.jsonl row 4: error: the row is not valid JSON" in err
    assert "c.jsonl row 5: error:" in err and "Mars/Olympus" in err
    rows = {r["row_no"]: r for r in ledger_rows(env.ledger)}
    assert {n: rows[n]["skip_kind"] for n in (2, 3, 4, 5)} == dict.fromkeys((2, 3, 4, 5), "invalid")
    assert "skipped         4  (invalid 4)" in result.stdout


def test_a_number_twice_in_one_file_is_called_once(cli, env, server, tmp_path):
    rows = [*many(3), {"to": "+1 (312) 555-0001", "name": "Again"}]
    contacts = write_contacts(tmp_path / "c.csv", rows)
    result = batch(cli, env, contacts)
    assert result.exit_code == 0, result.stderr
    assert Counter(server.numbers())[number(1)] == 1
    assert "c.csv row 5: duplicate: +1312***0001 is also on row 3" in result.stderr
    dup = next(r for r in ledger_rows(env.ledger) if r["row_no"] == 5)
    assert (dup["state"], dup["skip_kind"], dup["reason"]) == (
        "skipped",
        "duplicate",
        "duplicate of row 3",
    )


def test_do_not_call_numbers_are_skipped_and_recorded(cli, env, server, tmp_path):
    contacts = write_contacts(tmp_path / "c.csv", many(5))
    dnc = tmp_path / "dnc.txt"
    dnc.write_text("# opted out\n+1 312-555-0002\n\n+13125550004  # asked on 2 Nov\n")
    result = batch(cli, env, contacts, "--dnc", str(dnc))
    assert result.exit_code == 0, result.stderr
    assert sorted(server.numbers()) == [number(0), number(1), number(3)]
    ledger = env.ledger
    skipped = {r["e164"]: r["skip_kind"] for r in ledger_rows(ledger) if r["state"] == "skipped"}
    assert skipped == {number(2): "dnc", number(4): "dnc"}
    assert any(e["kind"] == "dnc" and "sha256" in e["detail"] for e in ledger_events(ledger))


def test_an_unreadable_do_not_call_line_stops_before_any_call(cli, env, server, tmp_path):
    contacts = write_contacts(tmp_path / "c.csv", many(3))
    dnc = tmp_path / "dnc.txt"
    dnc.write_text("+13125550002\nnot-a-number\n")
    result = batch(cli, env, contacts, "--dnc", str(dnc))
    assert result.exit_code == 1
    assert "dnc.txt:2:1: error:" in result.stderr and "[CP506]" in result.stderr
    assert server.posts == []


def test_number_placed_by_an_earlier_batch_is_a_repeat_within_min_interval(
    cli, env, server, tmp_path
):
    ledger = env.ledger  # one ledger for every batch
    first = write_contacts(tmp_path / "monday.csv", many(3))
    assert batch(cli, env, first, "--ledger", str(ledger)).exit_code == 0
    # A different file is a different batch; its overlap with Monday's is not called again.
    second = write_contacts(tmp_path / "tuesday.csv", many(3, start=2))
    result = batch(cli, env, second, "--ledger", str(ledger))
    assert result.exit_code == 0, result.stderr
    assert Counter(server.numbers())[number(2)] == 1
    assert len(server.posts) == 5
    assert "repeat" in result.stderr
    # With the guard off, a third batch calls the number again.
    third = write_contacts(tmp_path / "wednesday.csv", many(1, start=2))
    result = batch(cli, env, third, "--ledger", str(ledger), "--min-interval", "0")
    assert result.exit_code == 0, result.stderr
    assert Counter(server.numbers())[number(2)] == 2


def test_a_changed_file_or_profile_is_a_new_batch(cli, env, server, tmp_path):
    contacts = write_contacts(tmp_path / "c.csv", many(2))
    assert batch(cli, env, contacts, "--min-interval", "0").exit_code == 0
    assert batch(cli, env, contacts, "--min-interval", "0").exit_code == 0
    assert len(server.posts) == 2  # same file, same profile: resumed, nothing sent
    profile = env.profiles / "remind.yaml"
    profile.write_text(profile.read_text().replace("assistant-batch", "assistant-v2"))
    assert batch(cli, env, contacts, "--min-interval", "0").exit_code == 0
    assert len(server.posts) == 4  # edited profile: a new batch
    assert batch(cli, env, contacts).exit_code == 0  # ...but the repeat guard holds by default
    assert len(server.posts) == 4
    status = cli("batch-status", "--ledger", env.ledger)
    assert status.stdout.count("batch ") == 2


def test_rejected_rows_fail_with_the_telnyx_error_and_exit_4(cli, env, server, tmp_path):
    server.script(
        2,
        Script(
            422,
            body={
                "errors": [{"code": "10015", "title": "Invalid To", "source": {"pointer": "/To"}}]
            },
        ),
    )
    contacts = write_contacts(tmp_path / "c.csv", many(3))
    result = batch(cli, env, contacts, "--concurrency", "1")
    assert result.exit_code == 4, result.stderr
    failed = [r for r in ledger_rows(env.ledger) if r["state"] == "failed"]
    assert len(failed) == 1 and failed[0]["error_code"] == "10015"
    assert failed[0]["http_status"] == 422
    assert batch(cli, env, contacts).exit_code == 4
    assert len(server.posts) == 3  # a failed row is not sent again


def test_unknown_outcome_is_never_resent_unless_redial_unknown(cli, env, server, tmp_path):
    server.script(2, Script(500))
    contacts = write_contacts(tmp_path / "c.csv", many(3))
    result = batch(cli, env, contacts, "--concurrency", "1")
    assert result.exit_code == 5, result.stderr
    assert "may have been placed" in result.stderr
    ledger = env.ledger
    assert states(ledger) == {"placed": 2, "unknown": 1}
    assert batch(cli, env, contacts).exit_code == 5
    assert len(server.posts) == 3

    result = batch(cli, env, contacts, "--redial-unknown")
    assert result.exit_code == 0, result.stderr
    assert len(server.posts) == 4
    assert Counter(server.numbers()).most_common(1)[0][1] == 2
    assert [e["kind"] for e in ledger_events(ledger)].count("redial-unknown") == 1


def test_unknown_takes_precedence_over_failed(cli, env, server, tmp_path):
    server.script(1, Script(500))
    server.script(2, Script(422, body={"errors": [{"code": "1", "title": "no"}]}))
    contacts = write_contacts(tmp_path / "c.csv", many(3))
    assert batch(cli, env, contacts, "--concurrency", "1").exit_code == 5


def test_max_calls_stops_after_n_placed_and_the_next_run_continues(cli, env, server, tmp_path):
    contacts = write_contacts(tmp_path / "c.csv", many(12))
    result = batch(cli, env, contacts, "--max-calls", "5")
    assert result.exit_code == 6, result.stderr
    assert len(server.posts) == 5
    assert "--max-calls 5 reached" in result.stderr
    assert "not reached" in result.stdout  # the summary accounts for rows not yet read
    assert batch(cli, env, contacts, "--max-calls", "5").exit_code == 6
    assert batch(cli, env, contacts, "--max-calls", "5").exit_code == 0
    assert sorted(server.numbers()) == sorted(number(i) for i in range(12))


def test_dry_run_sends_nothing_and_claims_nothing(cli, env, server, tmp_path):
    rows = [*many(3), {"to": number(1), "name": "dup"}, {"to": "x", "name": "bad"}]
    contacts = write_contacts(tmp_path / "c.csv", rows)
    result = batch(cli, env, contacts, "--dry-run")
    assert result.exit_code == 1  # one invalid row
    assert server.posts == []
    assert not ledger_exists(env.ledger)
    shown = [json.loads(line) for line in result.stdout.splitlines()]
    assert [s["row"] for s in shown] == [2, 3, 4]
    assert shown[0]["body"]["To"] == number(0)
    assert shown[0]["connection_id"] == "conn-batch"
    assert "duplicate" in result.stderr and "3 would be sent" in result.stderr


def test_dry_run_redacts_secrets(cli, env, server, tmp_path, monkeypatch):
    from tests.helpers.env import SIP_PASSWORD

    monkeypatch.setenv("CALLPROFILE_SIP", SIP_PASSWORD)
    profile = env.profiles / "remind.yaml"
    profile.write_text(
        profile.read_text()
        + '  SipAuthUsername: "u"\n  SipAuthPassword: "{{ env.CALLPROFILE_SIP }}"\n'
    )
    contacts = write_contacts(tmp_path / "c.csv", many(1))
    result = batch(cli, env, contacts, "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["body"]["SipAuthPassword"] == "***"


def test_report_csv_escapes_formula_cells(cli, env, server, tmp_path):
    server.script(
        2, Script(422, body={"errors": [{"code": "=1+1", "title": "@SUM(A1)", "detail": "-x"}]})
    )
    contacts = write_contacts(tmp_path / "c.csv", many(2))
    report = tmp_path / "out.csv"
    result = batch(cli, env, contacts, "--concurrency", "1", "--report", str(report))
    assert result.exit_code == 4
    with open(report, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["state"] for r in rows] == ["placed", "failed"]
    assert rows[0]["to"] == "'" + number(0)  # a leading + would start a formula
    assert rows[0]["call_sid"] == server.posts[0]["response"]["call_sid"]
    assert rows[1]["error_code"] == "'=1+1"
    for row in rows:
        for cell in row.values():
            assert not cell.startswith(("=", "+", "-", "@")), cell


def test_batch_status_prints_the_summary_at_any_time(cli, env, server, tmp_path):
    server.script(3, Script(500))
    contacts = write_contacts(tmp_path / "c.csv", [*many(4), {"to": number(0), "name": "d"}])
    run = batch(cli, env, contacts, "--concurrency", "1")
    status = cli("batch-status", "--ledger", env.ledger)
    assert status.exit_code == run.exit_code == 5
    assert status.stdout == run.stdout
    for line in (
        "rows            5",
        "placed          3",
        "unknown         1",
        "skipped         1",
    ):
        assert line in status.stdout
    report = tmp_path / "r.csv"
    cli("batch-status", "--ledger", env.ledger, "--report", str(report))
    assert len(report.read_text().splitlines()) == 6


def test_batch_status_on_a_missing_or_foreign_file(cli, tmp_path):
    assert cli("batch-status", "--ledger", str(tmp_path / "nope.db")).exit_code == 1
    other = tmp_path / "other.db"
    other.write_text("not sqlite")
    result = cli("batch-status", "--ledger", str(other))
    assert result.exit_code == 1 and "Traceback" not in result.stderr


def test_contacts_file_problems_stop_before_any_call(cli, env, server, tmp_path):
    missing = batch(cli, env, tmp_path / "nope.csv")
    assert missing.exit_code == 1 and "contacts file not found" in missing.stderr
    no_to = tmp_path / "c.csv"
    no_to.write_text("phone,name\n+13125550001,Ada\n")
    result = batch(cli, env, no_to)
    assert result.exit_code == 1
    assert "c.csv:1:1: error: no column 'to'" in result.stderr
    assert "--to-column" in result.stderr
    assert batch(cli, env, no_to, "--to-column", "phone").exit_code == 0
    assert server.numbers() == [number(1)]


def test_batch_refuses_to_and_needs_the_api_key(cli, env, tmp_path, monkeypatch):
    contacts = write_contacts(tmp_path / "c.csv", many(1))
    assert batch(cli, env, contacts, "--to", number(9)).exit_code == 2
    monkeypatch.delenv("TELNYX_API_KEY")
    result = batch(cli, env, contacts)
    assert result.exit_code == 2 and "TELNYX_API_KEY" in result.stderr


def test_telnyx_unreachable_stops_the_batch_and_keeps_rows_pending(cli, env, tmp_path, monkeypatch):
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("TELNYX_BASE_URL", f"http://127.0.0.1:{port}/v2")
    contacts = write_contacts(tmp_path / "c.csv", many(5))
    result = batch(cli, env, contacts, "--max-retries", "0")
    assert result.exit_code == 6, result.stderr
    assert "could not reach Telnyx" in result.stderr and "stays pending" in result.stderr
    assert set(states(env.ledger)) <= {"pending"}


def test_a_bad_api_key_stops_at_the_first_401_and_places_nothing(cli, env, server, tmp_path):
    for n in range(1, 9):
        server.script(n, Script(401, body={"errors": [{"code": "10009", "title": "Auth"}]}))
    contacts = write_contacts(tmp_path / "c.csv", many(40))
    result = batch(cli, env, contacts, "--concurrency", "1")
    assert result.exit_code == 4, result.stderr
    assert len(server.posts) == 1
    assert "401" in result.stderr
    assert "failed" not in states(env.ledger)
    closing = result.stderr.strip().splitlines()[-1]
    assert "refused the API key (401)" in closing and "fix TELNYX_API_KEY" in closing
    assert "rejected" not in closing  # no row was rejected: none failed


def test_exit_4_for_rejected_rows_says_so(cli, env, server, tmp_path):
    server.script(2, Script(422, body={"errors": [{"code": "10005", "title": "Not found"}]}))
    result = batch(cli, env, write_contacts(tmp_path / "c.csv", many(3)), "--concurrency", "1")
    assert result.exit_code == 4, result.stderr
    closing = result.stderr.strip().splitlines()[-1]
    assert closing == (
        "callprofile: some calls were rejected by Telnyx (failed rows are not retried)"
    )


def test_progress_lines_when_stderr_is_not_a_terminal(cli, env, server, tmp_path, monkeypatch):
    from runner.cli import batch_view

    monkeypatch.setattr(batch_view, "PLAIN_EVERY", 0.0)
    contacts = write_contacts(tmp_path / "c.csv", many(5))
    result = batch(cli, env, contacts)
    assert result.exit_code == 0
    lines = [x for x in result.stderr.splitlines() if x.startswith("progress: ")]
    assert lines and lines[-1].startswith("progress: 5/5 rows done, placed 5 failed 0")
