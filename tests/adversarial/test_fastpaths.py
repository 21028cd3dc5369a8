"""The fast paths behind the start-up targets never change an answer.

``runner.schema.fast`` answers "valid?" without jsonschema, and ``render`` substitutes plain
``{{ name }}`` templates without Jinja. Both are only allowed to be faster: the validator must
never accept what jsonschema rejects, and the substitution must produce Jinja's exact text.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import cache
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.schema import errors as schema_errors
from runner.schema import fast as fastschema
from runner.schema import files as schemas
from runner.templates.render import environment, simple_parts
from tests.helpers.env import EXAMPLE_PROFILES, ROOT

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


@cache
def instances(schema_json: str) -> st.SearchStrategy[Any]:
    """Values aimed at ``schema``: mostly near-valid, with junk mixed in at every level."""
    schema = json.loads(schema_json)
    return _strategy(schema)


def _sub(schema: Any) -> st.SearchStrategy[Any]:
    return st.deferred(lambda: instances(json.dumps(schema, sort_keys=True)))


def _strategy(schema: Any) -> st.SearchStrategy[Any]:
    if not isinstance(schema, dict) or not schema:
        return json_values
    options: list[st.SearchStrategy[Any]] = []
    if "enum" in schema:
        options.append(st.sampled_from(schema["enum"]))
    for branch in schema.get("anyOf", []):
        options.append(_sub(branch))
    if "not" in schema and isinstance(schema["not"], dict) and schema["not"].get("enum"):
        options.append(st.sampled_from(schema["not"]["enum"]))
    types = schema.get("type")
    for kind in types if isinstance(types, list) else [types] if types else []:
        if kind == "string":
            if "pattern" in schema:
                options.append(st.from_regex(schema["pattern"]))
            options.append(st.text(max_size=schema.get("maxLength", 20) + 2))
        elif kind == "integer":
            low, high = schema.get("minimum", -5), schema.get("maximum", 100_000)
            options.append(st.integers(low - 2, high + 2))
            options.append(st.floats(low - 2, high + 2))
        elif kind == "number":
            options.append(st.floats(-10, 100_000, allow_nan=False))
        elif kind == "boolean":
            options.append(st.booleans())
        elif kind == "null":
            options.append(st.none())
        elif kind == "array":
            items = schema.get("items", {})
            options.append(st.lists(_sub(items), max_size=3))
        elif kind == "object":
            props = schema.get("properties", {})
            extra = schema.get("additionalProperties", True)
            names = schema.get("propertyNames", {})
            keys: st.SearchStrategy[str] = st.text(max_size=8)
            if "pattern" in names:
                keys = st.from_regex(names["pattern"]) | keys
            if isinstance(names.get("not"), dict) and names["not"].get("enum"):
                keys = st.sampled_from(names["not"]["enum"]) | keys
            known = st.fixed_dictionaries({}, optional={k: _sub(v) for k, v in props.items()})
            unknown = st.dictionaries(
                keys | st.sampled_from(["Bogus", "twiml", "Url"]),
                _sub(extra) if isinstance(extra, dict) else json_values,
                max_size=2,
            )
            options.append(st.builds(lambda a, b: {**b, **a}, known, st.just({}) | unknown))
    options.append(json_values)
    return st.one_of(options)


def jsonschema_errors(name: str, value: Any) -> list[Any]:
    return list(schema_errors.validator(name).iter_errors(value))


VALID_REQUEST = {
    "From": "+13120001234",
    "To": "+13125550123",
    "AIAssistantId": "assistant-1",
    "Timeout": 25,
    "AsyncAmd": True,
    "MachineDetection": "Enable",
    "AIAssistantDynamicVariables": {"customer_name": "Ada"},
    "CustomHeaders": [{"name": "X-Callprofile", "value": "p"}],
    "StatusCallbackEvent": "initiated answered",
}


@SETTINGS
@given(st.data())
def test_fast_validator_never_accepts_what_jsonschema_rejects_request(data):
    schema = schemas.load(schemas.REQUEST)
    value = data.draw(instances(json.dumps(schema, sort_keys=True)))
    if fastschema.check(schema, value):
        assert jsonschema_errors(schemas.REQUEST, value) == [], value


@SETTINGS
@given(st.data())
def test_fast_validator_never_accepts_what_jsonschema_rejects_request_overlay(data):
    # Start from a valid request so that most draws are close to the line.
    schema = schemas.load(schemas.REQUEST)
    field = data.draw(st.sampled_from(sorted(schema["properties"])))
    value = data.draw(_sub(schema["properties"][field]))
    body = {**VALID_REQUEST, field: value}
    if fastschema.check(schema, body):
        assert jsonschema_errors(schemas.REQUEST, body) == [], body


@SETTINGS
@given(st.data())
def test_remembering_valid_fields_answers_like_checking_everything(data):
    """A batch checks each row's body with the fields earlier rows found valid remembered
    (schema.fast.check_fields): over a run of bodies, every answer is check()'s."""
    schema = schemas.load(schemas.REQUEST)
    fields = sorted(schema["properties"])
    known: dict[str, Any] = {}
    body = dict(VALID_REQUEST)
    for _ in range(data.draw(st.integers(1, 6), label="calls")):
        body = dict(body)  # a new body each call; unchanged values are the same objects
        for field in data.draw(st.lists(st.sampled_from(fields), max_size=2), label="changed"):
            body[field] = data.draw(_sub(schema["properties"][field]))
        if data.draw(st.booleans(), label="drop a required field"):
            body.pop(data.draw(st.sampled_from(["From", "To", "AIAssistantId"])), None)
        assert fastschema.check_fields(schema, body, known) == fastschema.check(schema, body)
        assert all(fastschema.check(schema["properties"][f], v) for f, v in known.items())


