"""Simulated outcomes: weighted and repeatable per number, overridden per number by a script,
answering machine detection only when asked for, and callback delivery faults."""

from __future__ import annotations

import base64
import time
from collections import Counter

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from runner.sandbox import Sandbox, Step, parse_spec
from tests.helpers.env import API_KEY
from tests.helpers.webhook_receiver import Receiver

AUTH = {"Authorization": f"Bearer {API_KEY}"}
EVENTS = "initiated ringing answered completed"
MIX = {"human": 60, "machine": 20, "no-answer": 10, "busy": 5, "failed": 5}
WAIT = 20


def number(n: int) -> str:
    return f"+1312555{n:04d}"


def call(to: str = "+13125550101", **fields: object) -> dict:
    return {"From": "+13120001234", "To": to, "AIAssistantId": "assistant-1", **fields}


@pytest.fixture
def receiver():
    made: list[Receiver] = []

    def make(expected: int) -> Receiver:
        made.append(Receiver(expected))
        return made[-1]

    yield make
    for r in made:
        r.close()


def place(server: Sandbox, *bodies: dict) -> list[str]:
    with httpx.Client(trust_env=False, timeout=WAIT) as client:
        replies = [
            client.post(f"{server.base_url}/texml/ai_calls/c", json=b, headers=AUTH) for b in bodies
        ]
    return [r.json().get("call_sid") for r in replies]


def outcomes_by_number(server: Sandbox) -> dict[str, str]:
    return {c["body"]["To"]: c["outcome"] for c in server.calls}


def of_call(hook: Receiver, call_sid: str) -> list[dict]:
    return [r for r in hook.received if r["form"]["CallSid"] == call_sid]


def signature_ok(public_key: str, received: dict) -> bool:
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key))
    headers = received["headers"]
    try:
        key.verify(
            base64.b64decode(headers["telnyx-signature-ed25519"]),
            headers["telnyx-timestamp"].encode() + b"|" + received["raw"],
        )
    except InvalidSignature:
        return False
    return True


# ------------------------------------------------------------------------- weights and seeds


def test_outcomes_follow_the_weights_and_repeat_for_a_seed(sandbox):
    numbers = [call(number(n)) for n in range(300)]
    first = sandbox(outcomes=MIX, seed=11)
    place(first, *numbers)
    again = sandbox(outcomes=MIX, seed=11)
    place(again, *reversed(numbers))  # arrival order does not matter, only number and attempt
    other = sandbox(outcomes=MIX, seed=12)
    place(other, *numbers)
    assert outcomes_by_number(first) == outcomes_by_number(again)
    assert outcomes_by_number(first) != outcomes_by_number(other)
    counts = Counter(outcomes_by_number(first).values())
    assert set(counts) == set(MIX)
    assert counts["human"] > counts["machine"] > counts["busy"]
    assert 150 <= counts["human"] <= 210  # 60% of 300, give or take


def test_a_number_called_again_gets_a_fresh_draw(sandbox):
    server = sandbox(outcomes={"human": 1, "busy": 1}, seed=5)
    place(server, *[call("+13125550199")] * 40)
    assert {c["outcome"] for c in server.calls} == {"human", "busy"}


def test_without_weights_every_call_is_answered_by_a_person(sandbox):
    server = sandbox()
    place(server, *[call(number(n)) for n in range(20)])
    assert {c["outcome"] for c in server.calls} == {"human"}


