"""Compose once, render per call (runner.flow.compose / runner.flow.request), through the
library API: a composed profile gives any number of calls, each independent of the others."""

from __future__ import annotations

import pytest

from runner import codes
from runner.diagnostics import ProfileError
from runner.flow.compose import compose
from runner.profiles.overrides import Overrides, SetValue, VariableValue
from runner.profiles.store import Store
from tests.helpers.core import BASE, make_profiles, write_file
from tests.helpers.env import EXAMPLE_PROFILES

GREETING = (
    "variables:\n"
    "  name: {required: true}\n"
    "  clinic: {default: Northside}\n"
    + BASE
    + "  AIAssistantDynamicVariables:\n"
    + '    greeting: "Hello {{ name }} from {{ clinic }}, calling {{ to }}"\n'
    + '    shout: "{{ name | upper }}"\n'
)


@pytest.fixture
def tree(tmp_path):
    return make_profiles(tmp_path / "profiles", {"p": GREETING})


def test_one_composition_renders_many_independent_calls(tree):
    composed = compose(Store(tree), "p")
    first = composed.request(to="+13125550111", variables={"name": "Ada"})
    second = composed.request(to="+13125550122", variables={"name": "Grace", "clinic": "East"})
    third = composed.request(variables={"name": "Linus"})
    assert first.body["To"] == "+13125550111"
    assert first.body["AIAssistantDynamicVariables"] == {
        "greeting": "Hello Ada from Northside, calling +13125550111",
        "shout": "ADA",
    }
    assert second.body["AIAssistantDynamicVariables"]["greeting"] == (
        "Hello Grace from East, calling +13125550122"
    )
    # The profile's own To, untouched by the calls before.
    assert third.body["To"] == "+13125550100"
    assert third.body["AIAssistantDynamicVariables"]["shout"] == "LINUS"
    assert first.body["AIAssistantDynamicVariables"]["shout"] == "ADA"  # not overwritten
    assert composed.document["call"]["To"] == "+13125550100"
    assert composed.document["call"]["AIAssistantDynamicVariables"]["shout"] == (
        "{{ name | upper }}"
    )


def test_a_call_s_number_has_its_own_origin_and_leaves_the_next_call_alone(tree):
    composed = compose(Store(tree), "p")
    row = composed.request(to="+13125550111", variables={"name": "Ada"}, origin="c.csv row 2")
    assert row.origin(("To",)) == "c.csv row 2"
    plain = composed.request(variables={"name": "Ada"})
    assert plain.origin(("To",)).endswith("p.yaml:7:7")
    assert [layer.label for layer in row.history(("To",))][-1] == "c.csv row 2"
    assert len(plain.history(("To",))) == 1


def test_templates_are_compiled_once_and_reused_by_every_call(tree):
    composed = compose(Store(tree), "p")
    templates = composed.templates
    composed.request(variables={"name": "Ada"})
    jinja = [t for t in templates if t.parts is None]
    assert [t.path for t in jinja] == [("call", "AIAssistantDynamicVariables", "shout")]
    compiled = jinja[0].compiled
    assert compiled is not None
    for name in ("Grace", "Linus"):
        composed.request(variables={"name": name})
    assert composed.templates is templates
    assert jinja[0].compiled is compiled


def test_call_values_win_over_the_overrides_and_undeclared_ones_are_ignored(tree):
    overrides = Overrides(vars=[VariableValue("name", "FromOverrides")])
    composed = compose(Store(tree), "p", overrides)
    assert composed.request().body["AIAssistantDynamicVariables"]["shout"] == "FROMOVERRIDES"
    body = composed.request(variables={"name": "Row", "note": "an extra column"}).body
    assert body["AIAssistantDynamicVariables"]["shout"] == "ROW"


def test_a_missing_variable_is_structured_and_names_no_flag(tree):
    composed = compose(Store(tree), "p")
    with pytest.raises(ProfileError) as caught:
        composed.request()
    (diag,) = caught.value.diagnostics
    assert diag.code == codes.REQUIRED_VARIABLE
    assert (diag.variable, diag.absent) == ("name", True)
    assert diag.message == "required variable 'name' was not given"
    assert diag.where.endswith("p.yaml:2:3")


def test_an_undeclared_variable_from_the_overrides_is_reported_with_its_origin(tree):
    overrides = Overrides(vars=[VariableValue("nmae", "Ada", origin="my config")])
    composed = compose(Store(tree), "p", overrides)
    with pytest.raises(ProfileError) as caught:
        composed.request(variables={"name": "Ada"})
    (diag,) = caught.value.diagnostics
    assert (diag.code, diag.variable, diag.origin) == (codes.UNKNOWN_VARIABLE, "nmae", "my config")
    assert "did you mean 'name'?" in diag.message