@SETTINGS
@given(st.data())
def test_fast_validator_never_accepts_what_jsonschema_rejects_profile(data):
    schema = schemas.load(schemas.PROFILE)
    value = data.draw(instances(json.dumps(schema, sort_keys=True)))
    if fastschema.check(schema, value):
        assert jsonschema_errors(schemas.PROFILE, value) == [], value


def test_fast_validator_answers_the_common_case():
    """Valid requests and the example profiles are accepted without jsonschema (else the fast
    path would silently be dead and the start-up target missed)."""
    assert fastschema.check(schemas.load(schemas.REQUEST), VALID_REQUEST)
    from runner.profiles.source import load_file

    for path in EXAMPLE_PROFILES.rglob("*.yaml"):
        data = load_file(str(path)).data
        assert fastschema.check(schemas.load(schemas.PROFILE), data), path


def test_fast_validator_rejects_a_trailing_newline_in_a_pattern():
    # Python's '$' matches before a final newline; the schemas mean "end of text".
    body = {**VALID_REQUEST, "To": "+13125550123\n"}
    assert not fastschema.check(schemas.load(schemas.REQUEST), body)
    assert jsonschema_errors(schemas.REQUEST, body)


# ------------------------------------------------------------------ templates without Jinja

pieces = st.sampled_from(
    [
        *["{{", "}}", "{", "}", "%", "#", " ", "\t", "\n", "\r", "-", "a", "b", "x_1", "name"],
        *["true", "None", "self", "loop", "in", "|upper", "{%", "%}", "{#", "#}", "{{ name }}"],
        *["{{a}}", "{{ b }}", "{{\tx_1 }}", "{{ true }}", "{{ self }}", "{{ in }}", "{{- a }}"],
    ]
)


@settings(max_examples=500, deadline=None)
@given(st.lists(pieces, max_size=10).map("".join), st.data())
def test_substitution_matches_jinja(text, data):
    parts = simple_parts(text)
    if parts is None:
        return
    names = sorted(set(parts[1::2]))
    values = {n: data.draw(st.text(max_size=8), label=n) for n in names}
    fast = "".join(values[p] if i % 2 else p for i, p in enumerate(parts))
    assert fast == environment().from_string(text).render(values)


def test_common_templates_take_the_substitution_path():
    assert simple_parts("Hello {{ customer_name }}, this is {{clinic}}.") is not None
    assert simple_parts("{{ customer_name | upper }}") is None
    assert simple_parts("{% if a %}x{% endif %}") is None


def test_render_imports_neither_jinja_nor_jsonschema_for_plain_profiles():
    """The start-up target depends on these imports staying off the common path (phonenumbers
    too: a --to already in E.164 needs no parsing)."""
    code = (
        "import sys\n"
        "from runner.cli.main import cli\n"
        "try:\n"
        "    cli.main(sys.argv[1:], prog_name='callprofile')\n"
        "except SystemExit as done:\n"
        "    assert done.code in (0, None), done.code\n"
        "heavy = ('jinja2', 'jsonschema', 'httpx', 'phonenumbers')\n"
        "print(sorted(m for m in heavy if m in sys.modules),"
        " file=sys.stderr)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELNYX_", "CALLPROFILE_"))}
    args = ["--profiles-dir", str(EXAMPLE_PROFILES), "render", "appointment-reminder"]
    args += ["--to", "+13125550123", "--var", "customer_name=Ada", "--var", "appointment_time=x"]
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT, env=env
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "[]", done.stderr


