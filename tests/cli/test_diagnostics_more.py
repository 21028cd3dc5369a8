"""Diagnostics (issue 9, item 14): an unclosed quote is reported where it opened, an undeclared
template variable gets a "did you mean", and render's output fed back with -f does not ask again
for variables it already rendered."""

from __future__ import annotations

import pytest

from tests.helpers.core import BASE, make_profiles

REMINDER = ("appointment-reminder", "--to", "+13125550123")
VARS = ("--var", "customer_name=Ada", "--var", "appointment_time=Tuesday 3 PM")


@pytest.mark.parametrize("quote", ['"', "'"])
@pytest.mark.parametrize("command", [("validate",), ("render", "p"), ("run", "p", "--dry-run")])
def test_an_unclosed_quote_is_reported_where_it_opened(cli, tmp_path, quote, command):
    text = f"call:\n  From: {quote}+1312\n  Timeout: 5\n  AIAssistantId: a\n"
    tree = make_profiles(tmp_path / "profiles", {"p": text})
    result = cli(*command, profiles_dir=tree)
    assert result.exit_code == 1
    out = result.stdout + result.stderr
    assert (
        "profiles/p.yaml:2:9: error: YAML syntax error: this quoted string is never closed "
        "(the file ends inside it) [CP001]"
    ) in out


def test_an_undeclared_template_variable_gets_did_you_mean(cli, tmp_path):
    text = (
        "variables:\n  customer_name: {default: Ada}\n" + BASE + "  AIAssistantDynamicVariables:\n"
        '    who: "{{ custmer_name }}"\n'
    )
    tree = make_profiles(tmp_path / "profiles", {"p": text})
    result = cli("render", "p", profiles_dir=tree)
    assert result.exit_code == 1
    assert (
        "template uses variable 'custmer_name', which this profile does not declare; did you "
        "mean 'customer_name'? (else add it under 'variables') [CP202]"
    ) in result.stderr


def test_render_output_fed_back_needs_no_variables(cli, profiles, tmp_path):
    first = cli("render", *REMINDER, *VARS, profiles_dir=profiles)
    assert first.exit_code == 0, first.stderr
    rendered = tmp_path / "rendered.yaml"
    rendered.write_text(first.stdout, encoding="utf-8")
    again = cli("render", "appointment-reminder", "-f", str(rendered), profiles_dir=profiles)
    assert again.exit_code == 0, again.stderr
    assert again.stdout == first.stdout
    dry = cli(
        "run", "appointment-reminder", "-f", str(rendered), "--dry-run", profiles_dir=profiles
    )
    assert dry.exit_code == 0, dry.stderr
    assert '"customer_name": "Ada"' in dry.stdout


def test_a_variable_still_read_by_a_template_is_still_required(cli, profiles, tmp_path):
    first = cli("render", *REMINDER, *VARS, profiles_dir=profiles)
    values = first.stdout.replace("customer_name: Ada", "customer_name: '{{ customer_name }}'")
    assert values != first.stdout
    rendered = tmp_path / "rendered.yaml"
    rendered.write_text(values, encoding="utf-8")
    again = cli("render", "appointment-reminder", "-f", str(rendered), profiles_dir=profiles)
    assert again.exit_code == 1
    assert "required variable 'customer_name' was not given" in again.stderr
    assert "appointment_time" not in again.stderr
