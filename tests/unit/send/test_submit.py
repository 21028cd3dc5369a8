"""``callprofile run``: --sandbox end to end, the HTTP client's rules beyond the failure matrix,
and the secrets policy for everything run prints."""

from __future__ import annotations

import json
import re
import socket

from runner.sandbox import Sandbox, Step, parse_spec
from runner.send import submit
from tests.helpers.env import API_KEY, EXAMPLE_PROFILES, SIP_PASSWORD
from tests.helpers.submit_data import TO
from tests.helpers.webhook_receiver import Receiver

README_ARGS = [
    "run",
    "appointment-reminder",
    "--sandbox",
    "--to",
    TO,
    "--var",
    "customer_name=Ada",
    "--var",
    "appointment_time=Tuesday 3 PM",
]
PLACED = re.compile(r"^v3:\S+  queued  \+13120001234 -> \+13125550123$", re.M)


def run(cli, profile_dir, url, *extra):
    return cli("run", "reminder", "--to", TO, "--base-url", url, *extra, profiles_dir=profile_dir)


# -- run --sandbox ---------------------------------------------------------------------------


def test_readme_command_works_without_account_or_env(cli):
    result = cli(*README_ARGS, profiles_dir=EXAMPLE_PROFILES)
    assert result.exit_code == 0, result.stderr
    assert PLACED.search(result.stdout), result.stdout
    assert "sandbox: listening on http://127.0.0.1:" in result.stderr
    assert "received 1 call request(s)" in result.stderr


