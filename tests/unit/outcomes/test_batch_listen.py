"""``batch --listen``: the receiver runs inside the batch process, and the summary (and
batch-status) shows what happened to each call.

The sandbox plays Telnyx: it sends each call's status callbacks to the profile's StatusCallback,
signed with its own Ed25519 key (``Sandbox.public_key``), which the receiver is given. A receiver
given another key refuses them all; with the sandbox's delivery faults (duplicates, reversed
order, a bad signature, a changed byte, a stale timestamp) the forged ones are refused and the
records come out as the sandbox meant them.
"""

from __future__ import annotations

import csv
import json
import signal

import pytest

from runner.sandbox import Step
from tests.helpers.batch import ledger_rows, many, write_contacts, write_profile
from tests.helpers.env import API_KEY
from tests.helpers.outcomes import WAIT, Keys, Process, free_port, outcomes

EVENTS = "initiated ringing answered completed no-answer busy canceled failed"


@pytest.fixture
def port():
    return free_port()


@pytest.fixture
def env(tmp_path, monkeypatch, server, port):
    monkeypatch.setenv("TELNYX_API_KEY", API_KEY)
    monkeypatch.setenv("TELNYX_BASE_URL", server.base_url)
    profile = (
        'description: Batch with callbacks.\nconnection_id: "conn-batch"\n'
        "variables:\n  name:\n    required: true\n"
        'call:\n  From: "+13120001234"\n  AIAssistantId: "assistant-batch"\n'
        f'  StatusCallback: "http://127.0.0.1:{port}/status"\n'
        f'  StatusCallbackEvent: "{EVENTS}"\n'
        "  StatusCallbackMethod: POST\n"
        '  AIAssistantDynamicVariables:\n    name: "{{ name }}"\n'
    )
    return write_profile(tmp_path, profile)


def batch(cli, profiles, tmp_path, *args, rows=6):
    contacts = write_contacts(tmp_path / "c.csv", many(rows))
    return cli(
        "batch",
        "remind",
        "--contacts",
        str(contacts),
        "--rate",
        "1000",
        "--concurrency",
        "2",
        *args,
        profiles_dir=profiles,
    )


def test_outcomes_arrive_in_the_same_ledger_and_show_in_the_summary(
    cli, env, server, port, tmp_path, ledger_spec
):
    """On both ledgers: the receiver writes into the batch's SQLite file or PostgreSQL
    database."""
    for n, outcome in ((2, "busy"), (3, "no-answer"), (5, "failed")):
        server.script(n, Step(outcome=outcome))
    key = server.sandbox.public_key
    ledger = ledger_spec
    args = ("--listen", str(port), "--public-key", key, "--ledger", ledger)
    result = batch(cli, env, tmp_path, *args)
    assert result.exit_code == 0, result.stderr
    assert f"verifying Ed25519 signatures with key {key}" in result.stderr
    assert f"receiving callbacks on http://127.0.0.1:{port}" in result.stderr
    for line in (
        "outcomes (callbacks heard for 6 of 6 placed)",
        "answered (no AMD result)        3",
        "no answer                       1",
        "busy                            1",
        "failed                          1",
        "awaiting callback               0",
    ):
        assert line in result.stdout, result.stdout
    by_sid = outcomes(ledger)
    rows = {r["call_sid"]: r for r in ledger_rows(ledger)}
    assert set(by_sid) == set(rows)  # every callback matched its row
    assert sorted(o["status"] for o in by_sid.values()) == sorted(
        ["completed"] * 3 + ["busy", "no-answer", "failed"]
    )
    status = cli("batch-status", "--ledger", str(ledger))
    assert status.stdout == result.stdout
    document = json.loads(cli("batch-status", "--ledger", str(ledger), "-o", "json").stdout)
    summary = document["batches"][0]
    assert summary["outcomes"] == {
        "human": 0,
        "machine": 0,
        "answered": 3,
        "no-answer": 1,
        "busy": 1,
        "failed": 1,
        "canceled": 0,
        "awaiting": 0,
    }
    assert summary["counts"]["placed"] == 6 and summary["exit_code"] == 0
    report = tmp_path / "r.csv"
    assert cli("batch-status", "--ledger", str(ledger), "--report", str(report)).exit_code == 0
    with open(report, encoding="utf-8", newline="") as fh:
        lines = list(csv.DictReader(fh))
    assert sorted(r["outcome"] for r in lines) == sorted(
        ["answered"] * 3 + ["busy", "no-answer", "failed"]
    )
    assert {r["call_status"] for r in lines} == {"completed", "busy", "no-answer", "failed"}


def test_without_a_key_the_batch_does_not_start(cli, env, server, port, tmp_path):
    result = batch(cli, env, tmp_path, "--listen", str(port))
    assert result.exit_code == 2
    assert "[CP701]" in result.stderr
    assert server.posts == []


