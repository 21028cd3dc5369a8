"""The failure matrix end to end, judged by the sandbox's own JSON-lines log.

``callprofile run`` and ``callprofile batch`` each meet every scripted fault (429 then 200, 500,
a 502 HTML page, 503, a stall past --timeout, a reset or close after the body, malformed JSON,
401, 422, connection refused). Besides the exit codes and the ledger states, every test reads
what the sandbox logged and checks that no call (the same ``To`` and body) was received twice,
except after an answer that means "not processed" (429, 401). Retry-After and retry waits go
through the CLI's wait seams (``cmd_run.wait``; ``cmd_batch.clock``/``cmd_batch.wait`` on a
fake clock): no test sleeps.
"""

from __future__ import annotations

import json
import socket
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from runner.sandbox import Sandbox, Step, parse_spec
from tests.helpers.batch import ledger_rows, many, number, write_contacts, write_profile
from tests.helpers.env import API_KEY
from tests.helpers.submit_data import TO

NOT_PROCESSED = (429, 401)  # answers after which the same request may arrive again


def logged_calls(log: Path) -> list[dict[str, Any]]:
    """The POSTs to the call endpoint that the sandbox wrote to its log, in arrival order."""
    if not log.exists():
        return []
    records = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    return [r for r in records if r["kind"] == "request" and r.get("connection_id")]


def key(record: dict[str, Any]) -> tuple[str, str]:
    return record["body"]["To"], json.dumps(record["body"], sort_keys=True)


def status(record: dict[str, Any]) -> int | str:
    response = record.get("response") or {}
    return response.get("status") or response.get("fault", "?")


def assert_no_call_twice(log: Path) -> list[dict[str, Any]]:
    """No (To, body) was received twice, apart from requests answered 429 or 401 (which
    Telnyx does not process), and each of those arrived again only after that answer."""
    calls = logged_calls(log)
    processed = Counter(key(c) for c in calls if status(c) not in NOT_PROCESSED)
    twice = [k[0] for k, n in processed.items() if n > 1]
    assert not twice, f"received twice: {twice}"
    return calls


@pytest.fixture
def sandbox_log(tmp_path: Path):
    """sandbox(*steps, port=0) -> a started Sandbox logging to tmp_path/sandbox.jsonl."""
    started: list[Sandbox] = []
    log = tmp_path / "sandbox.jsonl"

    def start(*steps: Step, port: int = 0) -> Sandbox:
        server = Sandbox(script=steps, port=port, log_path=str(log)).start()
        started.append(server)
        return server

    start.log = log  # type: ignore[attr-defined]
    yield start
    for server in started:
        server.stop()


# ------------------------------------------------------------------------------- callprofile run

RETRY_1 = (("Retry-After", "1"),)
UNPROCESSABLE = Step(
    status=422,
    body={"errors": [{"code": "10005", "title": "Not found", "source": {"pointer": "/To"}}]},
)
RUN_CASES = {
    # name: (script, extra flags, exit code, POSTs logged, retry waits asked for)
    "429 then 200": ([Step(status=429, headers=RETRY_1)], [], 0, 2, [1.0]),
    "429 forever": ([parse_spec("429,retry-after=1,times=forever")], [], 6, 3, [1.0, 1.0]),
    "500": ([Step(status=500)], [], 5, 1, []),
    "502 html": ([Step(fault="html")], [], 5, 1, []),
    "503 with Retry-After": ([Step(status=503, headers=RETRY_1)], [], 5, 1, []),
    "stall past --timeout": ([Step(fault="stall")], ["--timeout", "0.2"], 5, 1, []),
    "reset after the body": ([Step(fault="reset")], [], 5, 1, []),
    "close after the body": ([Step(fault="close")], [], 5, 1, []),
    "malformed JSON": ([Step(fault="bad-json")], [], 5, 1, []),
    "401": ([Step(status=401)], [], 4, 1, []),
    "422": ([UNPROCESSABLE], [], 4, 1, []),
}


@pytest.mark.parametrize("case", list(RUN_CASES))
def test_run_fault_matrix_never_sends_a_call_twice(case, cli, profile_dir, sandbox_log, waits):
    script, extra, code, posts, waits = RUN_CASES[case]
    server = sandbox_log(*script)
    result = cli(
        "run", "reminder", "--to", TO, "--base-url", server.base_url, *extra,
        profiles_dir=profile_dir,
    )  # fmt: skip
    assert result.exit_code == code, result.stderr
    assert "Traceback" not in result.stderr
    calls = assert_no_call_twice(sandbox_log.log)
    assert len(calls) == posts
    assert {c["body"]["To"] for c in calls} == {TO}
    assert waits == waits
    if code == 5:
        assert "outcome unknown" in result.stderr
    if case == "429 then 200":
        assert [status(c) for c in calls] == [429, 200]
        assert key(calls[0]) == key(calls[1])  # the refused request, sent again unchanged