def test_readme_command_as_a_subprocess(run_subprocess, tmp_path):
    done = run_subprocess("--profiles-dir", str(EXAMPLE_PROFILES), *README_ARGS, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert PLACED.search(done.stdout), done.stdout


def test_sandbox_run_never_sends_the_real_key(cli, profile_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("CALLPROFILE_TOKEN", "tok-from-env-123")
    (profile_dir / "reminder.yaml").write_text(
        (profile_dir / "reminder.yaml").read_text()
        + '  AIAssistantDynamicVariables:\n    token: "{{ env.CALLPROFILE_TOKEN }}"\n'
    )
    log = tmp_path / "seen.jsonl"
    result = cli(
        "run", "reminder", "--to", TO, "--sandbox", "--sandbox-log", str(log),
        profiles_dir=profile_dir,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    record = json.loads(log.read_text())
    assert record["headers"]["Authorization"] == "Bearer ***"
    assert record["headers"]["User-Agent"] == f"callprofile/{submit.__version__}"
    assert record["body"]["SipAuthPassword"] == "***"
    assert record["body"]["AIAssistantDynamicVariables"] == {"token": "***"}
    text = log.read_text()
    assert API_KEY not in text and SIP_PASSWORD not in text and "tok-from-env" not in text


def test_sandbox_run_delivers_callbacks_before_returning(cli, write, tmp_path):
    hook = Receiver(expected=4)
    try:
        write(
            "profiles/hooked.yaml",
            'extends: [callbacks/status]\nconnection_id: "c-1"\ncall:\n'
            '  From: "+13120001234"\n  AIAssistantId: "a-1"\n'
            f'  StatusCallbacks: ["{hook.url}"]\n',
        )
        write(
            "profiles/callbacks/status.yaml",
            (EXAMPLE_PROFILES / "callbacks/status.yaml").read_text(),
        )
        result = cli("run", "hooked", "--to", TO, "--sandbox", profiles_dir=tmp_path / "profiles")
    finally:
        hook.close()
    assert result.exit_code == 0, result.stderr
    # No waiting: run --sandbox stops the sandbox only after the callbacks went out.
    assert [r["form"]["CallStatus"] for r in hook.received] == [
        "initiated",
        "ringing",
        "in-progress",
        "completed",
    ]
    assert "https://example.com/telnyx/status not sent: example.com is not a loopback" in (
        result.stderr
    )
    assert "status callback answered (CallStatus=in-progress)" in result.stderr


def test_sandbox_script_rehearses_a_429(cli, profile_dir, tmp_path, waits):
    script = tmp_path / "faults.json"
    script.write_text('[{"status": 429, "retry_after": 3}]')
    result = cli(
        "run", "reminder", "--to", TO, "--sandbox", "--sandbox-script", str(script),
        profiles_dir=profile_dir,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert waits == [3.0]
    assert "received 2 call request(s)" in result.stderr


def test_sandbox_option_conflicts_are_usage_errors(cli, profile_dir):
    for extra in (["--dry-run"], ["--base-url", "http://127.0.0.1:1/v2"]):
        result = cli("run", "reminder", "--to", TO, "--sandbox", *extra, profiles_dir=profile_dir)
        assert result.exit_code == 2, extra
    result = cli("run", "reminder", "--to", TO, "--sandbox-log", "x", profiles_dir=profile_dir)
    assert result.exit_code == 2


# -- the client's rules ------------------------------------------------------------------------


def test_connection_refused_every_time_is_unreachable(cli, profile_dir, waits):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))  # bound, never listening: every connect is refused
    try:
        result = run(cli, profile_dir, f"http://127.0.0.1:{holder.getsockname()[1]}/v2")
    finally:
        holder.close()
    assert result.exit_code == 6
    assert len(waits) == 2
    assert "could not reach Telnyx" in result.stderr and "after 3 attempt(s)" in result.stderr
    assert "no call was placed" in result.stderr


def test_max_retries_zero_disables_retries(cli, profile_dir, sandbox, waits):
    server = sandbox(Step(status=429))
    result = run(cli, profile_dir, server.base_url, "--max-retries", "0")
    assert result.exit_code == 6
    assert server.post_count == 1 and waits == []


def test_429_asking_for_more_than_the_cap_is_not_retried(cli, profile_dir, sandbox, waits):
    server = sandbox(parse_spec("429,retry-after=3600,times=forever"))
    result = run(cli, profile_dir, server.base_url)
    assert result.exit_code == 6
    assert server.post_count == 1 and waits == []
    assert "asked to wait 3600s" in result.stderr


def test_429_with_ratelimit_reset_waits_that_long(cli, profile_dir, sandbox, waits):
    server = sandbox(parse_spec("429,ratelimit-reset=3"))
    result = run(cli, profile_dir, server.base_url)
    assert result.exit_code == 0
    assert server.post_count == 2 and waits == [3.0]


def test_429_without_hint_backs_off_at_least_a_second(cli, profile_dir, sandbox, waits):
    server = sandbox(Step(status=429))
    assert run(cli, profile_dir, server.base_url).exit_code == 0
    assert len(waits) == 1 and 1.0 <= waits[0] <= submit.BACKOFF_CAP


def test_4xx_that_is_not_json_is_reported_plainly(cli, profile_dir, sandbox):
    server = sandbox(Step(status=404, body="<html><h1>404 Not Found</h1></html>"))
    result = run(cli, profile_dir, server.base_url)
    assert result.exit_code == 4
    assert server.post_count == 1
    assert "(404 Not Found) with a reply that is not Telnyx's error JSON" in result.stderr
    assert "reply (not Telnyx's JSON): <html><h1>404 Not Found</h1></html>" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_outcome_as_json(cli, profile_dir, sandbox):
    server = sandbox(Step(status=504))
    result = run(cli, profile_dir, server.base_url, "-o", "json")
    assert result.exit_code == 5
    report = json.loads(result.stdout)
    assert report["status"] == "unknown" and report["http_status"] == 504
    assert report["request_id"] == "sandbox-1" and report["attempts"] == 1
    assert server.post_count == 1


def test_library_send_takes_an_injected_sleep(sandbox):
    server = sandbox(Step(status=429, headers=(("Retry-After", "5"),)))
    slept: list[float] = []
    prepared = submit.prepare(
        "conn-1",
        {"From": "+13120001234", "To": TO, "AIAssistantId": "a"},
        base_url=server.base_url,
        api_key="KEY-library-test",
    )
    result = submit.send(prepared, sleep=slept.append)
    assert result.status == "placed" and result.exit_code == 0 and result.attempts == 2
    assert slept == [5.0] and server.post_count == 2


def test_retry_after_reads_seconds_dates_and_ratelimit_reset():
    now = 1_700_000_000.0
    assert submit.retry_after({"retry-after": "2"}, now) == 2.0
    assert submit.retry_after({"retry-after": "Tue, 14 Nov 2023 22:13:30 GMT"}, now) == 10.0
    assert submit.retry_after({"x-ratelimit-reset": "4"}, now) == 4.0
    assert submit.retry_after({"x-ratelimit-reset": str(now + 7)}, now) == 7.0
    assert submit.retry_after({}, now) is None


def test_missing_key_points_to_sandbox(cli, profile_dir, monkeypatch):
    monkeypatch.delenv("TELNYX_API_KEY")
    result = cli("run", "reminder", "--to", TO, profiles_dir=profile_dir)
    assert result.exit_code == 2
    assert "TELNYX_API_KEY is not set" in result.stderr and "--sandbox" in result.stderr


def test_plain_http_to_a_remote_host_is_refused(cli, profile_dir):
    # The conftest guard would fail this test if anything tried to connect.
    result = run(cli, profile_dir, "http://api.example.com/v2")
    assert result.exit_code == 1
    assert "unencrypted" in result.stderr and "nothing was sent" in result.stderr


def test_key_that_cannot_be_a_header_is_refused_without_quoting_it(cli, profile_dir, monkeypatch):
    monkeypatch.setenv("TELNYX_API_KEY", API_KEY + "\n")
    result = run(cli, profile_dir, "https://api.telnyx.com/v2")
    assert result.exit_code == 1
    assert "TELNYX_API_KEY contains" in result.stderr


# -- secrets -----------------------------------------------------------------------------------


def test_dry_run_and_render_redact_password_and_env_values(cli, write, monkeypatch):
    monkeypatch.setenv("TELNYX_API_KEY", API_KEY)
    monkeypatch.setenv("CALLPROFILE_TOKEN", "tok-from-env-123")
    root = write(
        "profiles/p.yaml",
        'connection_id: "c"\ncall:\n  From: "+13120001234"\n  AIAssistantId: "a"\n'
        f'  SipAuthPassword: "{SIP_PASSWORD}"\n'
        '  AIAssistantDynamicVariables:\n    token: "{{ env.CALLPROFILE_TOKEN }}"\n',
    ).parent
    for command in (["run", "p", "--dry-run"], ["render", "p"]):
        result = cli(*command, "--to", TO, profiles_dir=root)
        assert result.exit_code == 0, result.stderr
        assert "tok-from-env-123" not in result.stdout
        assert result.stdout.count("***") >= 2
    shown = cli("run", "p", "--dry-run", "--show-secrets", "--to", TO, profiles_dir=root,
                allow_secrets=True)  # fmt: skip
    assert SIP_PASSWORD in shown.stdout and "tok-from-env-123" in shown.stdout
    assert API_KEY not in shown.stdout + shown.stderr  # the key is never shown


def test_secrets_echoed_in_a_telnyx_error_are_scrubbed(cli, profile_dir, sandbox):
    server = sandbox(
        Step(
            status=422,
            body={
                "errors": [
                    {
                        "code": "10015",
                        "title": "Bad Request",
                        "detail": f"bad credentials {SIP_PASSWORD} for key {API_KEY}",
                        "source": {"pointer": "/SipAuthPassword"},
                    }
                ]
            },
        )
    )
    result = run(cli, profile_dir, server.base_url)  # the cli fixture scans for both secrets
    assert result.exit_code == 4
    assert "bad credentials *** for key ***" in result.stderr
    assert "field SipAuthPassword, set at profiles/reminder.yaml:7:20" in result.stderr


def test_no_secret_in_crash_free_unreachable_output(cli, profile_dir, waits):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    try:
        url = f"http://127.0.0.1:{holder.getsockname()[1]}/v2"
        result = run(cli, profile_dir, url, "--max-retries", "0", "-o", "json")
    finally:
        holder.close()
    assert result.exit_code == 6
    assert json.loads(result.stdout)["status"] == "unreachable"


def test_sandbox_class_refuses_remote_host():
    try:
        Sandbox(host="0.0.0.0")
    except ValueError as exc:
        assert "not a loopback address" in str(exc)
    else:
        raise AssertionError("listening on 0.0.0.0 was allowed")
