"""A profile's plan for batch rows (runner.flow.plan) builds exactly the request the general path
builds (runner.flow.request.build_request), and never accepts a row the general path refuses:
over many profiles (plain substitutions, literal braces, templates rendered into integers,
secrets, nested values, filters the plan leaves alone) and hostile rows (missing, extra, empty
and oversize values, text that does not convert, lone surrogates, numbers that are not E.164).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.diagnostics import ProfileError
from runner.flow.compose import Composed, compose
from runner.flow.request import Request, build_request
from runner.profiles.store import Store
from runner.templates.budget import MAX_VALUE
from tests.helpers.env import EXAMPLE_PROFILES

PROFILES = {
    "plain": """\
connection_id: "conn-1"
variables:
  name: {required: true}
  when: {required: true}
  clinic: {default: Northside}
  unused: {required: false}
call:
  From: "+13120001234"
  AIAssistantId: "assistant-1"
  AIAssistantDynamicVariables:
    greeting: "Dear {{ name }}, see you {{when}} at {{ clinic }}!"
    name: "{{ name }}"
    fixed: "no template"
""",
    "typed": """\
connection_id: "conn-2"
variables:
  wait: {default: "30"}
  limit: {required: true}
  name: {required: true}
call:
  From: "+13120001234"
  AIAssistantId: "assistant-2"
  Timeout: "{{ wait }}"
  TimeLimit: "{{ limit }}"
  AIAssistantDynamicVariables:
    name: "{{ name }}"
""",
    "secret": """\
connection_id: "conn-3"
variables:
  pw: {required: true}
  name: {required: true}
call:
  From: "+13120001234"
  AIAssistantId: "assistant-3"
  SipAuthUsername: "agent"
  SipAuthPassword: "{{ pw }}"
  AIAssistantDynamicVariables:
    name: "{{ name }}"
""",
    "filters": """\
connection_id: "conn-4"
variables:
  name: {required: true}
call:
  From: "+13120001234"
  AIAssistantId: "assistant-4"
  AIAssistantDynamicVariables:
    name: "{{ name | upper }}"
    braces: "Dear {name} {{ name }}"
""",
    "reads-from": """\
connection_id: "conn-5"
variables:
  name: {required: true}
call:
  From: "+13120001234"
  AIAssistantId: "assistant-5"
  AIAssistantDynamicVariables:
    caller: "{{ from }}"
    name: "{{ name }}"
""",
}
NAMES = ["name", "when", "clinic", "unused", "wait", "limit", "pw", "extra", "customer_name",
         "appointment_time"]  # fmt: skip
ODD = ["", " ", "45", " 7 ", "-1", "1e3", "abc", "99999999999", "0", "true", "\ud800",
       "a\udfffb", "{name}", "{{ name }}", "x" * MAX_VALUE, "x" * (MAX_VALUE + 1), "Zoë",
       "名前"]  # fmt: skip
VALUES = st.one_of(st.text(max_size=12), st.sampled_from(ODD))
NUMBERS = st.one_of(
    st.integers(2_000_000_000, 9_999_999_999).map(lambda n: f"+1{n}"),
    st.sampled_from(["+13125550123", "+442079460958", "13125550123", "+1", "", "x", "\ud800"]),
)


@pytest.fixture(scope="module")
def profiles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Composed]:
    root: Path = tmp_path_factory.mktemp("plan")
    for name, text in PROFILES.items():
        (root / f"{name}.yaml").write_text(text, encoding="utf-8")
    found = {name: compose(Store(root), name) for name in PROFILES}
    found["example"] = compose(Store(EXAMPLE_PROFILES), "appointment-reminder")
    return found


def _shape(request: Request) -> dict[str, Any]:
    """Everything a request carries, comparable: the body as JSON (key order and types),
    provenance by path and layer (the row's own layer by what it holds)."""
    provenance = []
    for path, layers in request.provenance.items():
        shown = [
            (layer.label, layer.kind, layer.data) if layer.kind == "flag" else id(layer)
            for layer in layers
        ]
        provenance.append((path, shown))
    return {
        "profile": request.profile,
        "connection_id": request.connection_id,
        "body": json.dumps(request.body, ensure_ascii=False, default=repr, allow_nan=True)
        if "\ud800" not in repr(request.body)
        else repr(request.body),
        "provenance": provenance,
        "sensitive": request.sensitive,
        "connection_id_sensitive": request.connection_id_sensitive,
        "secrets": request.secret_values(),
    }


def _general(composed: Composed, to: str, variables: dict[str, str]) -> Request | None:
    try:
        return build_request(
            composed, to=to, from_=None, variables=variables, origin="c.csv row 2", now=None
        )
    except ProfileError:
        return None


def test_plans_are_made_for_plain_profiles_only(profiles):
    assert profiles["plain"].plan is not None
    assert profiles["typed"].plan is not None
    assert profiles["secret"].plan is not None
    assert profiles["example"].plan is not None
    assert profiles["filters"].plan is None  # Jinja renders it: the general path
    assert profiles["reads-from"].plan is None  # reads a name the renderer sets


@given(
    profile=st.sampled_from([*sorted(PROFILES), "example"]),
    to=NUMBERS,
    variables=st.dictionaries(st.sampled_from(NAMES), VALUES, max_size=8),
)
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_a_plan_builds_what_the_general_path_builds(profiles, profile, to, variables):
    composed = profiles[profile]
    expected = _general(composed, to, variables)
    plan = composed.plan
    got = plan.request(to, variables, "c.csv row 2") if plan is not None else None
    if expected is None:
        assert got is None  # never a request for a row the general path refuses
        with pytest.raises(ProfileError):
            composed.request(to=to, variables=variables, origin="c.csv row 2")
        return
    if got is not None:
        assert _shape(got) == _shape(expected)
        assert list(got.body) == list(expected.body)
    via = composed.request(to=to, variables=variables, origin="c.csv row 2")
    assert _shape(via) == _shape(expected)


def test_the_plan_answers_the_common_row_itself(profiles):
    """Valid rows do not fall back (else the plan would be correct but useless)."""
    cases = {
        "plain": {"name": "Ada", "when": "Tuesday"},
        "typed": {"limit": "600", "name": "Ada", "wait": "45"},
        "secret": {"pw": "sip-pass-long", "name": "Ada"},
        "example": {"customer_name": "Ada", "appointment_time": "Tuesday 3 PM"},
    }
    for name, variables in cases.items():
        composed = profiles[name]
        got = composed.plan.request("+13125550123", variables, "c.csv row 2")
        assert got is not None, name
        assert _shape(got) == _shape(_general(composed, "+13125550123", variables))
    typed = profiles["typed"].plan.request("+13125550123", cases["typed"], "row")
    assert typed.body["Timeout"] == 45 and typed.body["TimeLimit"] == 600
    secret = profiles["secret"].plan.request("+13125550123", cases["secret"], "row")
    assert secret.secret_values() == ["sip-pass-long"]
    # The composed profile itself is never changed by a row.
    assert profiles["plain"].document["call"]["AIAssistantDynamicVariables"]["name"] == (
        "{{ name }}"
    )
