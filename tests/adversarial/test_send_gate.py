"""One gate for everything that sends (issue 10, Broken 1 and 2): ``run`` and ``batch`` refuse
the same base URLs and keys before any row is claimed, and a request that fails before its first
byte leaves is never recorded as possibly sent. Judged from the sandbox's own log and the
ledger."""

from __future__ import annotations

import json

import pytest

from tests.helpers.batch import ledger_rows, many, number, write_contacts, write_profile
from tests.helpers.core import BASE, make_profiles
from tests.helpers.env import API_KEY

FAST = ("--rate", "1000", "--concurrency", "4")

BAD_URLS = {
    "plain http to another host": ("http://192.0.2.2:18080/v2", "plain http"),
    "empty label": ("https://a..b/v2", "empty label"),
    "bad punycode": ("https://xn--/v2", "punycode"),
    "not an IPv4 address": ("https://256.256.256.256/v2", "not a valid IPv4"),
    "300-character label": ("https://" + "a" * 300 + ".com/v2", "labels have at most 63"),
    "host name too long": ("https://" + ".".join(["a" * 60] * 5) + "/v2", "at most 253"),
    "credentials": ("https://user:pw@api.example.com/v2", "user name or password"),
    "not http": ("ftp://api.example.com/v2", "not an http(s) URL"),
}


@pytest.fixture
def profiles(tmp_path):
    return write_profile(tmp_path)


def batch(cli, profiles, contacts, *args):
    return cli("batch", "remind", "--contacts", str(contacts), *FAST, *args, profiles_dir=profiles)


@pytest.mark.parametrize("how", ["flag", "env"])
@pytest.mark.parametrize("case", list(BAD_URLS.values()), ids=list(BAD_URLS))
def test_batch_refuses_base_urls_that_run_refuses(cli, profiles, tmp_path, monkeypatch, case, how):
    url, words = case
    monkeypatch.setenv("TELNYX_API_KEY", API_KEY)
    contacts = write_contacts(tmp_path / "c.csv", many(3))
    if how == "env":
        monkeypatch.setenv("TELNYX_BASE_URL", url)
        result = batch(cli, profiles, contacts)
    else:
        result = batch(cli, profiles, contacts, "--base-url", url)
    assert result.exit_code == 1, (result.exit_code, result.stderr)
    assert words in result.stderr and "nothing was sent" in result.stderr, result.stderr
    as_json = batch(cli, profiles, contacts, "--base-url", url, "-o", "json")
    assert [d["code"] for d in json.loads(as_json.stdout)["diagnostics"]] == ["CP507"]
    # Refused before anything was read or recorded: no ledger exists.
    assert not (tmp_path / "c.csv.ledger.db").exists()


@pytest.mark.parametrize("case", list(BAD_URLS.values()), ids=list(BAD_URLS))
def test_run_refuses_the_same_base_urls_cleanly(cli, tmp_path, monkeypatch, case):
    url, words = case
    monkeypatch.setenv("TELNYX_API_KEY", API_KEY)
    tree = make_profiles(tmp_path / "p", {"p": BASE})
    result = cli("run", "p", "--base-url", url, profiles_dir=tree)
    assert result.exit_code == 1, (result.exit_code, result.stderr)
    assert words in result.stderr and "nothing was sent" in result.stderr, result.stderr


KEYS = {
    "trailing CR (a key file saved on Windows)": API_KEY + "\r",
    "trailing CRLF": API_KEY + "\r\n",
    "non-ASCII": API_KEY + "é",
    "inner space": API_KEY[:5] + " " + API_KEY[5:],
    "control character": API_KEY + "\x07",
}


@pytest.mark.parametrize("key", list(KEYS.values()), ids=list(KEYS))
def test_a_bad_key_stops_the_batch_before_any_claim(
    cli, profiles, server, tmp_path, monkeypatch, key
):
    monkeypatch.setenv("TELNYX_API_KEY", key)
    monkeypatch.setenv("TELNYX_BASE_URL", server.base_url)
    contacts = write_contacts(tmp_path / "c.csv", many(5))
    result = batch(cli, profiles, contacts)
    assert result.exit_code == 1, (result.exit_code, result.stderr)
    assert "TELNYX_API_KEY contains" in result.stderr and "nothing was sent" in result.stderr
    assert server.posts == []
    ledger = tmp_path / "c.csv.ledger.db"
    assert not ledger.exists() or all(r["state"] == "pending" for r in ledger_rows(ledger))


@pytest.mark.parametrize("key", list(KEYS.values()), ids=list(KEYS))
def test_run_refuses_the_same_keys(cli, tmp_path, monkeypatch, server, key):
    monkeypatch.setenv("TELNYX_API_KEY", key)
    tree = make_profiles(tmp_path / "p", {"p": BASE})
    result = cli("run", "p", "--base-url", server.base_url, profiles_dir=tree)
    assert result.exit_code == 1, result.stderr
    assert "TELNYX_API_KEY contains" in result.stderr
    assert server.posts == []


