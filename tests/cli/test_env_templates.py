"""An unset env.CALLPROFILE_* variable (issue 9, item 3): validate checks profiles, not the
machine it runs on, so it renders a stand-in and says so; run and batch stop with a message that
names the variable and the template's position. Jinja's wording never reaches the user."""

from __future__ import annotations

import json

import pytest

from tests.helpers.core import make_profiles
from tests.helpers.env import API_KEY, SIP_PASSWORD

# CP401's own advice: read the password from the environment.
PROFILE = """\
connection_id: "c"
call:
  From: "+13125550100"
  AIAssistantId: "a"
  SipAuthUsername: "u"
  SipAuthPassword: "{{ env.CALLPROFILE_SIP_PW }}"
"""
WHERE = "profiles/sip.yaml:6:20"


@pytest.fixture
def tree(tmp_path):
    return make_profiles(tmp_path / "profiles", {"sip": PROFILE})


def jinja_free(text: str) -> None:
    assert "dict object" not in text and "has no attribute" not in text and "undefined" not in text


def test_validate_renders_a_stand_in_and_says_so(cli, tree):
    result = cli("validate", profiles_dir=tree)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert result.stdout == ""
    jinja_free(result.stdout + result.stderr)
    verbose = cli("validate", "-v", profiles_dir=tree)
    assert (
        "note: environment variable CALLPROFILE_SIP_PW is not set here; 1 profile(s) (sip) "
        "rendered with a stand-in (set it where run and batch run)"
    ) in verbose.stderr
    doc = json.loads(cli("validate", "-o", "json", profiles_dir=tree).stdout)
    assert doc["exit_code"] == 0
    assert any("CALLPROFILE_SIP_PW" in n for n in doc["notes"])


def test_explain_and_diff_style_review_render_with_the_stand_in(cli, tree):
    result = cli("explain", "sip", profiles_dir=tree)
    assert result.exit_code == 0, result.stderr
    assert "environment variable CALLPROFILE_SIP_PW is not set here" in result.stderr


def test_run_names_the_variable_and_the_position(cli, tree):
    result = cli("run", "sip", "--to", "+13125550123", "--dry-run", profiles_dir=tree)
    assert result.exit_code == 1
    assert result.stderr == (
        f"{WHERE}: error: environment variable CALLPROFILE_SIP_PW is not set (export it where "
        "run and batch run; validate renders a stand-in for it) [CP208]\n"
    )
    jinja_free(result.stderr)


def test_run_with_the_variable_set_works(cli, tree, monkeypatch):
    monkeypatch.setenv("CALLPROFILE_SIP_PW", SIP_PASSWORD)
    result = cli("run", "sip", "--to", "+13125550123", "--dry-run", profiles_dir=tree)
    assert result.exit_code == 0, result.stderr
    assert '"SipAuthPassword": "***"' in result.stdout


def test_batch_stops_before_recording_any_row(cli, tree, tmp_path, monkeypatch):
    monkeypatch.setenv("TELNYX_API_KEY", API_KEY)
    monkeypatch.setenv("TELNYX_BASE_URL", "http://127.0.0.1:9/v2")  # never reached
    contacts = tmp_path / "c.csv"
    contacts.write_text("to\n+13125550123\n+13125550124\n", encoding="utf-8")
    for extra in ((), ("--dry-run",)):
        result = cli("batch", "sip", "--contacts", str(contacts), *extra, profiles_dir=tree)
        assert result.exit_code == 1, result.stderr
        assert f"{WHERE}: error: environment variable CALLPROFILE_SIP_PW is not set" in (
            result.stderr
        )
        jinja_free(result.stderr)
    # Nothing was recorded: once the variable is set, every row is still callable.
    assert not (tmp_path / "c.csv.ledger.db").exists()


def test_default_and_is_defined_still_work(cli, tmp_path):
    text = PROFILE.replace(
        "{{ env.CALLPROFILE_SIP_PW }}", "{{ env.CALLPROFILE_SIP_PW | default('none') }}"
    ) + (
        "  AIAssistantDynamicVariables:\n"
        "    x: \"{{ 'yes' if env.CALLPROFILE_Q is defined else 'no' }}\"\n"
    )
    tree = make_profiles(tmp_path / "profiles", {"sip": text})
    result = cli("render", "sip", "--to", "+13125550123", "--show-secrets", profiles_dir=tree)
    assert result.exit_code == 0, result.stderr
    assert "SipAuthPassword: none" in result.stdout
    assert "x: 'no'" in result.stdout
