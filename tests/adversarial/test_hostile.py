"""Hostile profiles through the command line: each is refused with a clear message, exit 1 (never
3, never a traceback), and with bounded memory. "Quickly" is asserted through the result (the
refusal names the cap that stopped the work), not with a timer."""

from __future__ import annotations

import json
import os
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from tests.helpers.env import API_KEY

MB = 1024 * 1024
# Jinja's first import in the process accounts for a few MB of this; a hostile template that
# got through would need 50 MB or more.
MEMORY_BOUND = 40 * MB


def measured(run: Callable[[], Result]) -> tuple[Result, int]:
    tracemalloc.start()
    try:
        result = run()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return result, peak


def refused(result: Result, *needles: str) -> str:
    shown = result.stdout + result.stderr
    assert result.exit_code == 1, shown
    assert "Traceback" not in shown and "internal error" not in shown, shown
    # Diagnostics go to stderr, except validate's findings, which are its output (stdout).
    where = result.stdout if result.stdout.strip() and "error:" in result.stdout else result.stderr
    assert ": error: " in where, shown
    for needle in needles:
        assert needle in where, shown
    return where


def template_profile(template: str) -> str:
    # A block scalar holds any template text without YAML quoting getting in the way.
    indented = "\n".join("      " + line for line in template.split("\n"))
    return (
        'connection_id: "1234567890"\n'
        "call:\n"
        '  From: "+13120001234"\n'
        '  To: "+13125550123"\n'
        "  AIAssistantId: assistant-1\n"
        "  AIAssistantDynamicVariables:\n"
        "    value: |-\n"
        f"{indented}\n"
    )


ESCAPES = {
    "class walk": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "cycler globals": "{{ cycler.__init__.__globals__.os.getcwd() }}",
    "joiner globals": "{{ joiner.__init__.__globals__['os'].getpid() }}",
    "lipsum globals": "{{ lipsum.__globals__['os'].getpid() }}",
    "attr filter": "{{ ''|attr('__class__') }}",
    "attr format": "{{ ''|attr('format') }}{{ ('{0.__class__}'|attr('format'))(1) }}",
    "format attribute": "{{ '{0.__class__}'.format(1) }}",
    "format_map": "{{ '{x.__class__}'.format_map({'x': 1}) }}",
    "stored format": "{% set f = '{0.__globals__}'.format %}{{ f(cycler.__init__) }}",
    "now internals": "{{ now.__class__.__mro__ }}",
    "self globals": "{{ self.__init__.__globals__ }}",
    "env dunder": "{{ env.__class__.__subclasses__() }}",
}


@pytest.mark.parametrize("template", list(ESCAPES.values()), ids=list(ESCAPES))
def test_sandbox_escapes_are_refused(cli, write, tmp_path, template):
    write("profiles/evil.yaml", template_profile(template))
    result, peak = measured(lambda: cli("render", "evil", profiles_dir=tmp_path / "profiles"))
    stderr = refused(result, "evil.yaml:")
    assert "[CP20" in stderr, stderr
    assert os.getcwd() not in result.stdout and str(os.getpid()) not in result.stdout
    assert peak < MEMORY_BOUND


