"""Fuzzing the loader: thousands of mutated and random profile files give either a clean result
or a clean ProfileError whose diagnostics say where, and never any other exception.

The bulk drives the core directly (yamlsource -> profile_check -> flow) for speed; a few cases
go through the CLI to check the exit code and that no traceback is printed.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.cli.flags import parse_set, parse_var
from runner.diagnostics import Diagnostic, ProfileError
from runner.flow.compose import compose
from runner.profiles.overrides import Overrides
from runner.profiles.source import load_text
from runner.profiles.store import Store
from runner.schema.check import check_source
from tests.helpers.env import EXAMPLE_PROFILES

FILE = "fuzz.yaml"
TOKENS = [
    *[":", ": ", "- ", "-", "{", "}", "[", "]", ",", "'", '"', "\n", "  ", "\t", "#", "|", ">"],
    *["? ", "&a ", "*a", "<<: ", "!!python/object:os.system ", "!!str ", "!!binary ", "!x "],
    *["{{", "}}", "{%", "%}", "{{ customer_name }}", "{{ env.TELNYX_API_KEY }}", "null", "~"],
    *["%YAML 1.1\n", "---\n", "...\n", "\x00", "\x07", "\x85", "\u2028", "\ufeff", "\ud800"],
    *["extends: ", "call: ", "variables: ", "abstract: true", "connection_id: ", "To: "],
    *["Timeout: ", "+13125550123", "0x1F", "1e400", ".nan", "2026-11-26", "yes", "NO", "é"],
    *["AIAssistantDynamicVariables: ", "required: true", "default: ", "[1, [2, [3]]]"],
]


def seeds() -> list[str]:
    texts = [p.read_text(encoding="utf-8") for p in sorted(EXAMPLE_PROFILES.rglob("*.yaml"))]
    texts.append("call: {From: '+13120001234', Timeout: 30, CustomHeaders: [{name: a, value: b}]}")
    texts.append("variables:\n  a:\n    default: x\ncall:\n  AIAssistantId: |\n    {{ a }}\n")
    return texts


def mutate(text: str, rng: random.Random) -> str:
    for _ in range(rng.randint(1, 4)):
        at = rng.randint(0, len(text))
        choice = rng.random()
        if choice < 0.45:
            text = text[:at] + rng.choice(TOKENS) + text[at:]
        elif choice < 0.65:
            text = text[:at] + text[at + rng.randint(1, 12) :]
        elif choice < 0.8:
            lines = text.split("\n")
            i = rng.randrange(len(lines))
            lines.insert(rng.randrange(len(lines) + 1), lines[i])
            text = "\n".join(lines)
        elif choice < 0.9:
            text = text[:at] + chr(rng.randint(0, 0x2FF)) + text[at:]
        else:
            lines = text.split("\n")
            i = rng.randrange(len(lines))
            lines[i] = " " * rng.randint(0, 6) + lines[i].lstrip()
            text = "\n".join(lines)
    return text


def assert_clean(error: ProfileError, text: str) -> None:
    assert error.diagnostics, text
    for d in error.diagnostics:
        assert isinstance(d, Diagnostic)
        assert d.message and d.code.startswith("CP"), d
        # Where: a file position, or the flag/profile it came from.
        assert d.file is not None or d.origin, (d, text)
        if d.file == FILE and d.code.startswith("CP00"):
            assert d.line is not None and d.col is not None, (d, text)
        assert "Traceback" not in d.message


def load_and_check(text: str) -> bool:
    """True when the text loaded and passed the profile schema."""
    try:
        source = load_text(text, FILE)
    except ProfileError as error:
        assert_clean(error, text)
        return False
    problems = check_source(source)
    for d in problems:
        assert d.file == FILE and d.code.startswith("CP"), d
        assert d.line is not None or d.json_path, (d, text)
    return not any(d.severity == "error" for d in problems)


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("fuzz") / "profiles"
    shutil.copytree(EXAMPLE_PROFILES, target)
    return target


def through_flow(store_dir: Path, text: str) -> None:
    (store_dir / FILE).write_text(text, encoding="utf-8", errors="surrogatepass")
    overrides = Overrides(to="+13125550123", vars=[parse_var("customer_name=Ada")])
    try:
        compose(Store(store_dir), "fuzz", overrides, allow_abstract=True).request()
    except ProfileError as error:
        assert_clean(error, text)


def test_thousands_of_mutated_profiles_load_cleanly(store_dir):
    rng = random.Random(6)
    originals = seeds()
    loaded = 0
    for i in range(3000):
        text = mutate(rng.choice(originals), rng)
        ok = load_and_check(text)
        loaded += ok
        if ok or i % 10 == 0:
            through_flow(store_dir, text)
    # Mutations must not all be trivially broken, or the flow is never reached.
    assert loaded > 300


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=200))
def test_random_text_loads_cleanly(text):
    load_and_check(text)


yaml_ish = st.lists(st.sampled_from(TOKENS) | st.text(max_size=4), max_size=30).map("".join)


@settings(max_examples=400, deadline=None)
@given(yaml_ish)
def test_random_yaml_like_text_loads_cleanly(text):
    load_and_check(text)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
def test_mutated_profiles_through_the_cli(cli, profiles, seed):
    """The same inputs through the command line: exit 0 or 1, never a traceback or exit 3."""
    rng = random.Random(seed)
    for _ in range(8):
        text = mutate((profiles / "appointment-reminder.yaml").read_text(encoding="utf-8"), rng)
        (profiles / "fuzz.yaml").write_text(text, encoding="utf-8", errors="surrogatepass")
        for args in (["validate"], ["render", "fuzz", "--to", "+13125550123"]):
            result = (
                cli(*args, "--var", "customer_name=Ada", profiles_dir=profiles)
                if (args[0] == "render")
                else cli(*args, profiles_dir=profiles)
            )
            assert result.exit_code in (0, 1), (text, result.stderr)
            assert "Traceback" not in result.stdout + result.stderr
            if result.exit_code == 1:
                # validate prints its findings on stdout; other commands' errors go to stderr.
                shown = result.stdout if args[0] == "validate" else result.stderr
                assert ": error: " in shown, result.stdout + result.stderr


field_names = st.sampled_from(
    [
        *["To", "Timeout", "AIAssistantDynamicVariables", "CustomHeaders", "SipAuthPassword"],
        *["Twiml", "AsyncAmd", "StatusCallbackEvent", "nope", "", "."],
    ]
)
paths = st.lists(field_names | st.text(max_size=4), min_size=1, max_size=3).map(".".join)
flag_values = st.text(max_size=12) | st.sampled_from(
    ["1", "-1", "true", "null", "[]", "{}", '{"a": 1}', '[{"name": "a", "value": "b"}]', "1e9"]
)


@settings(max_examples=300, deadline=None)
@given(
    sets=st.lists(st.tuples(st.sampled_from(["set", "set-json"]), paths, flag_values), max_size=3),
    variables=st.lists(st.tuples(st.text(max_size=6), st.text(max_size=6)), max_size=2),
)
def test_random_flags_give_a_request_or_a_clean_error(sets, variables):
    given = ["customer_name=Ada", "appointment_time=noon", *(f"{k}={v}" for k, v in variables)]
    try:
        # The command line's own parsing of the flags, then the flow.
        overrides = Overrides(
            sets=[parse_set(kind, f"{path}={value}") for kind, path, value in sets],
            to="+13125550123",
            vars=[parse_var(text) for text in given],
        )
        compose(Store(EXAMPLE_PROFILES), "appointment-reminder", overrides).request()
    except ProfileError as error:
        assert_clean(error, repr(sets))


VALUES_SEED = """\
connection_id: "{{ 'abc' }}"
call:
  Timeout: 40
  AIAssistantDynamicVariables:
    clinic: Lakeview
  CustomHeaders:
    - {name: X-A, value: "{{ profile }}"}
"""
VARS_SEED = "customer_name: Ada\nappointment_time: 'Tuesday 3 PM'\namount: 12.50\n"


def test_mutated_values_and_vars_files_give_a_request_or_a_clean_error(tmp_path):
    rng = random.Random(66)
    values, variables = tmp_path / "values.yaml", tmp_path / "vars.yaml"
    for _ in range(400):
        values.write_text(mutate(VALUES_SEED, rng), encoding="utf-8", errors="surrogatepass")
        variables.write_text(mutate(VARS_SEED, rng), encoding="utf-8", errors="surrogatepass")
        overrides = Overrides(
            values_files=[str(values)], vars_files=[str(variables)], to="+13125550123"
        )
        try:
            compose(Store(EXAMPLE_PROFILES), "appointment-reminder", overrides).request()
        except ProfileError as error:
            assert_clean(error, values.read_text(encoding="utf-8", errors="surrogateescape"))
