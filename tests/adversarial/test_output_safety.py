"""What callprofile prints and logs (issue 10, Broken 5, Weak "secrets" and "control
characters"): crash logs hold no secret and are private; secrets are tracked as values wherever
they flow and in every spelling; text from outside cannot drive the terminal."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from runner.sandbox import Sandbox
from runner.sandbox.script import step_from_mapping
from tests.helpers.batch import write_contacts, write_profile
from tests.helpers.core import BASE, make_profiles
from tests.helpers.env import API_KEY, ROOT

PASSWORD = 'pa"ss\\word-Zq8/secret'  # a quote, a backslash and a slash: escaped by JSON and URLs
ENV_SECRET = "env-secret-7Hq2"
RAW_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def spellings(secret: str) -> list[str]:
    from urllib.parse import quote, quote_plus

    return [
        secret,
        json.dumps(secret)[1:-1],
        repr(secret)[1:-1],
        quote(secret, safe=""),
        quote_plus(secret, safe=""),
    ]


def assert_hidden(text: str, *secrets: str) -> None:
    for secret in secrets:
        for form in spellings(secret):
            assert form not in text, (form, text)


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELNYX_", "CALLPROFILE_"))}
    env.update(PYTHONPATH=str(ROOT), NO_COLOR="1", XDG_STATE_HOME=str(tmp_path / "state"))
    env.update(extra)
    return env


# --- crash logs -----------------------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes and byte arguments")
def test_a_crash_log_is_private_and_holds_no_secret_even_with_non_utf8_arguments(tmp_path):
    tree = make_profiles(tmp_path / "p", {"p": BASE})
    env = environment(
        tmp_path,
        TELNYX_API_KEY=API_KEY,
        CALLPROFILE_TEST_CRASH="1",
        CALLPROFILE_TIER=ENV_SECRET,
    )
    argv = [
        sys.executable.encode(),
        b"-m",
        b"runner",
        b"--profiles-dir",
        str(tree).encode(),
        b"render",
        b"p",
        b"--set",
        f"SipAuthPassword={PASSWORD}".encode(),
        b"--set-json",
        b"SipAuthPassword=" + json.dumps(PASSWORD).encode(),
        b"--set",
        f"SipAuthPasword={PASSWORD}x".encode(),  # a typo in the secret field's name
        b"--var",
        b"name=Ren\xe9",
        b"--set",
        b"Timeout=40",
    ]
    done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, timeout=120)
    stderr = done.stderr.decode("utf-8", "replace")
    assert done.returncode == 3, stderr
    assert stderr.count("\n") == 1 and "Traceback" not in stderr, stderr
    assert "internal error (RuntimeError); this is a bug. Details: " in stderr
    path = Path(stderr.strip().rsplit("Details: ", 1)[1])
    assert path.parent == tmp_path / "state" / "callprofile"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    log = path.read_bytes().decode("utf-8")  # valid UTF-8: the bad byte is written escaped
    assert "Traceback" in log and "RuntimeError" in log
    assert "--set SipAuthPassword=*** --set-json SipAuthPassword=***" in log
    assert "--set SipAuthPasword=***" in log and "--var name=***" in log
    assert "--set Timeout=40" in log  # a known, non-secret field stays readable
    assert_hidden(log, PASSWORD, PASSWORD + "x", API_KEY, ENV_SECRET)
    assert "Ren" not in log  # --var values may be personal data


def test_the_crash_handler_survives_the_in_process_runner_too(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("CALLPROFILE_TEST_CRASH", "1")
    tree = make_profiles(tmp_path / "p", {"p": BASE})
    result = cli("render", "p", "--set", f"SipAuthPassword={PASSWORD}", profiles_dir=tree)
    assert result.exit_code == 3
    path = Path(result.stderr.strip().rsplit("Details: ", 1)[1])
    assert_hidden(path.read_text(encoding="utf-8"), PASSWORD)


# --- secrets as values ------------------------------------------------------------------------


def test_a_typo_in_a_secret_fields_name_does_not_echo_the_value(cli, tmp_path):
    tree = make_profiles(tmp_path / "p", {"p": BASE})
    for flag, value in (("--set", PASSWORD), ("--set-json", json.dumps(PASSWORD))):
        result = cli("render", "p", flag, f"SipAuthPasword={value}", profiles_dir=tree)
        assert result.exit_code == 1
        assert "did you mean 'SipAuthPassword'" in result.stderr
        assert_hidden(result.stdout + result.stderr, PASSWORD)


def test_a_server_reflecting_the_password_in_any_spelling_is_scrubbed(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("TELNYX_API_KEY", API_KEY)
    tree = make_profiles(tmp_path / "p", {"p": BASE})
    reflected = " | ".join(spellings(PASSWORD) + spellings(API_KEY))
    error = {"code": "10015", "title": "Bad", "detail": f"you sent {reflected}"}
    step = step_from_mapping({"status": 422, "errors": error, "times": 2}, "test")
    with Sandbox(script=[step]) as server:
        for output in ("text", "json"):
            result = cli(
                "run",
                "p",
                "--set",
                f"SipAuthPassword={PASSWORD}",
                "--base-url",
                server.base_url,
                "-o",
                output,
                profiles_dir=tree,
            )
            assert result.exit_code == 4, result.stderr
            assert "you sent ***" in result.stdout + result.stderr
            assert_hidden(result.stdout + result.stderr, PASSWORD, API_KEY)


COPYING = """\
connection_id: "conn-1"
call:
  From: "{{ env.CALLPROFILE_FROM }}"
  To: "+13125550100"
  AIAssistantId: assistant-1
  CallerId: "{{ from }}"
  AIAssistantDynamicVariables:
    copy: "{{ from }}"
    upper: "{{ from|upper }}"