def test_status_callbacks_tell_the_outcome(sandbox, receiver):
    hook = receiver(expected=3 + 2 + 1 + 1)
    server = sandbox(Step(outcome="no-answer"), Step(outcome="busy"), Step(outcome="failed"))
    sids = place(
        server,
        call(StatusCallback=hook.url, StatusCallbackEvent=EVENTS),
        call(StatusCallback=hook.url, StatusCallbackEvent=EVENTS),
        call(StatusCallback=hook.url),  # the default, "completed", still reports the end
        call(StatusCallback=hook.url),
    )
    assert hook.done.wait(WAIT)
    server.drain_callbacks(WAIT)
    statuses = [[r["form"]["CallStatus"] for r in of_call(hook, sid)] for sid in sids]
    assert statuses == [
        ["initiated", "ringing", "no-answer"],
        ["initiated", "busy"],
        ["failed"],
        ["completed"],
    ]
    busy = of_call(hook, sids[1])[-1]["form"]
    assert (busy["HangupCause"], busy["SipHangupCause"]) == ("user_busy", "486")


# ------------------------------------------------------------------------- per-number overrides


def test_numbers_matching_a_rule_never_answer(sandbox):
    never = parse_spec("normal,to=*0,outcome=no-answer")
    server = sandbox(never, Step(status=503), seed=3)
    to_zero = [call(number(n * 10)) for n in range(1, 6)] * 3  # every attempt
    place(server, *to_zero)
    assert {c["outcome"] for c in server.calls} == {"no-answer"}
    # The rule did not use up the steps in order: the next other number gets the 503.
    with httpx.Client(trust_env=False, timeout=WAIT) as client:
        url = f"{server.base_url}/texml/ai_calls/c"
        assert client.post(url, json=call(number(11)), headers=AUTH).status_code == 503
        assert client.post(url, json=call(number(11)), headers=AUTH).status_code == 200


def test_a_rule_in_a_script_file(cli_script, sandbox):
    server = sandbox(*cli_script('- {to: "+1312555*7", outcome: busy, times: 2}\n'))
    place(server, *[call(number(7))] * 3)
    assert [c["outcome"] for c in server.calls] == ["busy", "busy", "human"]


@pytest.fixture
def cli_script(tmp_path):
    from runner.sandbox import load_script

    def load(text: str) -> list[Step]:
        path = tmp_path / "script.yaml"
        path.write_text(text)
        return load_script(str(path))

    return load


# ------------------------------------------------------------------------- machine detection


def test_amd_only_for_calls_that_ask_for_it(sandbox, receiver):
    hook = receiver(expected=8)
    server = sandbox(Step(outcome="machine"), Step(outcome="machine"))
    asked, not_asked = place(
        server,
        call(StatusCallback=hook.url, StatusCallbackEvent=EVENTS, MachineDetection="Enable"),
        call(StatusCallback=hook.url, StatusCallbackEvent=EVENTS),
    )
    assert hook.done.wait(WAIT)
    answered_by = [r["form"].get("AnsweredBy") for r in of_call(hook, asked)]
    assert answered_by == [None, None, "machine_start", "machine_start"]
    assert all("AnsweredBy" not in r["form"] for r in of_call(hook, not_asked))
    assert [c.get("answered_by") for c in server.calls] == ["machine_start", None]


def test_async_amd_sends_one_amd_callback(sandbox, receiver):
    status_hook, amd_hook = receiver(expected=4), receiver(expected=1)
    server = sandbox(Step(outcome="human"), Step(outcome="no-answer"))
    amd = {
        "MachineDetection": "DetectMessageEnd",
        "AsyncAmd": True,
        "AsyncAmdStatusCallback": amd_hook.url,
        "StatusCallback": status_hook.url,
        "StatusCallbackEvent": EVENTS,
    }
    answered, unanswered = place(server, call(**amd), call(**amd))
    assert amd_hook.done.wait(WAIT)
    assert server.drain_callbacks(WAIT)
    (only,) = amd_hook.received
    form = only["form"]
    assert set(form) == {
        "AccountSid",
        "AnsweredBy",
        "CallSid",
        "CallSidLegacy",
        "ConnectionId",
        "MachineDetectionDuration",
    }
    assert (form["CallSid"], form["AnsweredBy"]) == (answered, "human")
    assert int(form["MachineDetectionDuration"]) > 0
    assert signature_ok(server.public_key, only)
    assert all("AnsweredBy" not in r["form"] for r in status_hook.received)
    assert unanswered not in {r["form"]["CallSid"] for r in amd_hook.received}


