"""The output contract (issue 9, item 5): every reporting command takes -o/--output, and with
``json`` prints exactly one JSON document on stdout whatever happens (success, a dry run, an
invalid profile, a usage error after parsing, a refusal), with the common keys of
docs/reference/json-output.md; human text goes to stderr."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.batch import many, write_contacts, write_profile
from tests.helpers.env import API_KEY

COMMON = ("schema_version", "command", "exit_code", "diagnostics", "notes")
TO = "+13125550123"
REMINDER = ("appointment-reminder", "--var", "customer_name=Ada", "--var", "appointment_time=x")


def document(result: Any, command: str) -> dict[str, Any]:
    """stdout is one JSON object (json.loads refuses anything after it), with the common keys,
    and its exit_code is the process's."""
    doc = json.loads(result.stdout)
    assert isinstance(doc, dict)
    assert all(key in doc for key in COMMON), doc
    assert doc["schema_version"] == 1
    assert doc["command"] == command
    assert doc["exit_code"] == result.exit_code, (doc, result.stderr)
    assert isinstance(doc["diagnostics"], list) and isinstance(doc["notes"], list)
    return doc


def codes(doc: dict[str, Any]) -> list[str]:
    return [d["code"] for d in doc["diagnostics"]]


# --- run -----------------------------------------------------------------------------------


def test_run_dry_run_is_one_json_document(cli, profiles):
    result = cli("run", *REMINDER, "--to", TO, "--dry-run", "-o", "json", profiles_dir=profiles)
    assert result.exit_code == 0, result.stderr
    doc = document(result, "run")
    assert doc["status"] == "dry-run"
    request = doc["request"]
    assert request["method"] == "POST"
    assert request["url"].endswith("/texml/ai_calls/1234567890")
    assert request["headers"]["Authorization"] == "Bearer ***"
    assert request["body"]["To"] == TO


def test_run_invalid_profile_is_a_json_document(cli, profiles):
    result = cli("run", "appointment-reminder", "--to", TO, "-o", "json", profiles_dir=profiles)
    assert result.exit_code == 1
    doc = document(result, "run")
    assert doc["status"] == "not-sent"
    assert codes(doc) == ["CP203", "CP203"]
    assert doc["diagnostics"][0]["file"] == "profiles/appointment-reminder.yaml"
    assert "CP203" in result.stderr  # the human text is on stderr


def test_run_without_a_key_is_a_json_document(cli, profiles):
    result = cli("run", *REMINDER, "--to", TO, "-o", "json", profiles_dir=profiles)
    assert result.exit_code == 2
    doc = document(result, "run")
    assert codes(doc) == ["CP015"]
    assert "TELNYX_API_KEY is not set" in doc["diagnostics"][0]["message"]


@pytest.mark.parametrize(
    "extra",
    [("--sandbox", "--dry-run"), ("--sandbox-log", "x.jsonl")],
    ids=["sandbox-with-dry-run", "log-without-sandbox"],
)
def test_run_usage_errors_after_parsing_are_json_documents(cli, profiles, extra):
    result = cli("run", *REMINDER, "--to", TO, "-o", "json", *extra, profiles_dir=profiles)
    assert result.exit_code == 2
    assert codes(document(result, "run")) == ["CP015"]
    assert "Usage:" in result.stderr


def test_run_bad_option_value_after_o_json_is_a_json_document(cli, profiles):
    result = cli("run", *REMINDER, "-o", "json", "--timeout", "soon", profiles_dir=profiles)
    assert result.exit_code == 2
    doc = document(result, "run")
    assert codes(doc) == ["CP015"] and "soon" in doc["diagnostics"][0]["message"]


def test_run_against_the_sandbox_placed_and_unknown(cli, profiles, tmp_path):
    placed = cli("run", *REMINDER, "--to", TO, "--sandbox", "-o", "json", profiles_dir=profiles)
    assert placed.exit_code == 0, placed.stderr
    doc = document(placed, "run")
    assert doc["status"] == "placed" and doc["call_sid"].startswith("v3:")
    assert "sandbox: listening" in placed.stderr and "listening" not in placed.stdout
    script = tmp_path / "faults.yaml"
    script.write_text("- {status: 500}\n", encoding="utf-8")
    args = ("--sandbox", "--sandbox-script", str(script), "-o", "json")
    unknown = cli("run", *REMINDER, "--to", TO, *args, profiles_dir=profiles)
    assert unknown.exit_code == 5
    assert document(unknown, "run")["status"] == "unknown"
    assert "outcome unknown" in unknown.stderr


# --- render, explain, list, validate, diff ------------------------------------------------


def test_render_json_is_a_document_and_still_a_values_file(cli, profiles, tmp_path):
    result = cli("render", *REMINDER, "--to", TO, "-o", "json", profiles_dir=profiles)
    assert result.exit_code == 0, result.stderr
    doc = document(result, "render")
    assert doc["call"]["To"] == TO and doc["connection_id"] == "1234567890"
    values = tmp_path / "rendered.json"
    values.write_text(result.stdout, encoding="utf-8")
    again = cli("render", *REMINDER, "-f", str(values), "-o", "json", profiles_dir=profiles)
    assert again.exit_code == 0, again.stderr
    assert document(again, "render")["call"] == doc["call"]


def test_render_failure_is_a_document(cli, profiles):
    result = cli("render", "no-such", "-o", "json", profiles_dir=profiles)
    assert result.exit_code == 1
    assert codes(document(result, "render")) == ["CP011"]


