"""The three promises under random attack (issue 10, "Done means"): random values for every flag
of run, batch and render, every contacts format, and random templates built from every filter,
test, method and operator. Whatever the input: the exit code is one the documentation lists and
never 3 (a bug); no secret appears in any output or file; no row is left dialing, or unknown
without having been sent; and peak memory stays bounded (measured by the operating system in a
child process against a baseline)."""

from __future__ import annotations

import json
import os
import random
import sqlite3
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.helpers.batch import write_profile
from tests.helpers.env import API_KEY, SIP_PASSWORD
from tests.helpers.peak import peak_of

DOCUMENTED = {0, 1, 2, 4, 5, 6, 130}
ENV_SECRET = "env-secret-Qx7v"
SECRETS = (API_KEY, SIP_PASSWORD, ENV_SECRET)
SETTINGS = settings(
    max_examples=int(os.environ.get("HARDENING_FUZZ_EXAMPLES", "80")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

PROFILE = """\
connection_id: "conn-fuzz"
variables:
  name: {required: true}
  ring: {default: "20"}
call:
  From: "+13120001234"
  AIAssistantId: "assistant-fuzz"
  Timeout: "{{ ring }}"
  SipAuthUsername: user
  SipAuthPassword: "{{ env.CALLPROFILE_SIP }}"
  AIAssistantDynamicVariables:
    name: "{{ name }}"
    tier: "{{ env.CALLPROFILE_TIER }}"
"""

HOSTILE_TEXT = [
    "",
    "x",
    "9" * 5000,
    "1e999",
    "NaN",
    "-1",
    "2147483648",
    "\x1b]0;x\x07\r\n",
    "Ren\udce9",
    "\ud800",
    "{{ 7*7 }}",
    "a" * 200_000,
    SIP_PASSWORD,
    API_KEY,
    ENV_SECRET,
    "+13125550123",
    "+1 (312) 555-0124",
    "+18005550100",
]
GOOD_NUMBER = "+13125550123"
FIELDS = ["Timeout", "SipAuthPassword", "SipAuthPasword", "CustomHeaders", "To", "Twiml", "x.y", ""]
URLS = [
    "https://a..b/v2",
    "https://xn--/v2",
    "https://256.256.256.256/v2",
    "http://192.0.2.2/v2",
    "https://" + "a" * 300 + ".com/v2",
    "ftp://x/v2",
]


def flag_values(draw: Callable[[Sequence[Any]], Any]) -> list[str]:
    """A random selection of flags shared by run, render and batch."""
    args: list[str] = []
    for _ in range(draw([0, 0, 1, 2, 3])):
        kind = draw(["--set", "--set-json", "--var", "--from", "--connection-id", "-f"])
        if kind in ("--set", "--set-json"):
            args += [kind, f"{draw(FIELDS)}={draw(HOSTILE_TEXT)}"]
        elif kind == "--var":
            args += [kind, f"{draw(['name', 'ring', 'nope', ''])}={draw(HOSTILE_TEXT)}"]
        elif kind == "-f":
            args += [kind, draw(["values.yaml", "missing.yaml", "c.csv"])]
        else:
            args += [kind, draw(HOSTILE_TEXT)]
    return args


def sending_flags(draw: Callable[[Sequence[Any]], Any], base_url: str) -> list[str]:
    args = ["--base-url", draw([base_url] * 8 + URLS)]
    args += ["--timeout", draw(["5", "5", "5", "0.05", "1e9"])]
    args += ["--max-retries", draw(["0", "2"])]
    return args


def batch_flags(draw: Callable[[Sequence[Any]], Any]) -> list[str]:
    args: list[str] = []
    for _ in range(draw([0, 1, 2])):
        choice = draw(["window", "interval", "report", "ledger", "dnc", "region", "column", "max"])
        if choice == "window":
            args += ["--window", draw(["00:00-23:59", "09:00-09:05", "25:00-26:00"])]
        elif choice == "interval":
            args += ["--min-interval", draw(["0", "24h", "800000d", "9" * 400])]
        elif choice == "report":
            args += ["--report", draw(["report.csv", "c.csv", "c.jsonl"])]
        elif choice == "ledger":
            args += ["--ledger", draw(["other.db", "c.csv"])]
        elif choice == "dnc":
            args += ["--dnc", draw(["dnc.txt", "c.csv"])]
        elif choice == "region":
            args += ["--region", draw(["US", "ZZ", "\x1b"])]
        elif choice == "column":
            args += ["--to-column", draw(["to", "nope"])]
        else:
            args += ["--max-calls", draw(["1", "0"])]
    return args


def contacts_rows(draw: Callable[[Sequence[Any]], Any]) -> tuple[str, str]:
    """A contacts file (CSV or JSON lines) of a few rows, some hostile."""
    numbers = ["+13125550101", "+13125550102", "+18005550100", "+80012345678", "not a number"]
    good = [f"+1312555{i:04d}" for i in range(110, 120)]
    if draw(["csv", "jsonl"]) == "csv":
        lines = ["to,name,ring"]
        for _ in range(draw([1, 2, 3, 4])):
            cell = draw(["Ada", "Bob", *HOSTILE_TEXT[:12]]).replace('"', "").replace("\n", " ")
            number = draw([*good, *numbers])
            lines.append(f'{number},"{cell}",{draw(["30", "30", "9" * 5000, "x"])}')
        return "c.csv", "\n".join(lines) + "\n"
    lines = []
    for _ in range(draw([1, 2, 3, 4])):
        lines.append(
            draw(
                [
                    json.dumps({"to": draw(good), "name": "Ada", "ring": 30}),
                    json.dumps({"to": draw(good), "name": "Ada", "ring": 30}),
                    json.dumps({"to": draw(numbers), "name": "Ada", "ring": 30}),
                    '{"to": "+13125550103", "name": "\\ud800"}',
                    '{"to": "+13125550104", "name": "A", "n": 1e999}',
                    '{"to": "+13125550105", "name": "A", "name": "B"}',
                    '{"to": "+13125550106", "name": NaN}',
                    "not json",
                ]
            )
        )
    return "c.jsonl", "\n".join(lines) + "\n"


def fresh(tmp_path: Path, n: int) -> Path:
    work = tmp_path / f"case-{n}"
    work.mkdir()
    write_profile(work, PROFILE, name="fuzz")
    (work / "values.yaml").write_text("call:\n  Timeout: 030\n", encoding="utf-8")
    (work / "dnc.txt").write_text("+13125550102\n", encoding="utf-8")
    return work


def invoke(work: Path, args: list[str]) -> Any:
    from runner.cli.main import cli

    old = os.getcwd()
    os.chdir(work)
    try:
        argv = ["--profiles-dir", str(work / "profiles"), *args]
        return CliRunner().invoke(cli, argv, catch_exceptions=False)
    finally:
        os.chdir(old)


def assert_promises(work: Path, result: Any, posted: set[str]) -> None:
    shown = result.stdout + result.stderr
    assert result.exit_code in DOCUMENTED and "Traceback" not in shown, (result.exit_code, shown)
    assert "internal error" not in shown, shown
    for secret in SECRETS:
        assert secret not in shown, (secret, shown)
    for path in work.rglob("*"):
        if path.is_file() and path.suffix in (".csv", ".db", ".log", ".jsonl", ".txt", ".yaml"):
            data = path.read_bytes()
            for secret in SECRETS:
                if path.name.startswith("c.") and secret in data.decode("utf-8", "replace"):
                    continue  # the contacts file itself may hold what the test wrote into it
                assert secret.encode() not in data, (secret, path)
    assert not list((work / "state").rglob("crash-*.log"))
    for ledger in work.glob("*.db"):
        if ledger.name.startswith("recent-calls"):
            continue
        db = sqlite3.connect(ledger)
        try:
            rows = db.execute("SELECT state, e164 FROM rows").fetchall()
        except sqlite3.DatabaseError:
            rows = []
        finally:
            db.close()
        for state, e164 in rows:
            assert state != "dialing", (ledger, rows)
            if state == "unknown":
                assert e164 in posted, (e164, posted)


@SETTINGS
@given(st.data())
def test_random_flags_keep_the_promises(tmp_path_factory, monkeypatch, data):
    from runner.sandbox import Sandbox

    tmp_path = tmp_path_factory.mktemp("flags")
    work = fresh(tmp_path, 0)
    monkeypatch.setenv("XDG_STATE_HOME", str(work / "state"))
    monkeypatch.setenv("TELNYX_API_KEY", API_KEY)
    monkeypatch.setenv("CALLPROFILE_SIP", SIP_PASSWORD)
    monkeypatch.setenv("CALLPROFILE_TIER", ENV_SECRET)
    monkeypatch.delenv("TELNYX_BASE_URL", raising=False)

    def draw(options: Sequence[Any]) -> Any:
        return data.draw(st.sampled_from(list(options)))

    with Sandbox() as sandbox:
        result = _random_command(work, draw, sandbox.base_url)
        posted = {c["body"].get("To") for c in sandbox.calls}
    event(f"exit {result.exit_code}, {'some' if posted else 'no'} call(s) placed")
    assert_promises(work, result, posted)


def _random_command(work: Path, draw: Callable[[Sequence[Any]], Any], base_url: str) -> Any:
    command = draw(["run", "render", "batch"])
    # Mostly usable values, so that calls are placed, with hostile ones mixed in.
    to = draw([GOOD_NUMBER] * len(HOSTILE_TEXT) + HOSTILE_TEXT)
    base = ["--to", to, "--var", "name=Ada", *flag_values(draw)]
    if command == "render":
        args = ["render", "fuzz", *base, "-o", draw(["yaml", "json"])]
    elif command == "run":
        args = ["run", "fuzz", *base, *sending_flags(draw, base_url)]
        args += ["-o", draw(["text", "json"]), *draw([[], [], ["--dry-run"]])]
    else:
        name, text = contacts_rows(draw)
        (work / name).write_text(text, encoding="utf-8", errors="surrogatepass")
        args = ["batch", "fuzz", "--contacts", name, "--rate", "1000"]
        args += [*draw([[], [], ["--var", "name=Ada"]]), *flag_values(draw)]
        args += [*batch_flags(draw), *sending_flags(draw, base_url)]
        args += draw([[], ["--dry-run"], ["-o", "json"]])
    # A command line decodes bad bytes to \udc80-\udcff only; files can hold any surrogate.
    return invoke(work, [a.replace("\ud800", "\udcff") for a in args])


# --- templates ----------------------------------------------------------------------------------

SUBJECTS = [
    "'x' * 99999",
    "'\\t' * 50000",
    "('9' * 4000)|int",
    "range(100000)",
    "range(3000)|list",
    "[big, big, big]",
    "{'a': big, 'b': 1}",
    "big.encode()",
    "now",
    "env",
    "env.CALLPROFILE_TIER",
    "name",
    "1e308",
    "-1",
    "none",
    "[[[[1]]]]",
]
ARGS = [
    "",
    "99999",
    "100000",
    "-1",
    "big",
    "'x'",
    "2",
    "0",
    "'y' * 99999",
    "[]",
    "none",
    "true",
    "99999, big",
    "attribute='x'",
    "'center', 99999",
    "'urlize'",
    "{120: 'y' * 99999}",
]
BINOPS = ["+", "*", "**", "%", "//", "-", "/", "~", "in"]


def _names() -> tuple[list[str], list[str], list[str]]:
    from runner.templates.render import environment

    env = environment()
    methods = sorted(
        {
            m
            for kind in (str, bytes, int, float, list, dict)
            for m in dir(kind)
            if not m.startswith("_")
        }
    )
    return sorted(env.filters), sorted(env.tests), methods


FILTERS, TESTS, METHODS = _names()


def template_from(draw: Callable[[Sequence[Any]], Any]) -> str:
    """One expression: a subject, then one to three operations on it."""
    expr = f"({draw(SUBJECTS)})"
    for _ in range(draw([1, 2, 3])):
        kind = draw(["filter", "method", "binop", "test", "slice"])
        arg = draw(ARGS)
        if kind == "filter":
            expr = f"({expr}|{draw(FILTERS)}{f'({arg})' if arg else ''})"
        elif kind == "method":
            expr = f"({expr}.{draw(METHODS)}({arg}))"
        elif kind == "binop":
            expr = f"({expr} {draw(BINOPS)} ({draw(SUBJECTS)}))"
        elif kind == "test":
            expr = f"({expr} is {draw(TESTS)}{f'({arg})' if arg else ''})"
        else:
            expr = f"({expr}[{draw(['1:', '::-1', ':99999', '0'])}])"
    return "{% set big = 'x' * 99999 %}{{ " + expr + " }}"


def template_profile(template: str) -> str:
    return (
        'connection_id: "1234567890"\n'
        "variables:\n"
        "  name: {default: Ada}\n"
        "call:\n"
        '  From: "+13120001234"\n'
        '  To: "+13125550123"\n'
        "  AIAssistantId: assistant-1\n"
        "  AIAssistantDynamicVariables:\n"
        "    value: |-\n"
        f"      {template}\n"
    )


@SETTINGS
@given(st.data())
def test_random_templates_never_crash_or_leak(tmp_path_factory, monkeypatch, data):
    tmp_path = tmp_path_factory.mktemp("templates")
    monkeypatch.setenv("CALLPROFILE_TIER", ENV_SECRET)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    template = template_from(lambda options: data.draw(st.sampled_from(list(options))))
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "t.yaml").write_text(template_profile(template), encoding="utf-8")
    result = invoke(tmp_path, ["render", "t", "-o", "json"])
    shown = result.stdout + result.stderr
    assert result.exit_code in (0, 1), (template, shown)
    assert "Traceback" not in shown and "internal error" not in shown, (template, shown)
    assert ENV_SECRET not in shown, (template, shown)
    if result.exit_code == 1:
        codes = [d["code"] for d in json.loads(result.stdout)["diagnostics"]]
        assert codes and all(c.startswith("CP") for c in codes), (template, codes)


def _peak(tmp_path: Path, profiles: Path) -> tuple[int, int, str]:
    return peak_of(
        tmp_path,
        profiles,
        "validate",
        "--no-lint",
        env={"CALLPROFILE_TIER": ENV_SECRET},
        timeout=900,
    )


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss in KiB")
def test_peak_memory_stays_bounded_for_random_templates(tmp_path):
    """300 random templates from the same generator, validated in one process: its peak RSS
    stays within 40 MB of validating one ordinary template."""
    rng = random.Random(10)
    benign = tmp_path / "benign"
    benign.mkdir()
    (benign / "ok.yaml").write_text(template_profile("{{ 'ada'|title }}"), encoding="utf-8")
    hostile = tmp_path / "hostile"
    hostile.mkdir()
    for i in range(300):
        text = template_profile(template_from(rng.choice))
        (hostile / f"t{i:03d}.yaml").write_text(text, encoding="utf-8")
    code, baseline, output = _peak(tmp_path, benign)
    assert code == 0, output
    code, peak, output = _peak(tmp_path, hostile)
    assert code in (0, 1), output
    assert "internal error" not in output and "Traceback" not in output, output
    assert ENV_SECRET not in output
    assert peak - baseline < 40 * 1024, (peak, baseline)