def test_run_connection_refused_is_retried_and_the_call_arrives_once(
    cli, profile_dir, sandbox_log, monkeypatch
):
    from runner.cli import cmd_run

    # A bound socket that never listens refuses connections; its port is handed to the
    # sandbox during the first retry wait.
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))
    port = holder.getsockname()[1]
    waits: list[float] = []

    def start_sandbox_instead_of_waiting(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 1:
            holder.close()
            sandbox_log(port=port)

    monkeypatch.setattr(cmd_run, "wait", start_sandbox_instead_of_waiting)
    result = cli(
        "run", "reminder", "--to", TO, "--base-url", f"http://127.0.0.1:{port}/v2",
        profiles_dir=profile_dir,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert len(waits) == 1 and "connection failed" in result.stderr
    calls = assert_no_call_twice(sandbox_log.log)
    assert [status(c) for c in calls] == [200]


# ----------------------------------------------------------------------------- callprofile batch


class FakeClock:
    """The batch's clock and wait: waiting moves the clock, so a Retry-After takes no time."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []
        self._lock = threading.Lock()

    def time(self) -> float:
        with self._lock:
            return self.now

    def wait(self, seconds: float) -> None:
        with self._lock:
            self.waits.append(seconds)
            # A real wait always lets some time pass; a wait of 1e-14 s would not move a float
            # clock at 1000.0, and the token bucket would ask for it again forever.
            self.now += max(1e-6, seconds)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    from runner.cli import cmd_batch

    fake = FakeClock()
    monkeypatch.setattr(cmd_batch, "clock", fake.time)
    monkeypatch.setattr(cmd_batch, "wait", fake.wait)
    return fake


@pytest.fixture
def batch_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TELNYX_API_KEY", API_KEY)
    return write_profile(tmp_path)


def batch(cli, profiles: Path, base_url: str, *args: str):
    return cli(
        "batch", "remind", "--contacts", "c.csv", "--rate", "1000", "--concurrency", "1",
        "--base-url", base_url, *args, profiles_dir=profiles,
    )  # fmt: skip


# With one worker, POST n is row n + 1 (the header is row 1), except that a 429 is sent again.
BATCH_SCRIPT = [
    Step(status=429, headers=RETRY_1),  # row 2: refused, paused, sent again -> placed
    Step(),  # row 2 again
    Step(status=500),  # row 3
    Step(fault="html"),  # row 4
    Step(status=503, headers=RETRY_1),  # row 5
    Step(fault="stall"),  # row 6, past --timeout
    Step(fault="reset"),  # row 7
    Step(fault="close"),  # row 8
    Step(fault="bad-json"),  # row 9
    UNPROCESSABLE,  # row 10
]
BATCH_STATES = {2: "placed", 10: "failed", 11: "placed", 12: "placed"}
BATCH_STATES.update(dict.fromkeys(range(3, 10), "unknown"))


def test_batch_fault_matrix_records_every_row_and_never_sends_a_call_twice(
    cli, batch_env, sandbox_log, clock, tmp_path
):
    server = sandbox_log(*BATCH_SCRIPT)
    write_contacts(tmp_path / "c.csv", many(11))
    result = batch(cli, batch_env, server.base_url, "--timeout", "0.2")
    assert result.exit_code == 5, result.stderr  # unknown rows outrank the failed one
    rows = {r["row_no"]: r for r in ledger_rows(tmp_path / "c.csv.ledger.db")}
    assert {n: r["state"] for n, r in rows.items()} == BATCH_STATES
    assert rows[10]["error_code"] == "10005" and rows[10]["http_status"] == 422
    assert "pausing every worker for 1.0s" in result.stderr
    assert 1.0 in clock.waits  # the 429's Retry-After, on the fake clock
    calls = assert_no_call_twice(sandbox_log.log)
    assert [status(c) for c in calls] == [
        429, 200, 500, 502, 503, "stall", "reset", "close", 200, 422, 200, 200
    ]  # fmt: skip
    assert [c["body"]["To"] for c in calls] == [number(0), *(number(i) for i in range(11))]
    placed = {r["call_sid"] for r in rows.values() if r["state"] == "placed"}
    assert placed == {c["response"].get("call_sid") for c in calls if status(c) == 200} - {None}

    # Running the same command again sends nothing: unknown and failed rows are never re-sent.
    again = batch(cli, batch_env, server.base_url, "--timeout", "0.2")
    assert again.exit_code == 5, again.stderr
    assert len(logged_calls(sandbox_log.log)) == len(calls)


def test_batch_401_stops_keeps_rows_pending_and_a_rerun_calls_each_once(
    cli, batch_env, sandbox_log, clock, tmp_path
):
    server = sandbox_log(Step(status=401))
    write_contacts(tmp_path / "c.csv", many(6))
    result = batch(cli, batch_env, server.base_url)
    assert result.exit_code == 4, result.stderr
    assert "refused the API key (401)" in result.stderr.splitlines()[-1]
    states = {r["state"] for r in ledger_rows(tmp_path / "c.csv.ledger.db")}
    assert states == {"pending"}
    assert [status(c) for c in logged_calls(sandbox_log.log)] == [401]

    rerun = batch(cli, batch_env, server.base_url)
    assert rerun.exit_code == 0, rerun.stderr
    calls = assert_no_call_twice(sandbox_log.log)
    assert [status(c) for c in calls] == [401] + [200] * 6
    assert sorted(c["body"]["To"] for c in calls[1:]) == [number(i) for i in range(6)]


def test_batch_connection_refused_keeps_rows_pending_and_a_rerun_calls_each_once(
    cli, batch_env, sandbox_log, clock, tmp_path
):
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    try:
        refused = f"http://127.0.0.1:{holder.getsockname()[1]}/v2"
        write_contacts(tmp_path / "c.csv", many(5))
        result = batch(cli, batch_env, refused)
        assert result.exit_code == 6, result.stderr
        assert "could not reach Telnyx" in result.stderr and "after 3 attempt(s)" in result.stderr
    finally:
        holder.close()
    assert {r["state"] for r in ledger_rows(tmp_path / "c.csv.ledger.db")} == {"pending"}

    server = sandbox_log()
    rerun = batch(cli, batch_env, server.base_url)  # the same batch: the URL is not its identity
    assert rerun.exit_code == 0, rerun.stderr
    assert "resuming batch" in rerun.stderr
    calls = assert_no_call_twice(sandbox_log.log)
    assert sorted(c["body"]["To"] for c in calls) == [number(i) for i in range(5)]