def test_missing_fields_are_structured_and_name_no_flag(tmp_path):
    tree = make_profiles(tmp_path / "profiles", {"p": "call:\n  AIAssistantId: a-1\n"})
    with pytest.raises(ProfileError) as caught:
        compose(Store(tree), "p").request()
    found = {(d.code, d.field, d.absent) for d in caught.value.diagnostics}
    assert found == {
        (codes.REQUEST_SCHEMA, "To", True),
        (codes.REQUEST_SCHEMA, "From", True),
        (codes.NO_CONNECTION, "connection_id", True),
    }
    assert not any("--" in d.message for d in caught.value.diagnostics)


def test_typed_sets_apply_in_order_with_their_origin(tree):
    overrides = Overrides(
        sets=[
            SetValue(("Timeout",), 30, origin="first"),
            SetValue(("Timeout",), 45),
            SetValue(("AIAssistantDynamicVariables", "extra"), "x"),
        ],
        to="+13125550199",
        origins={"to": "the number flag"},
    )
    request = compose(Store(tree), "p", overrides).request(variables={"name": "Ada"})
    assert request.body["Timeout"] == 45
    assert request.origin(("Timeout",)) == "set Timeout"
    assert [layer.label for layer in request.history(("Timeout",))] == ["first", "set Timeout"]
    assert request.body["AIAssistantDynamicVariables"]["extra"] == "x"
    assert request.origin(("To",)) == "the number flag"


def test_values_and_vars_files_are_read_when_composing(tmp_path, tree):
    values = write_file(tmp_path / "values.yaml", "call:\n  Timeout: 50\n")
    variables = write_file(tmp_path / "vars.yaml", "name: FromFile\n")
    composed = compose(Store(tree), "p", Overrides(values_files=[values], vars_files=[variables]))
    (tmp_path / "values.yaml").write_text("call: [broken\n", encoding="utf-8")
    (tmp_path / "vars.yaml").unlink()
    request = composed.request()  # nothing is read again
    assert request.body["Timeout"] == 50
    assert request.body["AIAssistantDynamicVariables"]["shout"] == "FROMFILE"


def test_compose_refuses_what_no_call_could_fix(tmp_path):
    tree = make_profiles(tmp_path / "profiles", {"frag": "abstract: true\ncall:\n  Timeout: 20\n"})
    with pytest.raises(ProfileError) as caught:
        compose(Store(tree), "frag")
    assert [d.code for d in caught.value.diagnostics] == [codes.ABSTRACT]
    with pytest.raises(ProfileError) as caught:
        compose(Store(tree), "missing")
    assert [d.code for d in caught.value.diagnostics] == [codes.NO_PROFILE]
    bad = write_file(tmp_path / "values.yaml", "variables: {}\n")
    with pytest.raises(ProfileError) as caught:
        compose(Store(tree), "frag", Overrides(values_files=[bad]), allow_abstract=True)
    assert [d.code for d in caught.value.diagnostics] == [codes.UNKNOWN_FIELD]


def test_a_call_s_number_replaces_a_broken_template_it_would_never_use(tmp_path):
    text = BASE.replace('To: "+13125550100"', 'To: "{{ 1 + }}"')
    tree = make_profiles(tmp_path / "profiles", {"p": text})
    composed = compose(Store(tree), "p")
    assert composed.request(to="+13125550111").body["To"] == "+13125550111"
    with pytest.raises(ProfileError) as caught:
        composed.request()
    assert [d.code for d in caught.value.diagnostics] == [codes.TEMPLATE_SYNTAX]


def test_a_profiles_directory_path_is_enough(tmp_path):
    request = compose(EXAMPLE_PROFILES, "appointment-reminder").request(
        to="+13125550123", variables={"customer_name": "Ada", "appointment_time": "noon"}
    )
    assert request.body["AIAssistantDynamicVariables"]["clinic"] == "Northside"
    assert request.profile == "appointment-reminder"


def test_the_connection_id_default_applies_only_when_nothing_sets_one(tmp_path, monkeypatch):
    text = BASE.replace('connection_id: "conn-1"\n', "")
    tree = make_profiles(tmp_path / "profiles", {"p": text, "q": BASE})
    monkeypatch.setenv("TELNYX_CONNECTION_ID", "from-env")
    assert compose(Store(tree), "p").request().connection_id == "from-env"
    assert compose(Store(tree), "p", default_connection_id="given").request().connection_id == (
        "given"
    )
    assert compose(Store(tree), "q", default_connection_id="given").request().connection_id == (
        "conn-1"
    )
