"""Templates (issue 2, "Templates"): sandboxed, strict, data never compiled, typed by the schema,
and every error at the file:line where the template stands."""

from __future__ import annotations

import pytest

from tests.helpers.core import BASE, failed, make_profiles, rendered
from tests.helpers.env import API_KEY


def profile(variables: str = "", call: str = "") -> str:
    """BASE with a ``variables:`` block and extra ``call`` lines (both already indented)."""
    head = f"variables:\n{variables}" if variables else ""
    return head + BASE + call


def one(tmp_path, text: str):
    return make_profiles(tmp_path / "profiles", {"p": text})


def test_undeclared_variable_names_it_and_its_position(cli, tmp_path):
    tree = one(
        tmp_path,
        profile("  name: {}\n", '  AIAssistantDynamicVariables:\n    x: "Hi {{ nmae }}"\n'),
    )
    err = failed(cli, tree, "render", "p")
    # "did you mean", as --var gives (issue 9, item 14)
    assert err.strip() == (
        "profiles/p.yaml:9:8: error: template uses variable 'nmae', which this profile does not "
        "declare; did you mean 'name'? (else add it under 'variables') [CP202]"
    )


def test_undeclared_variable_is_found_by_validate_too(cli, tmp_path):
    tree = one(tmp_path, profile("", '  AIAssistantDynamicVariables:\n    x: "{{ who }}"\n'))
    err = failed(cli, tree, "validate")
    assert "profiles/p.yaml:7:8: error: template uses variable 'who'" in err


def test_required_variable_not_given(cli, tmp_path):
    tree = one(
        tmp_path,
        profile(
            "  first:\n    required: true\n",
            '  AIAssistantDynamicVariables:\n    x: "{{ first }}"\n',
        ),
    )
    err = failed(cli, tree, "render", "p")
    assert err.strip() == (
        "profiles/p.yaml:2:3: error: required variable 'first' was not given "
        "(--var first=...) [CP203]"
    )
    out = rendered(cli, tree, "p", "--var", "first=Ada")
    assert out["call"]["AIAssistantDynamicVariables"] == {"x": "Ada"}


def test_required_variable_declared_in_a_parent_points_into_the_parent(cli, tmp_path):
    tree = make_profiles(
        tmp_path / "profiles",
        {
            "parent": "variables:\n  name: {required: true}\n",
            "child": "extends: parent\n"
            + BASE
            + '  AIAssistantDynamicVariables:\n    x: "{{ name }}"\n',
        },
    )
    err = failed(cli, tree, "render", "child")
    assert err.startswith("profiles/parent.yaml:2:3: error: required variable 'name'")


# (id, call lines, line:col of the error)
SYNTAX = [
    ("single-line", '  AIAssistantDynamicVariables:\n    x: "Hi {{ 1 + }}"\n', "7:8"),
    # Block scalars: template line N is file line (indicator line + N).
    (
        "block-first-line",
        "  AIAssistantDynamicVariables:\n    x: |\n      {{ 1 + }}\n      ok\n",
        "8:1",
    ),
    (
        "block-third-line",
        "  AIAssistantDynamicVariables:\n    x: |\n      one\n      two\n      {% if %}\n",
        "10:1",
    ),
    ("block-keep", "  AIAssistantDynamicVariables:\n    x: |+\n      a\n      {{ ) }}\n\n", "9:1"),
    ("unclosed-block", '  AIAssistantDynamicVariables:\n    x: "{% for a in b %}"\n', "7:8"),
    ("connection-id", "", "1:16"),
]


@pytest.mark.parametrize(("call", "where"), [s[1:] for s in SYNTAX], ids=[s[0] for s in SYNTAX])
def test_template_syntax_error_position(cli, tmp_path, call, where):
    text = profile("", call)
    if not call:
        text = text.replace('connection_id: "conn-1"', 'connection_id: "{{ x"')
    err = failed(cli, one(tmp_path, text), "render", "p")
    assert err.startswith(f"profiles/p.yaml:{where}: error: template syntax error: "), err
    assert err.strip().endswith("[CP201]")


def test_runtime_error(cli, tmp_path):
    tree = one(tmp_path, profile("", '  AIAssistantDynamicVariables:\n    x: "{{ 1 // 0 }}"\n'))
    err = failed(cli, tree, "render", "p")
    assert (
        err.strip() == "profiles/p.yaml:7:8: error: template error: integer division or "
        "modulo by zero [CP204]"
    )


