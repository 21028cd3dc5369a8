"""The sandbox as a Telnyx stand-in: auth, request checks, fault steps, the masked log, status
callbacks, and the ``callprofile sandbox`` command."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import httpx
import pytest

from runner.sandbox import Sandbox, ScriptError, Step, load_script, parse_spec
from tests.helpers.env import API_KEY, SIP_PASSWORD, assert_no_secrets
from tests.helpers.submit_data import TO
from tests.helpers.webhook_receiver import Receiver

VALID = {"From": "+13120001234", "To": TO, "AIAssistantId": "assistant-1"}
AUTH = {"Authorization": f"Bearer {API_KEY}"}


def post(server: Sandbox, body: object, headers: dict[str, str] | None = None) -> httpx.Response:
    with httpx.Client(trust_env=False, timeout=5) as client:
        return client.post(
            f"{server.base_url}/texml/ai_calls/conn-1",
            json=body,
            headers=AUTH if headers is None else headers,
        )


def codes(response: httpx.Response) -> list[tuple[str, str | None]]:
    return [(e["code"], e.get("source", {}).get("pointer")) for e in response.json()["errors"]]


def test_valid_call_is_queued(sandbox):
    server = sandbox()
    reply = post(server, VALID)
    assert reply.status_code == 200
    body = reply.json()
    assert body["call_sid"].startswith("v3:")
    assert (body["from"], body["to"], body["status"]) == ("+13120001234", TO, "queued")
    assert server.post_count == 1
    assert server.calls[0]["connection_id"] == "conn-1"


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer"}],
    ids=["missing", "not-bearer", "empty-token"],
)
def test_missing_or_malformed_token_gets_401(sandbox, headers):
    server = sandbox()
    reply = post(server, VALID, headers=headers)
    assert reply.status_code == 401
    assert codes(reply) == [("10009", None)]
    assert server.calls[0]["auth"] in ("missing", "malformed")


def test_schema_failures_get_422_with_telnyx_codes_and_pointers(sandbox):
    server = sandbox()
    reply = post(server, {"To": 13125550123, "SipRegion": "Mars", "From": "+13120001234"})
    assert reply.status_code == 422
    assert sorted(codes(reply)) == [
        ("10004", "/AIAssistantId"),
        ("10026", "/To"),
        ("10032", "/SipRegion"),
    ]
    refused = post(server, {**VALID, "Url": "https://example.com/texml"})
    assert refused.status_code == 422 and codes(refused) == [("10015", "/Url")]


def test_unknown_fields_are_ignored_like_telnyx(sandbox):
    server = sandbox()
    reply = post(server, {**VALID, "ConversationMetadata": "x"})
    assert reply.status_code == 200
    assert server.calls[0]["ignored_fields"] == ["ConversationMetadata"]


def test_body_that_is_not_json_gets_400(sandbox):
    server = sandbox()
    with httpx.Client(trust_env=False) as client:
        reply = client.post(f"{server.base_url}/texml/ai_calls/c", content=b"{nope", headers=AUTH)
    assert reply.status_code == 400 and codes(reply) == [("10015", None)]


def test_script_steps_answer_in_order_then_normal(sandbox):
    server = sandbox(parse_spec("429,retry-after=2,times=2"), Step(status=503))
    statuses = [post(server, VALID) for _ in range(4)]
    assert [r.status_code for r in statuses] == [429, 429, 503, 200]
    assert statuses[0].headers["retry-after"] == "2"
    assert codes(statuses[0]) == [("10011", None)]
    assert server.post_count == 4


def test_latency_delays_the_answer_past_a_short_timeout(sandbox):
    server = sandbox(latency=5.0)  # released at teardown by the stop Event, not waited out
    with pytest.raises(httpx.ReadTimeout), httpx.Client(trust_env=False) as client:
        client.post(f"{server.base_url}/texml/ai_calls/c", json=VALID, headers=AUTH, timeout=0.1)
    assert server.post_count == 0  # recorded only when answered


def test_script_file_yaml_and_errors(tmp_path):
    good = tmp_path / "faults.yaml"
    good.write_text(
        "- {status: 429, retry_after: 2}\n- fault: stall\n- {status: 500, times: forever}\n"
    )
    steps = load_script(str(good))
    assert [(s.status, s.fault, s.times) for s in steps] == [
        (429, "normal", 1),
        (None, "stall", 1),
        (500, "normal", -1),
    ]
    bad = tmp_path / "bad.json"
    bad.write_text('[{"status": 429, "retry": 2}]')
    with pytest.raises(ScriptError, match=r"bad.json: step 1: unknown key\(s\) retry"):
        load_script(str(bad))


def test_log_is_jsonl_with_secrets_masked(sandbox, tmp_path):
    log = tmp_path / "sandbox.jsonl"
    server = sandbox(Step(fault="bad-json"), log_path=str(log))
    body = {**VALID, "SipAuthUsername": "agent", "SipAuthPassword": SIP_PASSWORD}
    post(server, body)
    post(server, body)
    with httpx.Client(trust_env=False) as client:  # unparsable body holding the password
        client.post(
            f"{server.base_url}/texml/ai_calls/c",
            content=('{"SipAuthPassword": "' + SIP_PASSWORD + '", ').encode(),
            headers=AUTH,
        )
    server.stop()
    text = log.read_text()
    assert_no_secrets(text)
    records = [json.loads(line) for line in text.splitlines()]
    assert len(records) == 3
    assert all(r["headers"]["Authorization"] == "Bearer ***" for r in records)
    assert records[0]["body"]["SipAuthPassword"] == "***"
    assert records[0]["body"]["SipAuthUsername"] == "agent"
    assert records[0]["response"] == {"status": 200} and records[0]["script"]["fault"] == "bad-json"
    assert records[1]["response"]["call_sid"].startswith("v3:")
    assert '"SipAuthPassword": "***"' in records[2]["body_text"]


@pytest.fixture
def receiver():
    made: list[Receiver] = []

    def make(expected: int) -> Receiver:
        made.append(Receiver(expected))
        return made[-1]

    yield make
    for r in made:
        r.close()


def test_status_callbacks_arrive_form_encoded_in_order(sandbox, receiver):
    hook = receiver(expected=4)
    server = sandbox()
    call = {
        **VALID,
        "StatusCallback": hook.url,
        "StatusCallbacks": ["https://example.com/telnyx/status"],
        "StatusCallbackEvent": "initiated ringing answered completed",
    }
    call_sid = post(server, call).json()["call_sid"]
    assert hook.done.wait(10)
    statuses = [r["form"]["CallStatus"] for r in hook.received]
    assert statuses == ["initiated", "ringing", "in-progress", "completed"]
    assert all(r["type"] == "application/x-www-form-urlencoded" for r in hook.received)
    first, last = hook.received[0]["form"], hook.received[-1]["form"]
    for name in ("AccountSid", "CallSidLegacy", "CallInitiatedAt", "Timestamp"):
        assert first[name]
    assert first["CallSid"] == call_sid and first["ConnectionId"] == "conn-1"
    assert first["CallbackSource"] == "call-progress-events"
    assert (first["From"], first["To"]) == ("+13120001234", TO)
    assert [r["form"]["SequenceNumber"] for r in hook.received] == ["0", "1", "2", "3"]
    assert last["CallSessionId"] and last["HangupCause"] == "normal_clearing"
    # The non-loopback URL was refused, never contacted.
    server.stop()
    refused = [c for c in server.callbacks if c.get("refused")]
    assert [c["url"] for c in refused] == ["https://example.com/telnyx/status"]
    assert len(server.callbacks) == 1 + 4


def test_callbacks_follow_requested_events_method_and_outcome(sandbox, receiver):
    hook = receiver(expected=2)
    server = sandbox(Step(outcome="no-answer"))
    call = {
        **VALID,
        "StatusCallback": hook.url.replace("127.0.0.1", "localhost"),
        "StatusCallbackEvent": "initiated no-answer",
        "StatusCallbackMethod": "GET",
    }
    post(server, call)
    assert hook.done.wait(10)
    assert [r["method"] for r in hook.received] == ["GET", "GET"]
    assert [r["form"]["CallStatus"] for r in hook.received] == ["initiated", "no-answer"]


def test_default_event_is_completed_only(sandbox, receiver):
    hook = receiver(expected=1)
    server = sandbox()
    post(server, {**VALID, "StatusCallback": hook.url})
    assert hook.done.wait(10)
    server.stop()
    assert [r["form"]["CallStatus"] for r in hook.received] == ["completed"]


def test_sandbox_refuses_non_loopback_host(cli):
    result = cli("sandbox", "--host", "0.0.0.0", "--port", "0")
    assert result.exit_code == 2
    assert "not a loopback address" in result.stderr and "--allow-remote-host" in result.stderr


def test_sandbox_command_serves_a_request(tmp_path):
    log = tmp_path / "log.jsonl"
    from tests.helpers.submit import clean_env

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "runner",
            "sandbox",
            "--port",
            "0",
            "--log",
            str(log),
            "--respond",
            "503",
        ],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = proc.stdout.readline()
        assert first.startswith("callprofile sandbox listening on http://127.0.0.1:"), first
        base = first.split()[-1] + "/v2"
        with httpx.Client(trust_env=False, timeout=5) as client:
            url = f"{base}/texml/ai_calls/conn-9"
            assert client.post(url, json=VALID, headers=AUTH).status_code == 503
            assert client.post(url, json=VALID, headers=AUTH).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert_no_secrets(first + out + err + log.read_text())
    assert "POST /v2/texml/ai_calls/conn-9 -> 503" in out
    assert "stopped after 2 call request(s)" in err
    assert [json.loads(line)["response"]["status"] for line in log.read_text().splitlines()] == [
        503,
        200,
    ]


def test_sandbox_reports_a_bad_script_without_traceback(cli, tmp_path):
    script = tmp_path / "s.yaml"
    script.write_text("- {status: 429, fault: explode}\n")
    result = cli("sandbox", "--port", "0", "--script", str(script))
    assert result.exit_code == 1
    assert "s.yaml: step 1: fault 'explode' is not one of" in result.stderr
    assert "Traceback" not in result.stderr
