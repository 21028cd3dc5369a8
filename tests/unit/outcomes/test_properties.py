"""Any order and any duplication of a call's callbacks gives the same final record; a record
never moves backwards as callbacks arrive.

Checked twice: on ``runner.outcomes.record.fold`` (the library function, many examples), and end
to end through a real receiver on loopback into a ledger (fewer examples: each is HTTP).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.batch.ledger import open_ledger
from runner.outcomes.callbacks import parse
from runner.outcomes.receiver import Receiver
from runner.outcomes.record import RANK, fold
from runner.outcomes.verify import Verifier, load_public_key
from runner.outcomes.writer import Writer
from tests.helpers.outcomes import FORM, Keys, form, outcomes, status_callback

PROGRESS = ["initiated", "ringing", "in-progress"]
ENDINGS = ["completed", "busy", "no-answer", "failed", "canceled"]
AMD = ["human", "machine_start", "machine_end_beep", "fax", "unknown"]


@st.composite
def call_callbacks(draw: st.DrawFn) -> list[dict]:
    """The distinct callbacks Telnyx could send for one call (as form fields)."""
    steps = draw(st.lists(st.sampled_from(PROGRESS), unique=True))
    steps = sorted(steps, key=PROGRESS.index)
    ending = draw(st.sampled_from([None, *ENDINGS]))
    out = []
    for seq, status in enumerate([*steps, *([ending] if ending else [])]):
        extra = {}
        if draw(st.booleans()):
            extra["CallDuration"] = draw(st.integers(0, 600))
        if draw(st.booleans()):
            extra["ShakenStirAttestation"] = draw(st.sampled_from("ABC"))
        if status in ENDINGS and draw(st.booleans()):
            extra["EndTime"] = f"2024-01-15T10:4{seq}:00Z"
        out.append(status_callback("v3:prop", status, seq, **extra))
    for verdict in draw(st.lists(st.sampled_from(AMD), unique=True, max_size=2)):
        out.append({"CallSid": "v3:prop", "AnsweredBy": verdict, "AccountSid": "acc"})
    return out


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[list[dict], list[dict]]:
    """(the callbacks in their natural order, the same shuffled with duplicates)."""
    natural = draw(call_callbacks().filter(bool))
    copies = [cb for cb in natural for _ in range(draw(st.integers(1, 3)))]
    return natural, draw(st.permutations(copies))


def parsed(fields: list[dict]) -> list:
    return [parse(form(f), "application/x-www-form-urlencoded") for f in fields]


@settings(max_examples=300, deadline=None)
@given(deliveries())
def test_fold_is_the_same_for_every_order_and_duplication(case):
    natural, delivered = case
    assert fold("v3:prop", parsed(delivered)) == fold("v3:prop", parsed(natural))


@settings(max_examples=200, deadline=None)
@given(deliveries())
def test_a_call_never_moves_backwards(case):
    _, delivered = case
    seen = []
    ranks = []
    for callback in parsed(delivered):
        seen.append(callback)
        ranks.append(RANK.get(fold("v3:prop", seen).status or "", 0))
    assert ranks == sorted(ranks)


def test_through_the_receiver_every_order_gives_the_same_ledger_record(tmp_path: Path):
    keys = Keys()
    ledger = tmp_path / "l.db"
    receiver = Receiver(
        port=0,
        verifier=Verifier(load_public_key(keys.public)),
        writer=Writer(open_ledger(str(ledger))),
    ).start()
    counter = itertools.count()
    columns = ("status", "answered_by", "answered_by_detail", "duration", "attestation")
    columns += ("ended_at", "sequence", "callbacks")

    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(deliveries())
    def check(case):
        natural, delivered = case
        sid = f"v3:prop-{next(counter)}"
        with httpx.Client(trust_env=False, timeout=10) as client:
            for fields in delivered:
                body = form({**fields, "CallSid": sid})
                reply = client.post(
                    receiver.url, content=body, headers={**FORM, **keys.headers(body)}
                )
                assert reply.status_code == 200
        expected = fold(sid, parsed([{**f, "CallSid": sid} for f in natural]))
        stored = outcomes(ledger)[sid]
        assert {c: stored[c] for c in columns} == {c: getattr(expected, c) for c in columns}

    try:
        check()
    finally:
        receiver.stop()