@pytest.mark.parametrize(
    "expression",
    [
        "''.__class__.__mro__",
        "''.__class__.__mro__[1].__subclasses__()",
        "cycler.__init__.__globals__",
        "range.__self__",
        "lipsum.__globals__",
        "self._TemplateReference__context",
        "now.__class__.__init__.__globals__",
    ],
)
def test_sandbox_escape_is_refused(cli, tmp_path, expression):
    tree = one(
        tmp_path, profile("", f'  AIAssistantDynamicVariables:\n    x: "{{{{ {expression} }}}}"\n')
    )
    err = failed(cli, tree, "render", "p")
    if expression.startswith("lipsum"):
        # lipsum is removed from the environment (it builds large text): an unknown name.
        assert err.startswith("profiles/p.yaml:7:8: error: template uses variable 'lipsum'")
        assert "[CP202]" in err
        return
    assert err.startswith("profiles/p.yaml:7:8: error: template error: ")
    assert "[CP204]" in err
    assert "unsafe" in err or "undefined" in err or "has no attribute" in err


@pytest.mark.parametrize(
    "expression", ["'x' * 10000000", "'ab' * 99999999999", "9 ** 9999999", "'x' | center(10**9)"]
)
def test_templates_cannot_build_huge_values(cli, tmp_path, expression):
    tree = one(
        tmp_path, profile("", f'  AIAssistantDynamicVariables:\n    x: "{{{{ {expression} }}}}"\n')
    )
    err = failed(cli, tree, "render", "p")
    assert err.startswith("profiles/p.yaml:7:8: error: template error:")


def test_a_loop_cannot_build_a_huge_value(cli, tmp_path):
    call = (
        "  AIAssistantDynamicVariables:\n"
        '    x: "{% for i in range(100000) %}{{ range(1000)|join }}{% endfor %}"\n'
    )
    err = failed(cli, one(tmp_path, profile("", call)), "render", "p")
    # Loops are refused when the template is parsed: their run time has no useful bound.
    assert "profiles/p.yaml:7:8: error: templates in profiles may not use loops" in err
    assert "[CP201]" in err


