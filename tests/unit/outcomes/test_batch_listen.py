"""``batch --listen``: the receiver runs inside the batch process, and the summary (and
batch-status) shows what happened to each call.

The sandbox plays Telnyx and sends each call's status callbacks to the profile's StatusCallback.
It does not sign them yet, so the verifying runs use --no-verify (loopback only), and one test
shows that without it every unsigned callback is refused and the ledger keeps no outcome.
"""

from __future__ import annotations

import csv
import json
import signal

import pytest

from runner.sandbox import Step
from tests.helpers.batch import ledger_rows, many, write_contacts, write_profile
from tests.helpers.batch_server import LoggedSandbox
from tests.helpers.env import API_KEY
from tests.helpers.outcomes import WAIT, Keys, Process, free_port, outcomes

EVENTS = "initiated ringing answered completed no-answer busy canceled failed"


@pytest.fixture
def server(tmp_path):
    sandbox = LoggedSandbox(tmp_path / "sandbox.jsonl")
    yield sandbox
    sandbox.stop()


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
    cli, env, server, port, tmp_path
):
    for n, outcome in ((2, "busy"), (3, "no-answer"), (5, "failed")):
        server.script(n, Step(outcome=outcome))
    result = batch(cli, env, tmp_path, "--listen", str(port), "--no-verify")
    assert result.exit_code == 0, result.stderr
    assert "signature verification is OFF" in result.stderr
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
    ledger = tmp_path / "c.csv.ledger.db"
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
