"""Ordinary bad inputs get a diagnostic naming where they came from, never exit 3 (issue 10,
Broken 3 and 6, Weak "numbers"): numbers YAML 1.1 reads differently, JSON numbers no field can
take, values too long to convert, and one bad contacts row among good ones."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from runner.schema import files as schemas
from tests.helpers.batch import ledger_rows, number, write_contacts, write_profile
from tests.helpers.core import BASE, failed, make_profiles, rendered
from tests.helpers.env import API_KEY, ROOT

INT32_MAX = 2**31 - 1


@pytest.fixture
def tree(tmp_path):
    return make_profiles(tmp_path / "profiles", {"p": BASE})


@pytest.mark.parametrize(
    ("written", "yaml11"),
    [("030", 24), ("010", 8), ("1:00", 60), ("-010", -8), ("0b1010", 10), ("1_000", 1000)],
)
def test_yaml11_number_forms_are_refused_with_quote_it_or_write_the_decimal(
    cli, tmp_path, written, yaml11
):
    tree = make_profiles(tmp_path / "profiles", {"p": BASE + f"  Timeout: {written}\n"})
    for args in (["validate"], ["render", "p"]):
        shown = failed(cli, tree, *args)
        assert "p.yaml:6:12: error: YAML 1.1 reads" in shown, shown
        assert f"as the number {yaml11}" in shown and "quote it" in shown, shown
        assert "or write the decimal [CP105]" in shown, shown
    values = tmp_path / "v.yaml"
    values.write_text(f"call:\n  Timeout: {written}\n", encoding="utf-8")
    assert "[CP105]" in failed(cli, tree, "render", "p", "-f", str(values))


def test_ordinary_numbers_and_hex_still_read_as_numbers(cli, tmp_path):
    tree = make_profiles(tmp_path / "profiles", {"p": BASE + "  Timeout: 30\n  TimeLimit: 0x3C\n"})
    body = rendered(cli, tree, "p")["call"]
    assert (body["Timeout"], body["TimeLimit"]) == (30, 60)


def test_every_integer_field_has_int32_bounds():
    def walk(node, path):
        if node.get("type") == "integer":
            lo, hi = node.get("minimum"), node.get("maximum")
            assert lo is not None and hi is not None, path
            assert -(2**31) <= lo <= hi <= INT32_MAX, path
        for key, sub in node.get("properties", {}).items():
            walk(sub, f"{path}.{key}")
        for key in ("items", "additionalProperties"):
            if isinstance(node.get(key), dict):
                walk(node[key], f"{path}.{key}")

    walk(schemas.request_schema(), "$")


SET_JSON = {
    "1e300 on an integer field": ("Timeout=1e300", "expected an integer"),
    "1e1 is not the integer 10": ("Timeout=1e1", "expected an integer, got number 10.0"),
    "30 digits on an unbounded field": ("MachineDetectionSpeechThreshold=" + "9" * 30, "digits"),
    "past int32": ("MachineDetectionSpeechThreshold=2147483648", "out of range"),
    "negative duration": ("MachineDetectionSilenceTimeout=-5", "out of range"),
    "5000 digits": ("Timeout=" + "9" * 5000, "5000 digits"),
    "NaN": ("Timeout=NaN", "NaN is not a number JSON allows"),
    "Infinity": ("Timeout=-Infinity", "-Infinity is not a number JSON allows"),
    "1e999": ("Timeout=1e999", "out of range"),
    "repeated key": ('AIAssistantDynamicVariables={"a": "1", "a": "2"}', "given twice"),
}


@pytest.mark.parametrize("case", list(SET_JSON.values()), ids=list(SET_JSON))
def test_set_json_numbers_no_field_can_take_are_refused(cli, tree, case):
    flag, words = case
    shown = failed(cli, tree, "render", "p", "--set-json", flag)
    assert words in shown, shown
    assert "--set-json" in shown


def test_set_json_integers_stay_integers(cli, tree):
    body = rendered(cli, tree, "p", "--set-json", "Timeout=10", "--set-json", "TimeLimit=600")
    assert json.dumps(body["call"]["Timeout"]) == "10"
    assert body["call"]["TimeLimit"] == 600


@pytest.mark.parametrize("flag", ["--set", "--set-json"])
def test_a_5000_digit_timeout_is_a_diagnostic(cli, tree, flag):
    shown = failed(cli, tree, "render", "p", flag, "Timeout=" + "9" * 5000)
    assert "out of range" in shown or "digits" in shown, shown
    assert len(shown) < 2000  # the value is not echoed whole


def test_a_5000_digit_variable_in_an_integer_template_is_a_diagnostic(cli, tmp_path):
    profile = "variables:\n  ring: {default: '20'}\n" + BASE + '  Timeout: "{{ ring }}"\n'
    tree = make_profiles(tmp_path / "profiles", {"p": profile})
    shown = failed(cli, tree, "render", "p", "--var", "ring=" + "9" * 5000)
    assert "p.yaml:" in shown and "[CP205]" in shown, shown


RING_PROFILE = """\
connection_id: "conn-batch"
variables:
  name: {required: true}
  ring: {default: "20"}