def test_env_exposes_only_callprofile_variables(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("TELNYX_API_KEY", API_KEY)
    monkeypatch.setenv("CALLPROFILE_TIER", "gold")
    monkeypatch.setenv("HOME_SECRET", "x")
    ok = one(
        tmp_path,
        profile("", '  AIAssistantDynamicVariables:\n    t: "{{ env.CALLPROFILE_TIER }}"\n'),
    )
    shown = rendered(cli, ok, "p", "--show-secrets")
    assert shown["call"]["AIAssistantDynamicVariables"]["t"] == "gold"
    # A value read from env is treated as a secret in printed output.
    assert rendered(cli, ok, "p")["call"]["AIAssistantDynamicVariables"]["t"] == "***"
    for name in ("TELNYX_API_KEY", "HOME_SECRET"):
        tree = make_profiles(
            tmp_path / name,
            {"p": profile("", f'  AIAssistantDynamicVariables:\n    t: "{{{{ env.{name} }}}}"\n')},
        )
        err = failed(cli, tree, "render", "p")
        # Named in callprofile's words, not Jinja's (issue 9, item 3).
        assert f"templates can read only CALLPROFILE_* environment variables, not {name}" in err
        assert "dict object" not in err


def test_env_listing_shows_nothing_else(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("TELNYX_API_KEY", API_KEY)
    monkeypatch.setenv("CALLPROFILE_A", "1")
    tree = one(
        tmp_path,
        profile("", "  AIAssistantDynamicVariables:\n    t: \"{{ env | list | join(',') }}\"\n"),
    )
    out = rendered(cli, tree, "p", "--show-secrets")
    assert out["call"]["AIAssistantDynamicVariables"]["t"] == "CALLPROFILE_A"


@pytest.mark.parametrize(
    "args",
    [
        ("--var", "name={{ 7*7 }}"),
        ("--vars-file", "vars.yaml"),
    ],
)
def test_values_from_the_command_line_are_data_never_templates(cli, tmp_path, args):
    (tmp_path / "vars.yaml").write_text("name: '{{ 7*7 }}'\n", encoding="utf-8")
    tree = one(
        tmp_path,
        profile("  name: {}\n", '  AIAssistantDynamicVariables:\n    x: "{{ name }}"\n'),
    )
    out = rendered(cli, tree, "p", *args)
    assert out["call"]["AIAssistantDynamicVariables"]["x"] == "{{ 7*7 }}"


def test_set_values_are_data_never_templates(cli, tmp_path):
    tree = one(tmp_path, profile())
    out = rendered(
        cli,
        tree,
        "p",
        "--set",
        "AIAssistantDynamicVariables.x={{ 7*7 }}",
        "--set-json",
        'AIAssistantDynamicVariables.y="{% raw %}{{ 1 }}"',
        "--connection-id",
        "{{ 7*7 }}",
    )
    assert out["call"]["AIAssistantDynamicVariables"] == {
        "x": "{{ 7*7 }}",
        "y": "{% raw %}{{ 1 }}",
    }
    assert out["connection_id"] == "{{ 7*7 }}"


def test_file_values_are_templates_and_keys_never_are(cli, tmp_path):
    tree = one(
        tmp_path,
        profile("", '  AIAssistantDynamicVariables:\n    "{{ k }}": "{{ 6 * 7 }}"\n'),
    )
    out = rendered(cli, tree, "p")
    assert out["call"]["AIAssistantDynamicVariables"] == {"{{ k }}": "42"}


def test_context_holds_to_from_profile_and_now(cli, tmp_path):
    call = (
        "  AIAssistantDynamicVariables:\n"
        '    to: "{{ to }}"\n'
        '    from: "{{ from }}"\n'
        '    profile: "{{ profile }}"\n'
        '    tz: "{{ now.tzinfo }}"\n'
        '    clinic: "{{ clinic }}"\n'
    )
    tree = make_profiles(
        tmp_path / "profiles", {"team/p": profile("  clinic: {default: North}\n", call)}
    )
    out = rendered(cli, tree, "team/p", "--to", "+13125550199", "--from", "+13125550111")
    assert out["call"]["AIAssistantDynamicVariables"] == {
        "to": "+13125550199",
        "from": "+13125550111",
        "profile": "team/p",
        "tz": "UTC",
        "clinic": "North",
    }


def test_templated_to_is_rendered_before_the_fields_that_use_it(cli, tmp_path):
    text = profile("  number: {}\n", '  AIAssistantDynamicVariables:\n    n: "{{ to }}"\n')
    text = text.replace('To: "+13125550100"', 'To: "{{ number }}"')
    tree = one(tmp_path, text)
    out = rendered(cli, tree, "p", "--var", "number=+13125550177")
    assert out["call"]["To"] == "+13125550177"
    assert out["call"]["AIAssistantDynamicVariables"]["n"] == "+13125550177"


@pytest.mark.parametrize(
    ("field", "template", "var", "expected"),
    [
        ("Timeout", "{{ ring }}", "45", 45),
        ("Timeout", " {{ ring }} ", "45", 45),
        ("Record", "{{ ring }}", "true", True),
        ("Record", "{{ ring }}", "false", False),
        ("MachineDetectionTimeout", "{{ ring }}000", "5", 5000),
        ("From", "{{ ring }}", "+13125550100", "+13125550100"),
    ],
)
def test_rendered_value_is_converted_to_the_schema_type(
    cli, tmp_path, field, template, var, expected
):
    text = profile("  ring: {}\n", f'  {field}: "{template}"\n').replace(
        '  From: "+13120001234"\n', "" if field == "From" else '  From: "+13120001234"\n'
    )
    out = rendered(cli, one(tmp_path, text), "p", "--var", f"ring={var}")
    assert out["call"][field] == expected
    assert type(out["call"][field]) is type(expected)


def test_rendered_value_that_does_not_convert(cli, tmp_path):
    tree = one(tmp_path, profile("  ring: {default: '30'}\n", '  Timeout: "{{ ring }}"\n'))
    assert rendered(cli, tree, "p")["call"]["Timeout"] == 30
    err = failed(cli, tree, "render", "p", "--var", "ring=soon")
    assert err.strip() == (
        "profiles/p.yaml:8:12: error: Timeout: the template rendered 'soon', which is not an "
        "integer [CP205]"
    )


def test_rendered_value_out_of_range_names_the_template(cli, tmp_path):
    tree = one(tmp_path, profile("  ring: {default: '30'}\n", '  Timeout: "{{ ring }}"\n'))
    err = failed(cli, tree, "render", "p", "--var", "ring=500")
    assert "profiles/p.yaml:8:12: error: Timeout: 500 is out of range" in err
