"""batch --sandbox like run --sandbox (issue 9, item 7), the sandbox's token rule as documented
(any bearer token), and two "Also found" items: the lock file goes away with the batch, and a
resumed batch does not point at lines it did not print."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from runner.sandbox import Sandbox
from tests.helpers.batch import ledger_rows, many, write_contacts, write_profile
from tests.helpers.env import API_KEY, EXAMPLE_PROFILES

REMINDER = ("appointment-reminder", "--var", "customer_name=Ada", "--var", "appointment_time=x")


@pytest.fixture
def setup(tmp_path):
    profiles = write_profile(tmp_path)
    rows = [*many(4), {"to": "not a number", "name": "Bad"}]
    contacts = write_contacts(tmp_path / "c.csv", rows)
    return profiles, contacts


def _posts(log):
    records = [json.loads(x) for x in log.read_text(encoding="utf-8").splitlines()]
    return [r for r in records if r["kind"] == "request" and r.get("connection_id")]


def test_batch_sandbox_needs_no_key_and_keeps_its_own_ledger(cli, tmp_path, setup):
    profiles, contacts = setup
    log = tmp_path / "sandbox.jsonl"
    args = ("batch", "remind", "--contacts", str(contacts), "--sandbox", "--sandbox-log", str(log))
    result = cli(*args, "--rate", "1000", profiles_dir=profiles)
    assert result.exit_code == 1, result.stderr  # one invalid row
    assert "sandbox: listening on http://127.0.0.1:" in result.stderr
    assert "sandbox: received 4 call request(s); stopped" in result.stderr
    sent = Counter(p["body"]["To"] for p in _posts(log))
    assert len(sent) == 4 and max(sent.values()) == 1
    # Never the real ledger: sandbox "calls" must not stop or guard real ones.
    assert not (tmp_path / "c.csv.ledger.db").exists()
    rows = ledger_rows(tmp_path / "c.csv.sandbox.ledger.db")
    assert Counter(r["state"] for r in rows) == {"placed": 4, "skipped": 1}
    # The lock file goes away with the batch.
    assert not list(tmp_path.glob("*.lock"))

    # Resumed: nothing is sent again, and the closing line does not say "see above" when the
    # invalid row was reported by the earlier run.
    again = cli(*args, "--rate", "1000", profiles_dir=profiles)
    assert again.exit_code == 1
    assert len(_posts(log)) == 4
    assert "see above" not in again.stderr
    assert "recorded in an earlier run: see callprofile batch-status --ledger" in again.stderr
    assert "c.csv row 6" not in again.stderr


def test_batch_sandbox_rehearses_faults(cli, tmp_path, setup):
    profiles, contacts = setup
    script = tmp_path / "faults.yaml"
    script.write_text("- {status: 500}\n", encoding="utf-8")
    args = ("batch", "remind", "--contacts", str(contacts), "--sandbox")
    result = cli(
        *args, "--sandbox-script", str(script), "--concurrency", "1", profiles_dir=profiles
    )
    assert result.exit_code == 5
    states = Counter(r["state"] for r in ledger_rows(tmp_path / "c.csv.sandbox.ledger.db"))
    assert states == {"unknown": 1, "placed": 3, "skipped": 1}


def test_the_rate_goes_up_to_ten_thousand_calls_a_second(cli, tmp_path, setup):
    profiles, contacts = setup
    args = ("batch", "remind", "--contacts", str(contacts), "--sandbox")
    over = cli(*args, "--rate", "10001", profiles_dir=profiles)
    assert over.exit_code == 2 and "--rate" in over.stderr
    assert not (tmp_path / "c.csv.sandbox.ledger.db").exists()  # nothing recorded, nothing sent
    top = cli(*args, "--rate", "10000", profiles_dir=profiles)
    assert top.exit_code == 1, top.stderr  # one row of the file is not a phone number
    assert "received 4 call request(s)" in top.stderr
    states = Counter(r["state"] for r in ledger_rows(tmp_path / "c.csv.sandbox.ledger.db"))
    assert states == {"placed": 4, "skipped": 1}


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (("--sandbox", "--dry-run"), "--sandbox and --dry-run do not go together"),
        (("--sandbox", "--ledger", "x.db"), "keeps its own ledger"),
        (("--sandbox-log", "x.jsonl"), "--sandbox-script and --sandbox-log need --sandbox"),
    ],
    ids=["dry-run", "ledger", "log-without-sandbox"],
)
def test_batch_sandbox_usage_errors(cli, setup, extra, says):
    profiles, contacts = setup
    result = cli("batch", "remind", "--contacts", str(contacts), *extra, profiles_dir=profiles)
    assert result.exit_code == 2
    assert says in result.stderr


def test_without_a_key_batch_suggests_the_sandbox(cli, setup):
    profiles, contacts = setup
    result = cli("batch", "remind", "--contacts", str(contacts), profiles_dir=profiles)
    assert result.exit_code == 2
    assert "add --sandbox" in result.stderr


def test_the_sandbox_accepts_any_bearer_token(cli, monkeypatch):
    # The docs say any bearer token is accepted; a short one used to get 401.
    with Sandbox() as sandbox:
        monkeypatch.setenv("TELNYX_BASE_URL", sandbox.base_url)
        monkeypatch.setenv("TELNYX_API_KEY", "x")
        result = cli("run", *REMINDER, "--to", "+13125550123", profiles_dir=EXAMPLE_PROFILES)
        assert result.exit_code == 0, result.stderr
        assert sandbox.post_count == 1
        monkeypatch.setenv("TELNYX_API_KEY", API_KEY)
        assert (
            cli("run", *REMINDER, "--to", "+13125550123", profiles_dir=EXAMPLE_PROFILES).exit_code
            == 0
        )
