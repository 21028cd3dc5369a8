"""Telnyx's documented example callbacks, sent as TeXML sends them: form-encoded, every value a
string, signed over timestamp|raw body. They must verify, parse and fold into the record the
documentation implies.

Examples: developers.telnyx.com, API reference, Callbacks: TeXML call initiated / ringing /
answered / completed / AMD, and the older example on the TeXML <Hangup> verb page (a v2 call id
and a Timestamp with a space instead of a T).
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from runner.outcomes.callbacks import parse
from tests.helpers.outcomes import FORM, Keys, Listen, outcomes

SID = "v3:9X2vxPDFY2RHSJ1EdMS0RHRksMTg7ldNxdjWbVr9zBjbGjGsSe-aiQ"
COMMON = {
    "AccountSid": "f5586561-8ff0-4291-a51b-c7dfe4139ff9",
    "CallInitiatedAt": "2024-01-15T10:30:26.028Z",
    "CallSid": SID,
    "CallSidLegacy": SID,
    "CallbackSource": "call-progress-events",
    "ConnectionId": "1234567890",
    "From": "+35319605860",
    "Timestamp": "2024-01-15T10:30:00Z",
    "To": "+13129457420",
    "CallerId": "John Doe",
    "ErrorCode": "10001",
    "ErrorMessage": "Call failed",
    "ParentCallSid": "v3:MdI91X4lWFEs7IgbBEOT9M4AigoY08M0WWZFISt1Yw2axZ_IiE4pqg",
    "ParentCallSidLegacy": "v3:MdI91X4lWFEs7IgbBEOT9M4AigoY08M0WWZFISt1Yw2axZ_IiE4pqg",
}
INITIATED = {
    **COMMON,
    "CallStatus": "initiated",
    "SequenceNumber": 0,
    "ShakenStirAttestation": "A",
    "ShakenStirValidated": True,
}
RINGING = {
    **COMMON,
    "CallStatus": "ringing",
    "SequenceNumber": 1,
    "CallDuration": "10",
    "ShakenStirAttestation": "A",
    "ShakenStirValidated": True,
}
ANSWERED = {
    **COMMON,
    "CallStatus": "in-progress",
    "SequenceNumber": 2,
    "CallDuration": "15",
    "Codec": "PCMU",
    "SamplingRate": "8000",
    "ShakenStirAttestation": "A",
    "ShakenStirValidated": True,
}
COMPLETED = {
    **COMMON,
    "CallStatus": "completed",
    "SequenceNumber": 3,
    "AnsweredTime": "2024-01-15T10:30:15Z",
    "CallControlId": SID,
    "CallDuration": "45",
    "CallLegId": "abc123-leg1",
    "CallQualityStats": '{"mos":4.2,"jitter":10,"packet_loss":0.5}',
    "CallSessionId": "session-abc123",
    "DialCallDuration": "120",
    "DialCallSid": SID,
    "DialCallSidLegacy": SID,
    "DialCallStatus": "completed",
    "EndTime": "2024-01-15T10:31:00Z",
    "HangupCause": "normal_clearing",
    "HangupSource": "caller",
    "OccurredAt": "2024-01-15T10:31:00Z",
    "OrganizationId": "org-abc123",
}
AMD = {
    "AccountSid": "f5586561-8ff0-4291-a51b-c7dfe4139ff9",
    "AnsweredBy": "human",
    "CallSid": SID,
    "CallSidLegacy": SID,
    "ConnectionId": "1234567890",
    "MachineDetectionDuration": "2500",
}
HANGUP_PAGE = {
    "AccountSid": "cb6cfbbc-eb00-41af-a3f3-0d7b32009e4b",
    "CallDuration": "2",
    "CallSid": "v2:7V3r4VFCGLTzKLOveE0-7vM9dX17-NRQgU1byo-uuOIX9JcDadLLKw",
    "CallSidLegacy": "v2:7V3r4VFCGLTzKLOveE0-7vM9dX17-NRQgU1byo-uuOIX9JcDadLLKw",
    "CallStatus": "completed",
    "CallbackSource": "call-progress-events",
    "From": "+18445931290",
    "HangupSource": "callee",
    "SequenceNumber": "0",
    "Timestamp": "2021-04-28 21:51:18.731479Z",
    "To": "+13122010055",
}


def wire(example: dict) -> bytes:
    """As TeXML posts it: every value a string (booleans as true/false)."""
    text = {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in example.items()}
    return urlencode(text).encode()


@pytest.mark.parametrize(
    ("example", "kind", "status", "sequence"),
    [
        (INITIATED, "status", "initiated", 0),
        (RINGING, "status", "ringing", 1),
        (ANSWERED, "status", "in-progress", 2),
        (COMPLETED, "status", "completed", 3),
        (AMD, "amd", None, None),
        (HANGUP_PAGE, "status", "completed", 0),
    ],
    ids=["initiated", "ringing", "answered", "completed", "amd", "hangup-page"],
)
def test_each_documented_example_parses(example, kind, status, sequence):
    callback = parse(wire(example), "application/x-www-form-urlencoded")
    assert (callback.call_sid, callback.kind) == (example["CallSid"], kind)
    assert (callback.status, callback.sequence) == (status, sequence)


def test_documented_callbacks_verify_and_fold_into_the_documented_call(tmp_path):
    keys = Keys()
    server = Listen(tmp_path, "--ledger", "l.db", "--public-key", keys.public)
    try:
        # Out of order on purpose: the result must not depend on it.
        for example in (COMPLETED, AMD, RINGING, INITIATED, ANSWERED, HANGUP_PAGE):
            body = wire(example)
            reply = server.post(body, {**FORM, **keys.headers(body)})
            assert reply.status_code == 200, (example.get("CallStatus"), reply.text)
    finally:
        code, _, err = server.stop()
    assert code == 0 and "6 accepted" in err
    found = outcomes(tmp_path / "l.db")
    call = found[SID]
    assert {k: call[k] for k in ("status", "answered_by", "answered_by_detail", "sequence")} == {
        "status": "completed",
        "answered_by": "human",
        "answered_by_detail": "human",
        "sequence": 3,
    }
    assert (call["duration"], call["attestation"], call["hangup_cause"]) == (
        45,
        "A",
        "normal_clearing",
    )
    assert call["initiated_at"] == "2024-01-15T10:30:26.028Z"
    assert call["answered_at"] == "2024-01-15T10:30:15.000Z"
    assert call["ended_at"] == "2024-01-15T10:31:00.000Z"
    assert call["account_sid"] == "f5586561-8ff0-4291-a51b-c7dfe4139ff9"
    assert call["callbacks"] == 5
    older = found[HANGUP_PAGE["CallSid"]]
    assert (older["status"], older["duration"]) == ("completed", 2)
    assert older["status_at"] == "2021-04-28T21:51:18.731Z"