def test_unsigned_callbacks_are_refused_and_record_nothing(env, server, port, tmp_path):
    write_contacts(tmp_path / "c.csv", many(3))
    argv = ["--profiles-dir", str(env), "batch", "remind", "--contacts", "c.csv", "--rate", "1000"]
    batch = Process(
        tmp_path,
        [*argv, "--listen", str(port), "--public-key", Keys().public],
        {"TELNYX_API_KEY": API_KEY, "TELNYX_BASE_URL": server.base_url},
    )
    # The calls are placed; nothing the sandbox sends is believed, so their outcomes stay due.
    batch.wait_for_line("waiting up to 30s for the final callbacks of 3 call(s)")
    sent = len(EVENTS.split()[:4]) * 3  # initiated, ringing, answered, completed for each call
    delivered = server.sandbox.wait_for(
        lambda records: (
            sum(1 for r in records if r["kind"] == "callback" and "status" in r) == sent
        ),
        WAIT,
    )
    assert delivered
    assert {r["status"] for r in server.sandbox.callbacks} == {403}
    batch.proc.send_signal(signal.SIGINT)  # Ctrl-C while lingering: stop waiting, end normally
    assert batch.wait() == 0, batch.err
    err = "".join(batch.err)
    assert "stopped waiting for callbacks" in err
    assert f"0 accepted, 0 duplicate(s), {sent} rejected (403: {sent})" in err
    assert outcomes(tmp_path / "c.csv.ledger.db") == {}
    assert "outcomes (" not in "".join(batch.out)


def test_listen_flags_that_do_not_fit(cli, env, tmp_path, port):
    dry = batch(cli, env, tmp_path, "--listen", str(port), "--no-verify", "--dry-run")
    assert dry.exit_code == 2 and "--listen and --dry-run" in dry.stderr
    alone = batch(cli, env, tmp_path, "--no-verify")
    assert alone.exit_code == 2 and "--no-verify applies to --listen only" in alone.stderr
    bad = batch(cli, env, tmp_path, "--listen", "not-a-port", "--no-verify")
    assert bad.exit_code == 2 and "is not PORT or HOST:PORT" in bad.stderr
    remote = batch(cli, env, tmp_path, "--listen", f"0.0.0.0:{port}", "--no-verify")
    assert remote.exit_code == 2 and "[CP702]" in remote.stderr


FAULTS = "[duplicate, out-of-order, bad-signature, tampered, stale-timestamp]"
PLAN = {"0": "human", "1": "machine", "2": "no-answer", "3": "busy", "4": "failed"}
EXPECTED = {"human": "human", "machine": "machine", "no-answer": "no-answer", "busy": "busy"}
EXPECTED["failed"] = "failed"


def test_every_delivery_fault_is_survived_and_only_genuine_callbacks_count(cli, tmp_path, port):
    """--sandbox: the batch's own sandbox, with a script giving each number an outcome and every
    call all five delivery faults; the receiver verifies with the sandbox's key."""
    profile = (
        'description: Outcomes under faults.\nconnection_id: "conn-faults"\n'
        "variables:\n  name:\n    required: true\n"
        'call:\n  From: "+13120001234"\n  AIAssistantId: "assistant-faults"\n'
        f'  StatusCallback: "http://127.0.0.1:{port}/status"\n'
        f'  StatusCallbackEvent: "{EVENTS}"\n'
        "  MachineDetection: Enable\n  AsyncAmd: true\n"
        f'  AsyncAmdStatusCallback: "http://127.0.0.1:{port}/amd"\n'
        '  AIAssistantDynamicVariables:\n    name: "{{ name }}"\n'
    )
    profiles = write_profile(tmp_path, profile)
    script = tmp_path / "plan.yaml"
    script.write_text(
        "".join(
            f'- {{to: "*{digit}", outcome: {outcome}, callback_faults: {FAULTS}}}\n'
            for digit, outcome in PLAN.items()
        )
    )
    contacts = write_contacts(tmp_path / "c.csv", many(10))
    log = tmp_path / "sandbox.jsonl"
    argv = ["batch", "remind", "--contacts", str(contacts), "--rate", "1000"]
    argv += ["--sandbox", "--sandbox-script", str(script), "--sandbox-log", str(log)]
    result = cli(*argv, "--listen", str(port), profiles_dir=profiles)
    assert result.exit_code == 0, result.stderr
    records = [json.loads(line) for line in log.read_text().splitlines()]
    posts = [r for r in records if r["kind"] == "request" and r.get("connection_id")]
    deliveries = [r for r in records if r["kind"] == "callback" and "status" in r]
    forged = [
        d for d in deliveries if d.get("fault") in ("bad-signature", "tampered", "stale-timestamp")
    ]
    genuine = [d for d in deliveries if d not in forged]
    faulted = [p for p in posts if p.get("callback_faults")]
    assert len(faulted) == 5  # numbers ending 0-4; the others are answered, without faults
    assert len(forged) == 3 * len(faulted)
    assert {d["status"] for d in forged} == {403}
    assert {d["status"] for d in genuine} == {200}
    assert any(d.get("fault") == "duplicate" for d in deliveries)
    # Every call's record is what the sandbox meant, whatever order and copies arrived in.
    ledger = tmp_path / "c.csv.sandbox.ledger.db"
    stored = outcomes(ledger)
    from runner.outcomes.record import classify

    meant = {p["response"]["call_sid"]: EXPECTED[p["outcome"]] for p in posts}
    got = {sid: classify(o["status"], o["answered_by"]) for sid, o in stored.items()}
    assert got == meant
    assert f"{len(forged)} rejected (403: {len(forged)})" in result.stderr
    for line in ("answered by a person            6", "busy                            1"):
        assert line in result.stdout