# ------------------------------------------------------------------ --help without click


def click_help(monkeypatch) -> str:
    """What click prints for ``callprofile --help`` in an 80-column terminal. (CliRunner forces
    its own width, so the help is formatted directly, as click's --help does.)"""
    from runner.cli.main import cli

    monkeypatch.setenv("COLUMNS", "80")
    with cli.make_context("callprofile", [], resilient_parsing=True) as ctx:
        return cli.get_help(ctx) + "\n"


def test_fast_help_is_clicks_help_byte_for_byte(monkeypatch):
    from runner.cli import entry

    assert entry.fast_help() == click_help(monkeypatch)


def test_fast_help_lays_out_new_commands_like_click(monkeypatch):
    """A command added later (long name, long help) is still laid out exactly as click does."""
    from runner.cli import entry, main

    commands = dict(main.COMMANDS)
    commands["a-rather-long-command-name-indeed"] = ("m", "f", "Short help.")
    commands["explain"] = (
        "m",
        "f",
        "Show, for every field of the final request, the file and line that set it and every "
        "layer it overrode, which is long enough to wrap onto a second line.",
    )
    monkeypatch.setattr(main, "COMMANDS", commands)
    monkeypatch.setattr(entry, "commands", lambda: commands)
    assert entry.fast_help() == click_help(monkeypatch)


def test_help_runs_without_importing_click():
    code = (
        "import sys\n"
        "sys.argv = ['callprofile', '--help']\n"
        "from runner.cli.entry import main\n"
        "main()\n"
        "print('click' in sys.modules, file=sys.stderr)\n"
    )
    env = {**os.environ, "COLUMNS": "100"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "False"
    assert "Commands:" in done.stdout and "render" in done.stdout


def test_narrow_terminals_and_other_arguments_go_to_click():
    code = (
        "import sys\n"
        "from runner.cli.entry import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('click' in sys.modules, file=sys.stderr)\n"
    )
    for columns, args in (("60", ["--help"]), ("100", ["--version"]), ("100", ["list", "-h"])):
        env = {**os.environ, "COLUMNS": columns}
        done = subprocess.run(
            [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env
        )
        assert done.stderr.strip().splitlines()[-1] == "True", (columns, args, done.stderr)


numbers = st.tuples(
    st.sampled_from(["+1", "+44", "+33", "+49", "+61", "+800", "+1800", "+1312", "+1242"]),
    st.text("0123456789", min_size=4, max_size=11),
).map("".join)


@SETTINGS
@given(numbers)
def test_normalise_accepts_what_phonenumbers_calls_valid(text):
    """runner.phone classifies a number once and keeps the facts for the stages after it;
    its verdict and the time zones then found are phonenumbers' own."""
    import phonenumbers
    from phonenumbers import timezone as tz

    from runner.batch.window import zones_for
    from runner.phone import NumberError, normalise

    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return
    valid = phonenumbers.is_valid_number(parsed)
    try:
        e164 = normalise(text)
    except NumberError:
        assert not valid, text
        return
    assert valid, text
    assert e164 == phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    expected = tuple(z for z in tz.time_zones_for_number(parsed) if z != tz.UNKNOWN_TIMEZONE)
    assert zones_for(e164) == expected


@SETTINGS
@given(st.text(alphabet="+0123456789 -()١a\n", max_size=18))
def test_e164_check_without_re_is_the_pattern(text):
    """--to/--from skip phonenumbers for E.164 input; the check is written without `re` (start-up
    time) and must accept exactly what the pattern accepts."""
    import re

    from runner.cli.flags import _is_e164

    assert _is_e164(text) == bool(re.fullmatch(r"\+[1-9][0-9]{7,14}", text))


@SETTINGS
@given(st.text(alphabet="ab -\t\n\u00a0x", max_size=60), st.integers(10, 60))
def test_help_lines_wrap_as_textwrap_wraps_them(text, width):
    """--help lays out one-line helps without importing textwrap."""
    import textwrap

    from runner.cli.entry import _wrap

    assert _wrap(text, width) == textwrap.wrap(text, width)