BLOW_UPS = {
    # name: (template, words the refusal must contain)
    "range 10**9": ("{{ range(10**9)|length }}", "MAX_RANGE (100000)"),
    "50 MB by *": ("{{ 'x' * 50000000 }}", "value over 100000 characters"),
    "50 MB by * twice": ("{{ 'x' * 10000 * 5000 }}", "value over 100000 characters"),
    "50 MB by power": ("{{ 'x' * 10 ** 8 }}", "value over 100000 characters"),
    "50 MB by replace": ("{{ ('x' * 99999)|replace('x', 'x' * 500) }}", "over 100000 characters"),
    "50 MB by str.replace": (
        "{{ ('x' * 99999).replace('x', 'x' * 500) }}",
        "over 100000 characters",
    ),
    "50 MB by join": ("{{ ('x' * 99999)|join('y' * 500) }}", "over 100000 characters"),
    "50 MB by str.join": ("{{ ('y' * 500).join('x' * 99999) }}", "over 100000 characters"),
    "50 MB by indent": ("{{ ('\\n' * 99999)|indent('x' * 500) }}", "over 100000 characters"),
    "50 MB by wordwrap": ("{{ ('x' * 99999)|wordwrap(1, wrapstring='y' * 500) }}", "over 100000"),
    "50 MB by center": ("{{ 'x'|center(50000000) }}", "larger than"),
    "50 MB by ljust": ("{{ 'x'.ljust(50000000) }}", "larger than"),
    "50 MB by % width": ("{{ '%50000000s' % 'x' }}", "format width"),
    "50 MB by % star": ("{{ '%*s' % (50000000, 'x') }}", "larger than"),
    "50 MB by format filter": ("{{ '%50000000s'|format('x') }}", "format width"),
    "50 MB by str.format": ("{{ '{:>50000000}'.format('x') }}", "format width"),
    "50 MB by nested width": ("{{ '{:{w}}'.format('x', w=50000000) }}", "larger than"),
    "lipsum": ("{{ lipsum(100000) }}", "lipsum"),
    "nested loops": (
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "loops",
    ),
    "recursive macro": ("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "macros"),
    "recursive block": ("{% block a %}{{ self.a() }}{% endblock %}", "blocks"),
    "deep parentheses": ("{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}", "nested too deeply"),
    "int power": ("{{ (10 ** 64) ** 64 }}", "too large"),
    "int power 2": ("{{ 2 ** 100000 }}", "too large"),
}


@pytest.mark.parametrize("case", list(BLOW_UPS.values()), ids=list(BLOW_UPS))
def test_templates_cannot_build_huge_values_or_loop(cli, write, tmp_path, case):
    template, needle = case
    write("profiles/evil.yaml", template_profile(template))
    result, peak = measured(lambda: cli("render", "evil", profiles_dir=tmp_path / "profiles"))
    refused(result, "evil.yaml:", needle)
    assert peak < MEMORY_BOUND


def test_everyday_template_features_still_work(cli, write, tmp_path):
    """The guards refuse sizes, not features: filters, conditionals and formatting work."""
    template = (
        "{{ 'ada lovelace'|title }} {{ '%.2f'|format(3.14159) }} {{ 'x' * 3 }} "
        "{% if 2 > 1 %}yes{% endif %} {{ ['a', 'b']|join(', ') }} {{ 'a-b'.replace('-', '+') }} "
        "{{ 'hello world foo'|truncate(9) }} {{ '{}!'.format('hi') }} {{ range(3)|list|length }} "
        "{{ 'hello world'|wordwrap(5) }} {{ now.strftime('%Y')|length }} "
        # Large numbers as values (not sizes) are fine.
        "{{ '%d'|format(1234567) }} {{ '{}'.format(2345678) }} {{ '%d' % 3456789 }} "
        "{{ missing|default(4567890) }} {{ '{a}'.format_map({'a': 5678901}) }}"
    )
    write(
        "profiles/ok.yaml",
        template_profile(template).replace("call:", "variables:\n  missing: {}\ncall:"),
    )
    result = cli("render", "ok", "-o", "json", profiles_dir=tmp_path / "profiles")
    assert result.exit_code == 0, result.stderr
    value = json.loads(result.stdout)["call"]["AIAssistantDynamicVariables"]["value"]
    assert value == (
        "Ada Lovelace 3.14 xxx yes a, b a+b hello... hi! 3 hello\nworld 4 "
        "1234567 2345678 3456789 4567890 5678901"
    )


def test_env_never_exposes_the_api_key(cli, write, tmp_path, monkeypatch):
    monkeypatch.setenv("TELNYX_API_KEY", API_KEY)
    monkeypatch.setenv("CALLPROFILE_REGION", "us")
    write("profiles/evil.yaml", template_profile("{{ env.TELNYX_API_KEY }}"))
    result = cli("render", "evil", profiles_dir=tmp_path / "profiles")
    refused(result, "TELNYX_API_KEY", "[CP204]")
    # Even the whole env mapping, printed with --show-secrets, holds only CALLPROFILE_* names.
    write("profiles/all.yaml", template_profile("{{ env }}"))
    result = cli(
        "render", "all", "--show-secrets", "-o", "json", profiles_dir=tmp_path / "profiles"
    )
    assert result.exit_code == 0, result.stderr
    assert "CALLPROFILE_REGION" in result.stdout and API_KEY not in result.stdout
    assert "TELNYX" not in result.stdout


def test_yaml_alias_bomb_is_refused(cli, write, tmp_path):
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for n, name in enumerate("bcdefghi"):
        prev = "abcdefghi"[n]
        lines.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]")
    write("profiles/bomb.yaml", "\n".join(lines) + "\n")
    result, peak = measured(lambda: cli("render", "bomb", profiles_dir=tmp_path / "profiles"))
    refused(result, "bomb.yaml:1:", "anchors", "[CP003]")
    assert peak < 5 * MB


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        # libyaml stops flow collections itself; our cap (64) stops the rest.
        ("call:\n  AIAssistantDynamicVariables:\n    x: " + "[" * 5000 + "]" * 5000, "nesting"),
        ("call: " + "{a: " * 5000 + "1" + "}" * 5000 + "\n", "nesting deeper than 64"),
        ("".join(" " * i + "k:\n" for i in range(200)), "nesting deeper than 64"),
        # 5,000 block levels need 12 MB of indentation: refused by size before parsing.
        ("".join(" " * i + "k:\n" for i in range(5000)), "limited to 1000000 bytes"),
    ],
    ids=["flow sequences", "flow mappings", "block mappings", "block mappings 5000"],
)
def test_five_thousand_levels_of_nesting_are_refused(cli, write, tmp_path, text, needle):
    write("profiles/deep.yaml", text)
    result, peak = measured(lambda: cli("validate", profiles_dir=tmp_path / "profiles"))
    refused(result, "deep.yaml:", needle)
    assert peak < 5 * MB


