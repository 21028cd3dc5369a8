"""``run`` against a real HTTP server on 127.0.0.1: what it sends is exactly what ``--dry-run``
prints (issue 2, "Commands")."""

from __future__ import annotations

import json

import pytest

from tests.helpers.core import BASE, failed, loopback_server, make_profiles, parse_dry_run
from tests.helpers.env import API_KEY, SIP_PASSWORD

# Headers the HTTP client adds for the connection itself; everything else is in the dry run.
TRANSPORT_HEADERS = {"host", "content-length", "accept-encoding", "connection"}

REPLY = {
    "call_sid": "v3:abc123",
    "status": "queued",
    "from": "+13120001234",
    "to": "+13125550100",
}

PROFILE = (
    """\
variables:
  name: {default: Zoë}
"""
    + BASE
    + """\
  Timeout: 25
  Record: true
  AIAssistantDynamicVariables:
    name: "{{ name }}"
    greeting: "Grüß Gott, {{ name }} — ☎"
  CustomHeaders:
    - {name: X-Profile, value: "{{ profile }}"}
"""
)


@pytest.fixture
def tree(tmp_path):
    return make_profiles(
        tmp_path / "profiles",
        {
            "p": PROFILE,
            "odd-conn": PROFILE.replace('connection_id: "conn-1"', 'connection_id: "a/b c?d"'),
            "sip": BASE + f'  SipAuthUsername: user\n  SipAuthPassword: "{SIP_PASSWORD}"\n',
        },
    )


@pytest.fixture
def api_key(monkeypatch):
    monkeypatch.setenv("TELNYX_API_KEY", API_KEY)


ARGS = ("--set", "Timeout=40", "--var", "name=Ada", "--to", "+13125550111")


@pytest.mark.parametrize("name", ["p", "odd-conn"])
def test_run_sends_byte_for_byte_what_dry_run_prints(cli, tree, api_key, name):
    with loopback_server(reply=REPLY) as server:
        dry = cli("run", name, *ARGS, "--base-url", server.url, "--dry-run", profiles_dir=tree)
        assert dry.exit_code == 0, dry.stderr
        assert server.empty()  # a dry run sends nothing
        real = cli("run", name, *ARGS, "--base-url", server.url, profiles_dir=tree)
        assert real.exit_code == 0, real.stderr
        sent = server.take()
        assert server.empty()  # exactly one request
    method, url, headers, body = parse_dry_run(dry.stdout)
    assert sent.method == method == "POST"
    assert url == server.url.rsplit("/v2", 1)[0] + sent.path
    assert sent.path.startswith("/v2/texml/ai_calls/")
    assert sent.body == body  # byte for byte
    shown = dict(headers)
    assert shown.pop("Authorization") == "Bearer ***"
    received = dict(sent.headers)
    assert received.pop("Authorization") == f"Bearer {API_KEY}"
    extra = {k: v for k, v in received.items() if k not in shown}
    assert {k.lower() for k in extra} <= TRANSPORT_HEADERS
    assert {k: received[k] for k in shown} == shown  # same names, same case, same values
    assert received["Content-Length"] == str(len(body))
    payload = json.loads(sent.body)
    assert payload["Timeout"] == 40
    assert payload["To"] == "+13125550111"
    assert payload["AIAssistantDynamicVariables"]["greeting"] == "Grüß Gott, Ada — ☎"
    assert payload["CustomHeaders"] == [{"name": "X-Profile", "value": name}]
    assert real.stdout == "v3:abc123  queued  +13120001234 -> +13125550100\n"


def test_connection_id_is_quoted_into_one_path_segment(cli, tree, api_key):
    with loopback_server(reply=REPLY) as server:
        assert cli("run", "odd-conn", "--base-url", server.url, profiles_dir=tree).exit_code == 0
        assert server.take().path == "/v2/texml/ai_calls/a%2Fb%20c%3Fd"


