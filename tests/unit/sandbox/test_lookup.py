"""Call lookups: ``GET /v2/texml/Accounts/{account_sid}/Calls`` and ``.../Calls/{call_sid}`` in
Telnyx's shapes, with its filters and pages, eventually consistent; and the bounded memory
behind them."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import quote

import httpx
import pytest

from runner.sandbox import Sandbox, Step
from tests.helpers.env import API_KEY

AUTH = {"Authorization": f"Bearer {API_KEY}"}
WAIT = 20
RESOURCE_KEYS = {
    "account_sid",
    "caller_name",
    "date_created",
    "date_updated",
    "direction",
    "duration",
    "end_time",
    "from",
    "from_formatted",
    "sid",
    "start_time",
    "status",
    "to",
    "to_formatted",
    "uri",
}


def call(to: str, **fields: object) -> dict:
    return {"From": "+13120001234", "To": to, "AIAssistantId": "assistant-1", **fields}


def place(server: Sandbox, *bodies: dict) -> list[str]:
    with httpx.Client(trust_env=False, timeout=WAIT) as client:
        return [
            client.post(f"{server.base_url}/texml/ai_calls/c", json=b, headers=AUTH).json()[
                "call_sid"
            ]
            for b in bodies
        ]


def get(server: Sandbox, path: str, headers: dict | None = None) -> httpx.Response:
    with httpx.Client(trust_env=False, timeout=WAIT) as client:
        return client.get(server.url + path, headers=AUTH if headers is None else headers)


def calls_path(server: Sandbox, query: str = "") -> str:
    return f"/v2/texml/Accounts/{server.account_sid}/Calls" + (f"?{query}" if query else "")


def sids(reply: httpx.Response) -> list[str]:
    assert reply.status_code == 200, reply.text
    return [c["sid"] for c in reply.json()["calls"]]


def test_list_and_fetch_in_telnyxs_shape(sandbox):
    server = sandbox(Step(outcome="human"), Step(outcome="busy"), Step(outcome="machine"))
    placed = place(
        server,
        call("+13125550101", MachineDetection="Enable", CallerId="Clinic"),
        call("+13125550102"),
        call("+442071838750", MachineDetection="Enable"),
    )
    listing = get(server, calls_path(server))
    page = listing.json()
    assert set(page) == {
        "calls",
        "end",
        "first_page_uri",
        "next_page_uri",
        "page",
        "page_size",
        "start",
        "uri",
    }
    assert sids(listing) == placed[::-1]  # newest first
    assert (page["page"], page["page_size"], page["start"], page["end"]) == (0, 20, 0, 2)
    assert page["next_page_uri"] is None
    assert page["uri"].startswith(f"/v2/texml/Accounts/{server.account_sid}/Calls.json?")
    human, busy, machine = page["calls"][::-1]
    assert set(busy) == RESOURCE_KEYS  # no answered_by: it asked for no detection
    assert set(human) == RESOURCE_KEYS | {"answered_by"}
    assert (human["status"], human["answered_by"], human["caller_name"]) == (
        "completed",
        "human",
        "Clinic",
    )
    assert (busy["status"], busy["duration"], busy["direction"]) == ("busy", "0", "outbound")
    assert machine["answered_by"] == "machine"
    assert (human["to_formatted"], machine["to_formatted"]) == ("(312) 555-0101", "020 7183 8750")
    assert int(human["duration"]) > 0
    start = parsedate_to_datetime(human["start_time"])
    end = parsedate_to_datetime(human["end_time"])
    assert abs(start - datetime.now(timezone.utc)) < timedelta(minutes=1) and end > start
    assert human["uri"] == f"/v2/texml/Accounts/{server.account_sid}/Calls/{placed[0]}.json"
    for suffix in ("", ".json"):
        one = get(server, f"/v2/texml/Accounts/{server.account_sid}/Calls/{placed[0]}{suffix}")
        assert one.status_code == 200 and one.json() == human
    assert sids(get(server, calls_path(server).replace("/Calls", "/Calls.json"))) == placed[::-1]


def test_filters(sandbox):
    server = sandbox(Step(outcome="busy"))
    busy, plain, other = place(
        server,
        call("+13125550101"),
        call("+13125550102"),
        {**call("+13125550101"), "From": "+13120009999"},
    )
    now = datetime.now(timezone.utc)
    before = (now - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    after = (now + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    today, tomorrow = now.date().isoformat(), (now.date() + timedelta(days=1)).isoformat()

    def found(query: str) -> set[str]:
        return set(sids(get(server, calls_path(server, query))))

    assert found(f"To={quote('+13125550101')}") == {busy, other}
    assert found(f"To={quote('+13125550101')}&From={quote('+13120001234')}") == {busy}
    assert found("Status=busy") == {busy}
    assert found("Status=completed") == {plain, other}
    assert found(f"StartTime_gt={before}") == {busy, plain, other}
    assert found(f"StartTime_gt={after}") == set()
    assert found(f"StartTime_lt={after}&To={quote('+13125550102')}") == {plain}
    assert found(f"StartTime={today}") == {busy, plain, other}
    assert found(f"StartTime={tomorrow}") == set()
    assert found(f"StartTime>={today}") == {busy, plain, other}  # Twilio's spelling
    assert found(f"StartTime<={today}") == {busy, plain, other}
    assert found(f"EndTime_gt={before}&Status=busy") == {busy}
    # A "+" sent unencoded is a space, as in any query string: nothing matches.
    assert found("To=+13125550101") == set()


def test_pages_follow_next_page_uri_and_stay_put_while_calls_arrive(sandbox):
    server = sandbox()
    placed = place(server, *[call(f"+1312555{n:04d}") for n in range(7)])
    seen: list[str] = []
    reply = get(server, calls_path(server, "PageSize=3"))
    pages = []
    while True:
        page = reply.json()
        pages.append((page["page"], page["start"], page["end"], len(page["calls"])))
        seen += sids(reply)
        if len(pages) == 1:
            place(server, call("+13125559999"))  # a newer call must not shift the next pages
        if page["next_page_uri"] is None:
            break
        assert "PageToken=" in page["next_page_uri"] and "PageSize=3" in page["next_page_uri"]
        reply = get(server, page["next_page_uri"])
    assert seen == placed[::-1]
    assert pages == [(0, 0, 2, 3), (1, 3, 5, 3), (2, 6, 6, 1)]
    first = get(server, calls_path(server, "PageSize=3")).json()
    assert first["first_page_uri"].endswith("Page=0&PageSize=3")
    assert len(sids(get(server, calls_path(server, "PageSize=3&Page=2")))) == 2


def test_next_page_keeps_the_filters(sandbox):
    server = sandbox()
    place(server, *[call("+13125550101")] * 3, call("+13125550102"))
    query = f"To={quote('+13125550101')}&PageSize=2"
    page = get(server, calls_path(server, query)).json()
    assert "To=%2B13125550101" in page["next_page_uri"]
    rest = get(server, page["next_page_uri"]).json()
    assert len(page["calls"]) + len(rest["calls"]) == 3 and rest["next_page_uri"] is None


def test_calls_show_up_after_the_consistency_delay(sandbox):
    server = sandbox(lookup_delay=600)
    (sid,) = place(server, call("+13125550101"))
    one = f"/v2/texml/Accounts/{server.account_sid}/Calls/{sid}"
    assert sids(get(server, calls_path(server))) == []
    assert get(server, one).status_code == 404
    server.advance(599)
    assert sids(get(server, calls_path(server))) == []
    server.advance(1)
    assert sids(get(server, calls_path(server))) == [sid]
    assert get(server, one).status_code == 200


@pytest.mark.parametrize(
    ("query", "status", "code", "where"),
    [
        ("Status=ringing-ish", 422, "10032", {"pointer": "/Status"}),
        ("StartTime_gt=yesterday", 400, "10015", {"parameter": "StartTime_gt"}),
        ("StartTime=2026-02-30", 400, "10015", {"parameter": "StartTime"}),
        ("PageSize=0", 400, "10015", {"parameter": "PageSize"}),
        ("PageSize=1001", 400, "10015", {"parameter": "PageSize"}),
        ("Page=-1", 400, "10015", {"parameter": "Page"}),
        ("PageToken=not-ours", 400, "10015", {"parameter": "PageToken"}),
    ],
)
def test_bad_queries_get_telnyx_errors(sandbox, query, status, code, where):
    server = sandbox()
    reply = get(server, calls_path(server, query))
    assert reply.status_code == status
    (error,) = reply.json()["errors"]
    assert (error["code"], error["source"]) == (code, where)


def test_lookups_need_the_key_and_the_account(sandbox):
    server = sandbox()
    (sid,) = place(server, call("+13125550101"))
    assert get(server, calls_path(server), headers={}).status_code == 401
    other = f"/v2/texml/Accounts/someone-else/Calls/{sid}"
    for path in (other, "/v2/texml/Accounts/someone-else/Calls"):
        reply = get(server, path)
        assert reply.status_code == 404 and reply.json() == {
            "errors": [{"detail": "Resource not found"}]
        }
    assert get(server, calls_path(server) + "/v3:nope").status_code == 404


def test_memory_is_bounded_whatever_the_number_of_requests(sandbox, tmp_path):
    log = tmp_path / "sandbox.jsonl"
    server = sandbox(keep_records=5, keep_calls=3, log_path=str(log))
    placed = place(server, *[call(f"+1312555{n:04d}") for n in range(20)])
    assert len(server.records) == 5
    assert [c["response"]["call_sid"] for c in server.calls] == placed[-5:]
    assert server.post_count == 20  # counted, though not kept
    assert sids(get(server, calls_path(server))) == placed[-3:][::-1]
    server.stop()
    lines = log.read_text().splitlines()
    assert [json.loads(x)["response"].get("call_sid") for x in lines][:20] == placed


def test_sandbox_command_serves_lookups(tmp_path):
    from tests.helpers.submit import clean_env

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "runner",
            "sandbox",
            "--port",
            "0",
            "--account-sid",
            "AC-test",
            "--keep-calls",
            "2",
            "--lookup-delay",
            "0",
            "--quiet",
        ],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        base = proc.stdout.readline().split()[-1]
        assert proc.stdout.readline().startswith("public key: ")
        assert proc.stdout.readline() == "account sid: AC-test\n"
        assert proc.stdout.readline().startswith("seed: ")
        with httpx.Client(trust_env=False, timeout=WAIT) as client:
            for n in range(3):
                body = call(f"+1312555010{n}")
                client.post(f"{base}/v2/texml/ai_calls/c", json=body, headers=AUTH)
            listing = client.get(f"{base}/v2/texml/Accounts/AC-test/Calls", headers=AUTH)
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=WAIT)
    assert [c["to"] for c in listing.json()["calls"]] == ["+13125550102", "+13125550101"]
    assert out == ""  # --quiet: no line per request
    assert "stopped after 3 call request(s)" in err