def test_explain_json_and_its_notes(cli, profiles):
    result = cli("explain", "appointment-reminder", "-o", "json", profiles_dir=profiles)
    assert result.exit_code == 0, result.stderr
    doc = document(result, "explain")
    assert doc["profile"] == "appointment-reminder"
    assert any(f["field"] == "To" for f in doc["fields"])
    assert any("placeholder" in n for n in doc["notes"])
    assert "note: no --to given" in result.stderr


def test_list_json_and_its_failure(cli, profiles):
    ok = document(cli("list", "-o", "json", profiles_dir=profiles), "list")
    assert "appointment-reminder" in [p["name"] for p in ok["profiles"]]
    missing = cli("list", "-o", "json", "--profiles-dir", "nowhere")
    assert missing.exit_code == 1
    assert codes(document(missing, "list")) == ["CP011"]


@pytest.mark.parametrize("flag", ["-o", "--output", "--format"])
def test_validate_json_under_every_spelling(cli, profiles, flag):
    result = cli("validate", flag, "json", profiles_dir=profiles)
    assert result.exit_code == 0, result.stdout
    doc = document(result, "validate")
    assert doc["checked"] > 0 and doc["errors"] == 0
    assert "profile(s) checked" in result.stderr


def test_validate_json_failures(cli):
    missing = cli("validate", "-o", "json", "--profiles-dir", "nowhere")
    assert missing.exit_code == 1
    assert codes(document(missing, "validate")) == ["CP011"]
    rules = cli("validate", "--list-rules", "-o", "json")
    assert next(r["code"] for r in document(rules, "validate")["rules"]) == "CP401"


def test_diff_outside_git_is_a_json_document(cli, profiles):
    result = cli("diff", "-o", "json", profiles_dir=profiles)
    assert result.exit_code == 2
    doc = document(result, "diff")
    assert codes(doc) == ["CP015"] and "git" in doc["diagnostics"][0]["message"]


# --- batch, batch-status ---------------------------------------------------------------------


def _contacts(tmp_path: Path) -> Path:
    rows = [*many(3), {"to": "not a number", "name": "Bad"}]
    return write_contacts(tmp_path / "c.csv", rows)


def test_batch_dry_run_is_one_document_with_every_call(cli, tmp_path):
    profiles = write_profile(tmp_path)
    contacts = _contacts(tmp_path)
    args = ("batch", "remind", "--contacts", str(contacts), "--dry-run", "-o", "json")
    result = cli(*args, profiles_dir=profiles)
    assert result.exit_code == 1  # one row is invalid
    doc = document(result, "batch")
    assert doc["dry_run"] is True
    assert [c["row"] for c in doc["calls"]] == [2, 3, 4]
    assert doc["counts"]["invalid"] == 1
    assert doc["row_events"] == [
        {"row": 5, "kind": "invalid", "message": doc["row_events"][0]["message"]}
    ]
    assert "dry run: 4 rows" in result.stderr


def test_batch_live_summary_is_a_document(cli, tmp_path, server, monkeypatch):
    monkeypatch.setenv("TELNYX_API_KEY", API_KEY)
    monkeypatch.setenv("TELNYX_BASE_URL", server.base_url)
    profiles = write_profile(tmp_path)
    contacts = _contacts(tmp_path)
    args = ("batch", "remind", "--contacts", str(contacts), "--rate", "1000", "-o", "json")
    result = cli(*args, profiles_dir=profiles)
    assert result.exit_code == 1
    doc = document(result, "batch")
    assert doc["batch"]["counts"]["placed"] == 3
    assert doc["batch"]["skipped_by_kind"] == {"invalid": 1}
    assert doc["batch"]["rows"] == 4 and doc["batch"]["not_reached"] == 0
    assert "placed" in result.stderr  # the human summary went to stderr

    status = cli("batch-status", "--ledger", f"{contacts}.ledger.db", "-o", "json")
    assert status.exit_code == 1
    sdoc = document(status, "batch-status")
    assert sdoc["batches"] == [doc["batch"]]


def test_batch_failures_are_documents(cli, tmp_path):
    profiles = write_profile(tmp_path)
    missing = cli("batch", "remind", "--contacts", "nope.csv", "--dry-run", "-o", "json")
    assert missing.exit_code == 1
    assert document(missing, "batch")["diagnostics"]
    given_to = cli(
        "batch", "remind", "--contacts", "c.csv", "--to", TO, "-o", "json", profiles_dir=profiles
    )
    assert given_to.exit_code == 2
    assert codes(document(given_to, "batch")) == ["CP015"]
    bad_rate = cli("batch", "remind", "-o", "json", "--contacts", "c.csv", "--rate", "fast")
    assert bad_rate.exit_code == 2
    assert codes(document(bad_rate, "batch")) == ["CP015"]
    status = cli("batch-status", "--ledger", "nope.db", "-o", "json")
    assert status.exit_code == 1
    assert "no ledger at nope.db" in document(status, "batch-status")["diagnostics"][0]["message"]


def test_the_installed_command_prints_one_document_too(tmp_path, profiles):
    # Through the real entry point (not click's test runner): stdout is exactly the document.
    import sys

    from tests.helpers.env import ROOT

    done = subprocess.run(
        [sys.executable, "-m", "runner", "--profiles-dir", str(profiles), "run", "x", "-o", "json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "NO_COLOR": "1"},
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    doc = json.loads(done.stdout)
    assert doc["exit_code"] == 1 and doc["diagnostics"][0]["code"] == "CP011"