def test_a_50_megabyte_file_is_refused_without_reading_it(cli, write, tmp_path):
    path = tmp_path / "profiles" / "huge.yaml"
    path.parent.mkdir(parents=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("call:\n  AIAssistantId: ")
        chunk = "x" * MB
        for _ in range(50):
            fh.write(chunk)
    result, peak = measured(lambda: cli("render", "huge", profiles_dir=tmp_path / "profiles"))
    refused(result, "huge.yaml", "[CP004]")
    assert peak < 10 * MB


@pytest.mark.parametrize(
    "name",
    ["../etc/passwd", "../../outside", "a/../../b", "/etc/passwd", "..", "a\\..\\b", "a/./b"],
)
def test_profile_names_cannot_leave_the_directory(cli, profiles, tmp_path, name):
    (tmp_path / "outside.yaml").write_text("call: {AIAssistantId: stolen}\n", encoding="utf-8")
    for command in (["render", name], ["run", name, "--dry-run"]):
        result = cli(*command, profiles_dir=profiles)
        refused(result, "invalid profile name", "[CP010]")
        assert "stolen" not in result.stdout


def test_extends_cannot_leave_the_directory(cli, write, tmp_path):
    write("outside.yaml", "call: {AIAssistantId: stolen}\n")
    write("profiles/evil.yaml", "extends: ../outside\ncall: {To: '+13125550123'}\n")
    result = cli("render", "evil", profiles_dir=tmp_path / "profiles")
    refused(result, "evil.yaml:1:")
    assert "stolen" not in result.stdout


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    target = tmp_path / "outside"
    target.mkdir()
    (target / "secret.yaml").write_text(
        'connection_id: "1"\ncall: {From: "+13120001234", To: "+13125550123", '
        "AIAssistantId: stolen}\n",
        encoding="utf-8",
    )
    return target


def test_a_symlinked_file_leaving_the_directory_is_refused(cli, profiles, outside):
    (profiles / "evil.yaml").symlink_to(outside / "secret.yaml")
    result = cli("render", "evil", profiles_dir=profiles)
    refused(result, "outside the profiles directory", "[CP010]")
    assert "stolen" not in result.stdout


def test_a_symlinked_directory_leaving_the_directory_is_refused(cli, profiles, outside):
    (profiles / "linked").symlink_to(outside, target_is_directory=True)
    result = cli("render", "linked/secret", profiles_dir=profiles)
    refused(result, "outside the profiles directory", "[CP010]")
    assert "stolen" not in result.stdout
    # Nor does it appear in listings or in a whole-directory validate.
    listing = cli("list", profiles_dir=profiles)
    assert "linked/secret" not in listing.stdout
    checked = cli("validate", profiles_dir=profiles)
    assert "linked/secret" not in checked.stdout + checked.stderr


def test_extends_through_a_symlink_is_refused(cli, profiles, outside):
    (profiles / "evil.yaml").symlink_to(outside / "secret.yaml")
    (profiles / "child.yaml").write_text("extends: evil\n", encoding="utf-8")
    result = cli("render", "child", profiles_dir=profiles)
    refused(result, "child.yaml:1:", "outside the profiles directory")
    assert "stolen" not in result.stdout


BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"


@pytest.mark.parametrize("flag", ["-f", "--vars-file"])
def test_alias_bombs_in_values_and_vars_files_are_refused(cli, profiles, tmp_path, flag):
    (tmp_path / "bomb.yaml").write_text(BOMB, encoding="utf-8")
    args = ["render", "appointment-reminder", "--to", "+13125550123", flag, "bomb.yaml"]
    args += ["--var", "customer_name=Ada", "--var", "appointment_time=noon"]
    result = cli(*args, profiles_dir=profiles)
    refused(result, "bomb.yaml:1:", "[CP003]")


def test_values_from_flags_are_data_never_templates(cli, profiles):
    payload = "{{ 7 * 7 }}{{ ''.__class__ }}"
    result = cli(
        "render",
        "appointment-reminder",
        "-o",
        "json",
        "--to",
        "+13125550123",
        "--var",
        f"customer_name={payload}",
        "--var",
        "appointment_time={% for i in range(9) %}x{% endfor %}",
        "--set",
        f"AIAssistantVersion={payload}",
        profiles_dir=profiles,
    )
    assert result.exit_code == 0, result.stderr
    call = json.loads(result.stdout)["call"]
    assert call["AIAssistantVersion"] == payload
    assert call["AIAssistantDynamicVariables"]["customer_name"] == payload
    assert call["AIAssistantDynamicVariables"]["appointment_time"].startswith("{% for")