def test_secrets_are_sent_but_not_printed(cli, tree, api_key):
    with loopback_server(reply=REPLY) as server:
        dry = cli("run", "sip", "--base-url", server.url, "--dry-run", profiles_dir=tree)
        shown = cli(
            "run",
            "sip",
            "--base-url",
            server.url,
            "--dry-run",
            "--show-secrets",
            profiles_dir=tree,
            allow_secrets=True,
        )
        assert cli("run", "sip", "--base-url", server.url, profiles_dir=tree).exit_code == 0
        sent = server.take()
    assert json.loads(parse_dry_run(dry.stdout)[3])["SipAuthPassword"] == "***"
    assert json.loads(sent.body)["SipAuthPassword"] == SIP_PASSWORD
    assert parse_dry_run(shown.stdout)[3] == sent.body
    # --show-secrets reveals the profile's secrets, never the API key.
    assert API_KEY not in shown.stdout
    assert "Authorization: Bearer ***" in shown.stdout


def test_missing_api_key_is_an_error_before_any_network_use(cli, tree):
    with loopback_server(reply=REPLY) as server:
        err = failed(cli, tree, "run", "p", "--base-url", server.url, code=2)
        assert server.empty()
    assert err.strip() == (
        "callprofile: error: TELNYX_API_KEY is not set; export your Telnyx API key, or add "
        "--sandbox to try the profile against a local sandbox (nothing was sent)"
    )


def test_dry_run_needs_no_api_key(cli, tree):
    result = cli("run", "p", "--dry-run", profiles_dir=tree)
    assert result.exit_code == 0
    assert "Authorization: Bearer ***" in result.stdout


def test_invalid_request_is_never_sent(cli, tree, api_key):
    with loopback_server(reply=REPLY) as server:
        err = failed(cli, tree, "run", "p", "--set", "Timeout=999", "--base-url", server.url)
        assert server.empty()
    assert "--set Timeout=999: error: Timeout: 999 is out of range" in err


def test_output_json_prints_the_response_object(cli, tree, api_key):
    with loopback_server(reply=REPLY) as server:
        result = cli("run", "p", "--base-url", server.url, "-o", "json", profiles_dir=tree)
        server.take()
    assert result.exit_code == 0
    # One result object: the classification automation needs, with Telnyx's reply inside it.
    printed = json.loads(result.stdout)
    assert printed["response"] == REPLY
    assert (printed["status"], printed["exit_code"], printed["call_sid"]) == (
        "placed",
        0,
        REPLY["call_sid"],
    )


def test_rejection_names_where_the_bad_value_came_from(cli, tree, api_key):
    reply = {
        "errors": [
            {
                "code": "10015",
                "title": "Invalid value",
                "detail": "Timeout is not allowed here",
                "source": {"pointer": "/Timeout"},
            }
        ]
    }
    with loopback_server(status=422, reply=reply) as server:
        result = cli("run", "p", "--base-url", server.url, profiles_dir=tree)
        server.take()
    assert result.exit_code == 4
    assert "Telnyx rejected the request (422 Unprocessable Entity)" in result.stderr
    assert "10015 Invalid value: Timeout is not allowed here\n" in result.stderr
    assert "field Timeout, set at profiles/p.yaml:8:12" in result.stderr


def test_base_url_flag_beats_environment(cli, tree, api_key, monkeypatch):
    with loopback_server(reply=REPLY) as from_env, loopback_server(reply=REPLY) as from_flag:
        monkeypatch.setenv("TELNYX_BASE_URL", from_env.url)
        assert cli("run", "p", "--base-url", from_flag.url, profiles_dir=tree).exit_code == 0
        assert from_flag.take().path == "/v2/texml/ai_calls/conn-1"
        assert from_env.empty()
        assert cli("run", "p", profiles_dir=tree).exit_code == 0
        assert from_env.take().path == "/v2/texml/ai_calls/conn-1"
        assert from_flag.empty()


def test_default_base_url_is_telnyx(cli, tree, monkeypatch):
    # Only the dry run: the real default is never contacted from tests.
    first = cli("run", "p", "--dry-run", profiles_dir=tree).stdout.splitlines()[0]
    assert first == "POST https://api.telnyx.com/v2/texml/ai_calls/conn-1"
    monkeypatch.setenv("TELNYX_BASE_URL", "http://127.0.0.1:9/v9/")
    first = cli("run", "p", "--dry-run", profiles_dir=tree).stdout.splitlines()[0]
    assert first == "POST http://127.0.0.1:9/v9/texml/ai_calls/conn-1"
    first = cli(
        "run", "p", "--dry-run", "--base-url", "http://127.0.0.1:8/x", profiles_dir=tree
    ).stdout.splitlines()[0]
    assert first == "POST http://127.0.0.1:8/x/texml/ai_calls/conn-1"
