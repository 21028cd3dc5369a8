"""``callprofile batch-reconcile``: unknown rows settled from Telnyx's call list.

Batches run against the sandbox, which answers chosen POSTs with 500 (so those rows end
``unknown``); the call list is a loopback stand-in in Telnyx's documented shape
(tests/helpers/calls_list.py) holding the calls the test says Telnyx placed.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from tests.helpers.batch import (
    ledger_events,
    ledger_rows,
    many,
    number,
    write_contacts,
    write_profile,
)
from tests.helpers.batch_server import Script
from tests.helpers.calls_list import ACCOUNT, CallsList, call
from tests.helpers.env import API_KEY
from tests.helpers.outcomes import FORM, Keys, Listen, form, status_callback, unmatched

FROM = "+13120001234"  # the test profile's From


@pytest.fixture
def calls():
    listing = CallsList()
    yield listing
    listing.stop()


@pytest.fixture
def env(tmp_path, monkeypatch, server):
    monkeypatch.setenv("TELNYX_API_KEY", API_KEY)
    monkeypatch.setenv("TELNYX_BASE_URL", server.base_url)
    return write_profile(tmp_path)


def run_batch(cli, profiles, tmp_path, n, *args):
    contacts = tmp_path / "c.csv"
    if not contacts.exists():
        write_contacts(contacts, many(n))
    return cli(
        "batch",
        "remind",
        "--contacts",
        str(contacts),
        "--rate",
        "1000",
        "--concurrency",
        "1",
        *args,
        profiles_dir=profiles,
    )


def reconcile(cli, tmp_path, calls, *args):
    return cli(
        "batch-reconcile",
        "--ledger",
        str(tmp_path / "c.csv.ledger.db"),
        "--base-url",
        calls.base_url,
        *args,
    )


def rows_by_number(tmp_path):
    return {r["e164"]: r for r in ledger_rows(tmp_path / "c.csv.ledger.db")}


def unknown_batch(cli, env, server, tmp_path, n=4, unknown=(2, 3)):
    for post in unknown:
        server.script(post, Script(500))
    result = run_batch(cli, env, tmp_path, n)
    assert result.exit_code == 5, result.stderr
    return result


def test_found_once_is_placed_and_not_found_is_not_placed(cli, env, server, calls, tmp_path):
    unknown_batch(cli, env, server, tmp_path)
    calls.calls.append(call("v3:found-once", number(1)))
    result = reconcile(cli, tmp_path, calls, "--account-sid", ACCOUNT, "--margin", "0")
    assert result.exit_code == 0, result.stderr
    rows = rows_by_number(tmp_path)
    assert (rows[number(1)]["state"], rows[number(1)]["call_sid"]) == ("placed", "v3:found-once")
    assert rows[number(2)]["state"] == "not-placed"
    assert "row 3 +1312***0001: placed: Telnyx lists call v3:found-once" in result.stdout
    assert "row 4 +1312***0002: not placed" in result.stdout
    assert "1 placed, 1 not placed, 0 with several calls, 0 still unknown" in result.stderr
    # The documented query: To and From of the row, a start date, the key as a bearer token.
    first = calls.requests[0]
    assert first["path"] == f"/v2/texml/Accounts/{ACCOUNT}/Calls"
    assert first["query"]["To"] == number(1) and first["query"]["From"] == FROM
    assert first["query"]["StartTime_gt"] <= datetime.now(timezone.utc).strftime("%Y-%m-%d")
    assert first["auth"] == f"Bearer {API_KEY}"
    # Every decision is in the ledger's log, with its evidence.
    decided = [e for e in ledger_events(tmp_path / "c.csv.ledger.db") if "reconcile" in e["kind"]]
    assert [e["kind"] for e in decided] == ["reconcile-placed", "reconcile-not-placed"]
    evidence = json.loads(decided[0]["detail"])
    assert evidence["found"][0]["sid"] == "v3:found-once"
    assert evidence["query"]["To"] == number(1) and evidence["claimed_at"]
    # The summary says what is left to do, and a plain re-run calls nobody.
    status = cli("batch-status", "--ledger", str(tmp_path / "c.csv.ledger.db"))
    assert status.exit_code == 6
    assert "not placed      1  (batch-reconcile found no call" in status.stdout
    posts = len(server.posts)
    assert run_batch(cli, env, tmp_path, 4).exit_code == 6
    assert len(server.posts) == posts
    # --redial-unknown calls the not-placed row, once, and only it.
    again = run_batch(cli, env, tmp_path, 4, "--redial-unknown")
    assert again.exit_code == 0, again.stderr
    assert server.numbers()[posts:] == [number(2)]
    assert Counter(server.numbers())[number(1)] == 1


def test_inside_the_margin_a_row_stays_unknown(cli, env, server, calls, tmp_path):
    unknown_batch(cli, env, server, tmp_path, unknown=(2,))
    result = reconcile(cli, tmp_path, calls, "--account-sid", ACCOUNT, "--margin", "1h")
    assert result.exit_code == 5
    assert "left unknown: run again after" in result.stdout and "[CP743]" in result.stdout
    assert rows_by_number(tmp_path)[number(1)]["state"] == "unknown"
    kinds = [e["kind"] for e in ledger_events(tmp_path / "c.csv.ledger.db")]
    assert "reconcile-wait" in kinds


def test_several_calls_are_reported_and_never_redialled(cli, env, server, calls, tmp_path):
    unknown_batch(cli, env, server, tmp_path, unknown=(2,))
    now = datetime.now(timezone.utc)
    calls.calls += [
        call("v3:second", number(1), started=now + timedelta(seconds=5)),
        call("v3:first", number(1), started=now),
    ]
    result = reconcile(cli, tmp_path, calls, "--account-sid", ACCOUNT, "--margin", "0")
    assert result.exit_code == 0, result.stderr
    assert "2 calls to this number since the claim (v3:first, v3:second)" in result.stdout
    assert "[CP742]" in result.stdout
    row = rows_by_number(tmp_path)[number(1)]
    assert (row["state"], row["call_sid"]) == ("placed", "v3:first")
    posts = len(server.posts)
    assert run_batch(cli, env, tmp_path, 4, "--redial-unknown").exit_code == 0
    assert len(server.posts) == posts


def test_only_calls_from_the_rows_from_after_its_claim_count_across_pages(
    cli, env, server, calls, tmp_path
):
    unknown_batch(cli, env, server, tmp_path, unknown=(2,))
    now = datetime.now(timezone.utc)
    calls.page_cap = 1  # one call per page: the lookup must follow next_page_uri
    calls.calls += [
        call("v3:yesterday", number(1), started=now - timedelta(days=1)),
        call("v3:before-claim", number(1), started=now - timedelta(minutes=30)),
        call("v3:other-from", number(1), from_="+13125559999", started=now),
        call("v3:ours", number(1), started=now),
    ]
    # Telnyx filters From and StartTime itself; a list that did not must not fool the lookup.
    calls.ignored = {"From", "StartTime_gt"}
    result = reconcile(cli, tmp_path, calls, "--account-sid", ACCOUNT, "--margin", "0")
    assert result.exit_code == 0, result.stderr
    assert rows_by_number(tmp_path)[number(1)]["call_sid"] == "v3:ours"
    assert len(calls.requests) >= 2
    assert any(r["query"].get("PageToken") for r in calls.requests)


def test_a_next_page_on_another_host_is_not_followed(cli, env, server, calls, tmp_path):
    unknown_batch(cli, env, server, tmp_path, unknown=(2,))
    calls.next_page_override = "//evil.example/v2/texml/Accounts/x/Calls.json?Page=1"
    result = reconcile(cli, tmp_path, calls, "--account-sid", ACCOUNT, "--margin", "0")
    assert result.exit_code == 0
    assert len(calls.requests) == 1


def test_callbacks_kept_for_an_unknown_call_are_matched_when_reconcile_finds_it(
    cli, env, server, calls, tmp_path
):
    unknown_batch(cli, env, server, tmp_path, unknown=(2,))
    ledger = tmp_path / "c.csv.ledger.db"
    keys = Keys()
    receiver = Listen(tmp_path, "--ledger", str(ledger), "--public-key", keys.public)
    try:
        body = form(status_callback("v3:late-found", "completed", 3, To=number(1)))
        assert receiver.post(body, {**FORM, **keys.headers(body)}).text == "unmatched\n"
    finally:
        receiver.stop()
    assert [u["call_sid"] for u in unmatched(ledger)] == ["v3:late-found"]
    calls.calls.append(call("v3:late-found", number(1)))
    # No --account-sid: the one the callbacks named is used.
    calls.calls[-1]["account_sid"] = "f5586561-8ff0-4291-a51b-c7dfe4139ff9"
    result = reconcile(cli, tmp_path, calls, "--margin", "0")
    assert result.exit_code == 0, result.stderr
    assert unmatched(ledger) == []
    assert "callback-matched" in [e["kind"] for e in ledger_events(ledger)]
    status = cli("batch-status", "--ledger", str(ledger), "-o", "json")
    document = json.loads(status.stdout)
    assert document["batches"][0]["outcomes"]["answered"] == 1
    assert document["unmatched_callbacks"] == 0


def test_dry_run_changes_nothing(cli, env, server, calls, tmp_path):
    unknown_batch(cli, env, server, tmp_path, unknown=(2,))
    before = ledger_rows(tmp_path / "c.csv.ledger.db")
    result = reconcile(cli, tmp_path, calls, "--account-sid", ACCOUNT, "--margin", "0", "--dry-run")
    assert result.exit_code == 0
    assert "dry run, nothing changed" in result.stderr and "not placed" in result.stdout
    assert ledger_rows(tmp_path / "c.csv.ledger.db") == before


def test_json_output_lists_every_decision(cli, env, server, calls, tmp_path):
    unknown_batch(cli, env, server, tmp_path)
    calls.calls.append(call("v3:j", number(1)))
    result = reconcile(
        cli, tmp_path, calls, "--account-sid", ACCOUNT, "--margin", "0", "-o", "json"
    )
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert document["command"] == "batch-reconcile" and document["exit_code"] == 0
    decisions = document["decisions"]
    assert [(d["row"], d["verdict"], d["call_sid"]) for d in decisions] == [
        (3, "placed", "v3:j"),
        (4, "not-placed", None),
    ]


def test_refusals_and_failures_leave_the_rows_unknown(
    cli, env, server, calls, tmp_path, monkeypatch
):
    unknown_batch(cli, env, server, tmp_path, unknown=(2, 3))
    before = [r["state"] for r in ledger_rows(tmp_path / "c.csv.ledger.db")]
    calls.status = 401
    refused = reconcile(cli, tmp_path, calls, "--account-sid", ACCOUNT, "--margin", "0")
    assert refused.exit_code == 4
    assert "Telnyx answered 401 to the call list" in refused.stderr
    assert len(calls.requests) == 1  # a refused key fails every row alike: stop at the first
    calls.status = None
    calls.stop()
    gone = reconcile(
        cli, tmp_path, calls, "--account-sid", ACCOUNT, "--margin", "0", "--max-retries", "0"
    )
    assert gone.exit_code == 6
    assert "could not look the call up" in gone.stdout
    assert [r["state"] for r in ledger_rows(tmp_path / "c.csv.ledger.db")] == before
    # The send gate of `run`: plain http only on loopback, a key required.
    plain = reconcile(
        cli, tmp_path, calls, "--account-sid", ACCOUNT, "--base-url", "http://example.com/v2"
    )
    assert plain.exit_code == 1 and "unencrypted" in plain.stderr
    monkeypatch.delenv("TELNYX_API_KEY")
    assert reconcile(cli, tmp_path, calls, "--account-sid", ACCOUNT).exit_code == 2


def test_without_an_account_sid_it_says_where_to_find_one(cli, env, server, calls, tmp_path):
    unknown_batch(cli, env, server, tmp_path, unknown=(2,))
    result = reconcile(cli, tmp_path, calls, "--margin", "0")
    assert result.exit_code == 2
    assert "--account-sid" in result.stderr and "[CP740]" in result.stderr
    assert calls.requests == []


def test_nothing_unknown_is_nothing_to_do(cli, env, server, calls, tmp_path):
    assert run_batch(cli, env, tmp_path, 2).exit_code == 0
    result = reconcile(cli, tmp_path, calls)
    assert result.exit_code == 0 and "nothing to do" in result.stderr
    assert calls.requests == []


@pytest.mark.parametrize(
    "reply",
    [{"calls": "not a list"}, ["not", "an", "object"], "<html>502</html>"],
    ids=["calls-not-a-list", "array", "html"],
)
def test_a_reply_not_in_telnyx_shape_leaves_the_row_unknown(
    cli, env, server, calls, tmp_path, reply
):
    unknown_batch(cli, env, server, tmp_path, unknown=(2,))
    calls.status, calls.body = 200, reply
    result = reconcile(cli, tmp_path, calls, "--account-sid", ACCOUNT, "--margin", "0")
    assert result.exit_code == 6
    assert "could not look the call up" in result.stdout and "Traceback" not in result.stderr
    assert rows_by_number(tmp_path)[number(1)]["state"] == "unknown"


def test_a_list_that_never_ends_is_not_read_forever(cli, env, server, calls, tmp_path):
    unknown_batch(cli, env, server, tmp_path, unknown=(2,))
    calls.next_page_override = f"/v2/texml/Accounts/{ACCOUNT}/Calls.json?Page=0&PageSize=100"
    result = reconcile(cli, tmp_path, calls, "--account-sid", ACCOUNT, "--margin", "0")
    assert result.exit_code == 5
    assert "more pages than callprofile reads" in result.stdout
    assert len(calls.requests) == 50
    assert rows_by_number(tmp_path)[number(1)]["state"] == "unknown"