def test_batch_without_a_key_is_a_usage_error(cli, profiles, tmp_path):
    contacts = write_contacts(tmp_path / "c.csv", many(2))
    result = batch(cli, profiles, contacts)
    assert result.exit_code == 2
    assert "TELNYX_API_KEY is not set" in result.stderr


def test_a_lone_surrogate_in_a_jsonl_row_is_that_row_invalid(
    cli, profiles, server, tmp_path, monkeypatch
):
    monkeypatch.setenv("TELNYX_API_KEY", API_KEY)
    monkeypatch.setenv("TELNYX_BASE_URL", server.base_url)
    contacts = tmp_path / "c.jsonl"
    lines = [
        json.dumps({"to": number(1), "name": "Ada"}),
        '{"to": "' + number(2) + '", "name": "\\ud800"}',
        '{"to": "' + number(3) + '", "name": "x", "\\udfff": "y"}',
        json.dumps({"to": number(4), "name": "Bob"}),
    ]
    contacts.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = batch(cli, profiles, contacts)
    assert result.exit_code == 1, result.stderr
    assert "row 2" in result.stderr and "row 3" in result.stderr
    assert "not valid Unicode" in result.stderr
    assert sorted(server.numbers()) == [number(1), number(4)]
    rows = {r["row_no"]: r for r in ledger_rows(tmp_path / "c.jsonl.ledger.db")}
    assert rows[2]["state"] == rows[3]["state"] == "skipped"
    assert {r["state"] for r in rows.values()} <= {"placed", "skipped"}


ENV_PROFILE = """\
connection_id: "conn-batch"
variables:
  name: {required: true}
call:
  From: "+13120001234"
  AIAssistantId: "assistant-batch"
  AIAssistantDynamicVariables:
    name: "{{ name }}"
    tier: "{{ env.CALLPROFILE_TIER }}"
"""


def test_a_non_utf8_env_value_read_by_a_template_is_refused_not_sent(tmp_path, server):
    import os
    import subprocess
    import sys

    from tests.helpers.env import ROOT

    profiles = write_profile(tmp_path, ENV_PROFILE)
    write_contacts(tmp_path / "c.csv", many(3))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELNYX_", "CALLPROFILE_"))}
    env.update(TELNYX_API_KEY=API_KEY, TELNYX_BASE_URL=server.base_url, PYTHONPATH=str(ROOT))
    envb = {k.encode(): v.encode() for k, v in env.items()}
    envb[b"CALLPROFILE_TIER"] = b"gold\xff"
    argv = [sys.executable, "-m", "runner", "--profiles-dir", str(profiles)]
    done = subprocess.run(
        [*argv, "batch", "remind", "--contacts", "c.csv", *FAST],
        cwd=tmp_path,
        env=envb,
        capture_output=True,
        timeout=120,
    )
    stderr = done.stderr.decode("utf-8", "replace")
    assert done.returncode == 1, stderr
    assert "Traceback" not in stderr and "internal error" not in stderr
    assert "not valid Unicode" in stderr
    assert server.posts == []
    assert {r["state"] for r in ledger_rows(tmp_path / "c.csv.ledger.db")} == {"skipped"}
    run = subprocess.run(
        [*argv, "run", "remind", "--to", number(1), "--var", "name=Ada"],
        cwd=tmp_path,
        env=envb,
        capture_output=True,
        timeout=120,
    )
    assert run.returncode == 1, run.stderr
    assert b"not valid Unicode" in run.stderr and b"Traceback" not in run.stderr


@pytest.mark.parametrize("pointer", ["/\u00b2", "/" + "9" * 5000, "/To/\u0663"])
def test_a_422_with_an_odd_pointer_is_exit_4(cli, tmp_path, monkeypatch, pointer):
    from runner.sandbox import Sandbox
    from runner.sandbox.script import step_from_mapping

    monkeypatch.setenv("TELNYX_API_KEY", API_KEY)
    error = {"code": "10015", "title": "Bad", "pointer": pointer}
    step = step_from_mapping({"status": 422, "errors": error, "times": 2}, "test")
    tree = make_profiles(tmp_path / "p", {"p": BASE})
    with Sandbox(script=[step]) as server:
        result = cli("run", "p", "--base-url", server.base_url, profiles_dir=tree)
        as_json = cli("run", "p", "--base-url", server.base_url, "-o", "json", profiles_dir=tree)
    assert result.exit_code == 4, result.stderr
    assert "10015" in result.stderr and "internal error" not in result.stderr
    assert as_json.exit_code == 4
    assert json.loads(as_json.stdout)["errors"][0]["pointer"] == pointer