# ------------------------------------------------------------------------- callback faults


def test_duplicate_and_out_of_order_deliveries(sandbox, receiver):
    hook = receiver(expected=5 + 4)
    server = sandbox(Step(callback_faults=("duplicate",)), Step(callback_faults=("out-of-order",)))
    body = call(StatusCallback=hook.url, StatusCallbackEvent=EVENTS)
    doubled, shuffled = place(server, body, body)
    assert hook.done.wait(WAIT)
    assert server.drain_callbacks(WAIT)
    sequence = [r["form"]["SequenceNumber"] for r in of_call(hook, doubled)]
    assert sequence == ["0", "1", "2", "3", "3"]
    assert all(signature_ok(server.public_key, r) for r in of_call(hook, doubled))
    late = of_call(hook, shuffled)
    assert [r["form"]["CallStatus"] for r in late] == [
        "completed",
        "in-progress",
        "ringing",
        "initiated",
    ]
    assert [r["form"]["SequenceNumber"] for r in late] == ["3", "2", "1", "0"]


@pytest.mark.parametrize("fault", ["bad-signature", "tampered", "stale-timestamp"])
def test_forged_callbacks_claim_another_end(sandbox, receiver, fault):
    hook = receiver(expected=2)
    server = sandbox(Step(callback_faults=(fault,)))
    (sid,) = place(server, call(StatusCallback=hook.url))
    assert hook.done.wait(WAIT)
    assert server.drain_callbacks(WAIT)
    genuine, forged = of_call(hook, sid)
    assert signature_ok(server.public_key, genuine)
    assert genuine["form"]["CallStatus"] == "completed"
    # Believing the forged one would change the record: another status, a later sequence.
    assert forged["form"]["CallStatus"] == "busy"
    assert int(forged["form"]["SequenceNumber"]) > int(genuine["form"]["SequenceNumber"])
    stamp = int(forged["headers"]["telnyx-timestamp"])
    if fault == "stale-timestamp":
        assert signature_ok(server.public_key, forged)  # genuine key, old timestamp
        assert time.time() - stamp >= 300
    else:
        assert not signature_ok(server.public_key, forged)
        assert abs(time.time() - stamp) < 60
    assert [c.get("fault") for c in server.callbacks] == [None, fault]


def test_fault_chances_apply_to_every_call(sandbox, receiver):
    hook = receiver(expected=10)
    server = sandbox(callback_faults={"duplicate": 1.0}, seed=1)
    sids = place(server, *[call(number(n), StatusCallback=hook.url) for n in range(5)])
    assert hook.done.wait(WAIT)
    assert server.drain_callbacks(WAIT)
    assert [len(of_call(hook, sid)) for sid in sids] == [2] * 5
    assert all(c["callback_faults"] == ["duplicate"] for c in server.calls)


# ------------------------------------------------------------------------- flags


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--outcomes", "human=60,robot=5"], 2, "'robot' is not an outcome"),
        (["--outcomes", "human=0"], 2, "at least one outcome a weight above 0"),
        (["--outcomes", "human=lots"], 2, "'lots' is not a number"),
        (["--callback-faults", "duplicate=2"], 2, "is a chance, from 0 to 1"),
        (["--callback-faults", "gremlins=0.5"], 2, "'gremlins' is not one of"),
        (["--respond", "normal,to=*0,outcome=maybe"], 1, "'maybe' is not an outcome"),
        (["--respond", "normal,callback-faults=duplicate+chaos"], 1, "'chaos' is not one of"),
    ],
)
def test_bad_outcome_flags_are_reported(cli, args, code, message):
    result = cli("sandbox", "--port", "0", *args)
    assert result.exit_code == code, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