call:
  From: "+13120001234"
  AIAssistantId: "assistant-batch"
  Timeout: "{{ ring }}"
  AIAssistantDynamicVariables:
    name: "{{ name }}"
"""


def test_one_bad_cell_makes_one_row_invalid_and_the_batch_goes_on(
    cli, tmp_path, server, monkeypatch
):
    monkeypatch.setenv("TELNYX_API_KEY", API_KEY)
    monkeypatch.setenv("TELNYX_BASE_URL", server.base_url)
    profiles = write_profile(tmp_path, RING_PROFILE)
    rows = [{"to": number(i), "name": f"P{i}", "ring": "30"} for i in range(5)]
    rows[2]["ring"] = "9" * 5000
    contacts = write_contacts(tmp_path / "c.csv", rows)
    args = ("batch", "remind", "--contacts", str(contacts), "--rate", "1000")

    dry = cli(*args, "--dry-run", profiles_dir=profiles)
    assert dry.exit_code == 1, dry.stderr
    assert "c.csv row 4" in dry.stderr and "[CP205]" in dry.stderr, dry.stderr
    assert len(dry.stdout.splitlines()) == 4  # the other rows would be sent

    result = cli(*args, profiles_dir=profiles)
    assert result.exit_code == 1, result.stderr
    assert "c.csv row 4" in result.stderr
    assert sorted(server.numbers()) == sorted(number(i) for i in (0, 1, 3, 4))
    states = {r["row_no"]: r["state"] for r in ledger_rows(tmp_path / "c.csv.ledger.db")}
    assert states == {2: "placed", 3: "placed", 4: "skipped", 5: "placed", 6: "placed"}


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ('{"to": "%s", "name": "A", "n": 1e999}', "too large"),
        ('{"to": "%s", "name": "A", "n": NaN}', "NaN"),
        ('{"to": "%s", "name": "A", "n": -Infinity}', "-Infinity"),
        ('{"to": "%s", "name": "A", "name": "B"}', "twice"),
        ('{"to": "%s", "name": "A", "n": ' + "9" * 100 + "}", "number of 100 characters"),
    ],
)
def test_jsonl_rows_json_cannot_hold_faithfully_are_refused_with_the_row(
    cli, tmp_path, server, monkeypatch, line, words
):
    monkeypatch.setenv("TELNYX_API_KEY", API_KEY)
    monkeypatch.setenv("TELNYX_BASE_URL", server.base_url)
    profiles = write_profile(tmp_path)
    contacts = tmp_path / "c.jsonl"
    good = json.dumps({"to": number(1), "name": "Ada", "note": 12.50})
    contacts.write_text(good + "\n" + line % number(2) + "\n", encoding="utf-8")
    result = cli("batch", "remind", "--contacts", str(contacts), profiles_dir=profiles)
    assert result.exit_code == 1, result.stderr
    assert "c.jsonl row 2" in result.stderr and words in result.stderr, result.stderr
    assert server.numbers() == [number(1)]
    # Numbers are passed as the text they were written as.
    assert server.posts[0]["body"]["AIAssistantDynamicVariables"]["note"] == "12.5"


DYNAMIC = '  AIAssistantDynamicVariables:\n    name: "{{ name }}"\n'


@pytest.mark.skipif(sys.platform == "win32", reason="byte arguments")
def test_a_non_utf8_var_is_a_diagnostic_not_a_crash(tmp_path):
    """``--var $'Ren\\xe9'``: Python reads the byte as a lone surrogate; the value cannot be
    sent, so it is refused where a template uses it (CP108), never an internal error."""
    tree = make_profiles(
        tmp_path / "profiles",
        {"p": "variables:\n  name: {required: true}\n" + BASE + DYNAMIC},
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELNYX_", "CALLPROFILE_"))}
    env["PYTHONPATH"] = str(ROOT)
    argv = [sys.executable.encode(), b"-m", b"runner", b"--profiles-dir", str(tree).encode()]
    for command in ([b"render", b"p"], [b"run", b"p", b"--dry-run"]):
        done = subprocess.run(
            [*argv, *command, b"--var", b"name=Ren\xe9"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            timeout=120,
        )
        stderr = done.stderr.decode("utf-8", "replace")
        assert done.returncode == 1, stderr
        assert "not valid Unicode" in stderr and "[CP108]" in stderr, stderr
        assert "internal error" not in stderr and "Traceback" not in stderr