"""


def test_a_secret_from_env_stays_secret_when_another_field_copies_it(cli, tmp_path, monkeypatch):
    number = "+13120007777"
    monkeypatch.setenv("CALLPROFILE_FROM", number)
    monkeypatch.setenv("TELNYX_API_KEY", API_KEY)
    tree = make_profiles(tmp_path / "p", {"p": COPYING})
    shown = cli("render", "p", "-o", "json", profiles_dir=tree)
    assert shown.exit_code == 0, shown.stderr
    call = json.loads(shown.stdout)["call"]
    assert call["From"] == call["CallerId"] == "***"
    assert call["AIAssistantDynamicVariables"] == {"copy": "***", "upper": "***"}
    dry = cli("run", "p", "--dry-run", profiles_dir=tree)
    assert number not in dry.stdout + dry.stderr
    with Sandbox() as server:
        placed = cli("run", "p", "--base-url", server.base_url, profiles_dir=tree)
    assert placed.exit_code == 0, placed.stderr
    assert "-> +13125550100" in placed.stdout  # the success line, with Telnyx's "from" hidden
    assert number not in placed.stdout + placed.stderr
    revealed = cli("render", "p", "-o", "json", "--show-secrets", profiles_dir=tree)
    assert json.loads(revealed.stdout)["call"]["CallerId"] == number


# --- control characters ---------------------------------------------------------------------

HOSTILE = "\x1b]0;pwned\x07\r\x1b[2Kcallprofile: call placed\n\u202edecoy\x9b2J"


def assert_inert(text: str) -> None:
    assert not RAW_CONTROLS.search(text), repr(text)


def test_a_servers_error_text_cannot_drive_the_terminal(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("TELNYX_API_KEY", API_KEY)
    tree = make_profiles(tmp_path / "p", {"p": BASE})
    error = {"code": "1\x1b[0m", "title": HOSTILE, "detail": HOSTILE, "pointer": "/" + HOSTILE}
    steps = [
        step_from_mapping({"status": 422, "errors": error, "times": 2}, "a"),
        step_from_mapping({"status": 502, "body": HOSTILE, "times": 2}, "b"),
        # A header cannot hold a line break; httpx refuses a Location with controls, so that
        # answer is unreadable (exit 5) and only its classification is printed.
        step_from_mapping({"status": 302, "headers": {"Location": "\x1b]0;x\x07\x9b/"}}, "c"),
        step_from_mapping(
            {"status": 200, "body": {"call_sid": HOSTILE, "status": HOSTILE, "to": HOSTILE}},
            "d",
        ),
    ]
    with Sandbox(script=steps) as server:
        outputs = [
            cli("run", "p", "--base-url", server.base_url, "-o", o, profiles_dir=tree)
            for o in ("text", "json", "text", "json", "text", "text")
        ]
    assert [r.exit_code for r in outputs] == [4, 4, 5, 5, 5, 0]
    for result in outputs:
        assert_inert(result.stdout + result.stderr)
    assert "\\x1b]0;pwned\\x07\\r" in outputs[0].stderr  # shown, but as text
    assert json.loads(outputs[1].stdout)["errors"][0]["detail"] == HOSTILE  # JSON keeps it


def test_profile_and_contacts_text_cannot_drive_the_terminal(cli, tmp_path, monkeypatch):
    profile = 'description: "\\e[2J\\e]0;x\\a\\u202e"\n' + BASE.replace(
        "AIAssistantId: assistant-1", 'AIAssistantId: "a\\e[31m\\x9b"'
    )
    tree = make_profiles(tmp_path / "p", {"p": profile})
    for args in (["list"], ["list", "-o", "json"], ["render", "p"], ["render", "p", "-o", "json"]):
        result = cli(*args, profiles_dir=tree)
        assert result.exit_code == 0, result.stderr
        assert_inert(result.stdout + result.stderr)
    # The YAML that render prints still reads back as the same value.
    import yaml

    shown = yaml.safe_load(cli("render", "p", profiles_dir=tree).stdout)
    assert shown["call"]["AIAssistantId"] == "a\x1b[31m\x9b"

    profiles = write_profile(tmp_path)
    contacts = write_contacts(
        tmp_path / "c.csv", [{"to": "+13125550100", "name": "Ada\x1b[2J\u202e", "note": "\r"}]
    )
    monkeypatch.setenv("TELNYX_API_KEY", API_KEY)
    dry = cli("batch", "remind", "--contacts", str(contacts), "--dry-run", profiles_dir=profiles)
    assert dry.exit_code == 0, dry.stderr
    assert_inert(dry.stdout + dry.stderr)
    sent = json.loads(dry.stdout)["body"]["AIAssistantDynamicVariables"]
    assert sent["name"] == "Ada\x1b[2J\u202e"  # the JSON still carries the value itself


# --- one command's secrets are that command's -----------------------------------------------


def test_a_secret_of_one_command_does_not_mask_the_next_commands_output(cli, tmp_path):
    # Commands driven in one process (a test runner, a program using the CLI in-process) each
    # start with only their own secrets: the password of the first is text in the second.
    value = "hunter2-or-{{ 7*7 }}"
    tree = make_profiles(tmp_path / "p", {"p": BASE})
    first = cli("run", "p", "--dry-run", "--set", f"SipAuthPassword={value}", profiles_dir=tree)
    assert first.exit_code == 0, first.stderr
    assert value not in first.stdout
    second = cli(
        "render",
        "p",
        "-o",
        "json",
        "--set-json",
        "AIAssistantDynamicVariables={}",
        "--set",
        f"AIAssistantDynamicVariables.note={value}",
        profiles_dir=tree,
    )
    assert second.exit_code == 0, second.stderr
    assert json.loads(second.stdout)["call"]["AIAssistantDynamicVariables"] == {"note": value}
