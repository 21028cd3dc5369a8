"""Templates render within a budget (issue 10, Broken 4 and 6): whatever a template does, the
values it builds, its work and its time are bounded, the refusal names the cap and the
template's file:line, and peak memory stays within 40 MB of an ordinary run. Memory is read
from the operating system (ru_maxrss of a child process), not from tracemalloc, and compared
with a baseline run; nothing here is timed."""

from __future__ import annotations

import sys

import pytest

from tests.helpers.peak import peak_of

MB = 1024  # ru_maxrss is in KiB on Linux
BOUND = 40 * MB

# Each builds gigabytes or runs for hours without the budget (issue 10 lists the first six).
HOSTILE = {
    "doubling with ~": "{% set a = 'x' %}" + "{% set a = a ~ a %}" * 40 + "{{ a|length }}",
    "doubling with +": "{% set a = 'x' %}" + "{% set a = a + a %}" * 40 + "{{ a|length }}",
    "doubling a list": "{% set a = [1] %}" + "{% set a = a + a %}" * 40 + "{{ a|length }}",
    "map center": "{{ range(3000)|map('center', 100000)|list|length }}",
    "tojson indent": "{{ range(1000)|list|tojson(99999)|length }}",
    "expandtabs": "{{ ('\\t' * 100000).expandtabs(100000)|length }}",
    "translate": "{{ ('x' * 100000).translate({120: 'y' * 100000})|length }}",
    "squaring": "{% set n = ('9' * 4000)|int %}{% set n = n * n %}{% set n = n * n %}{{ n }}",
    "map urlize": "{{ (['a.co ' * 20000] * 100)|map('urlize')|map('urlize')|list|length }}",
    "references joined": "{% set a = 'x' * 99999 %}{{ [a, a, a, a, a, a, a, a]|join|length }}",
    "repeated format field": "{% set a = 'x' * 99999 %}{{ ('{0}' * 1000).format(a)|length }}",
    "repeated % field": "{% set a = 'x' * 99999 %}{{ ('%(a)s' * 1000) % {'a': a} }}",
    "sum of lists": "{{ ([[1]] * 100000)|sum(start=[])|length }}",
    "block capture": "{% set a = 'x' * 99999 %}{% set b %}" + "{{ a }}" * 60 + "{% endset %}",
    "groupby default": "{{ range(100000)|groupby(99999, 'x' * 99999)|list }}",
    "many maps": "{{ range(100000)" + "|map('abs')" * 40 + "|list|length }}",
    "in over references": "{% set a = 'x' * 99999 %}{{ a ~ 'y' in [a] * 5000 }}",
    "strftime": "{{ now.strftime('%c' * 50000)|length }}",
    "from_bytes": "{{ (1).from_bytes(('x' * 100000).encode(), 'big') }}",
    "indent width": "{{ ('\\n' * 99999)|indent(99999)|length }}",
    "slices": "{% set a = 'x' * 99999 %}{{ (a[1:] ~ a[2:])|length }}",
}

# Each raised an exception that ended in "internal error" (exit 3).
ERRORS = {
    "format index": "{{ '{0}'.format() }}",
    "format key": "{{ '{a}'.format() }}",
    "percent key": "{{ '%(a)s' % {} }}",
    "unknown encoding": "{{ 'x'.encode('nope') }}",
    "truncate below its end": "{{ 'x'|truncate(2) }}",
    "float overflow": "{{ 10.0 ** 400 }}",
}


def template_profile(template: str) -> str:
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


@pytest.mark.parametrize("template", list(HOSTILE.values()), ids=list(HOSTILE))
def test_a_template_cannot_build_huge_values_or_run_long(cli, write, tmp_path, template):
    write("profiles/evil.yaml", template_profile(template))
    result = cli("render", "evil", profiles_dir=tmp_path / "profiles")
    assert result.exit_code == 1, (result.exit_code, result.stdout[:200], result.stderr)
    assert "profiles/evil.yaml:8:1: error: template" in result.stderr, result.stderr
    assert "[CP220]" in result.stderr or "[CP221]" in result.stderr, result.stderr


@pytest.mark.parametrize("template", list(ERRORS.values()), ids=list(ERRORS))
def test_a_template_that_raises_is_a_diagnostic(cli, write, tmp_path, template):
    write("profiles/evil.yaml", template_profile(template))
    for args in (["render", "evil"], ["validate"]):
        result = cli(*args, profiles_dir=tmp_path / "profiles")
        assert result.exit_code == 1, result.stderr
        shown = result.stdout + result.stderr
        assert "evil.yaml:8:1: error: template error: " in shown and "[CP204]" in shown, shown
        assert "internal error" not in shown


def test_the_line_inside_a_template_is_reported(cli, write, tmp_path):
    write("profiles/evil.yaml", template_profile("fine\n{{ 'a' }}\n{{ 'x' * 99999 ~ 'x' * 99 }}"))
    result = cli("render", "evil", profiles_dir=tmp_path / "profiles")
    assert "profiles/evil.yaml:10:1: error: template builds a value over 100000" in result.stderr


def test_a_variable_longer_than_the_cap_is_refused_where_it_was_given(cli, profiles):
    result = cli(
        "render",
        "appointment-reminder",
        "--to",
        "+13125550123",
        "--var",
        "customer_name=" + "x" * 100_001,
        "--var",
        "appointment_time=noon",
        profiles_dir=profiles,
    )
    assert result.exit_code == 1
    assert "--var customer_name=...: error: the value for variable 'customer_name' is 100001" in (
        result.stderr
    )
    assert "[CP222]" in result.stderr


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss in KiB")
def test_peak_memory_stays_bounded_for_every_hostile_template(tmp_path):
    benign = tmp_path / "benign"
    benign.mkdir()
    (benign / "ok.yaml").write_text(
        template_profile("{{ 'ada'|title }} {{ ['a', 'b']|join(', ') }} {{ '%d' % 42 }}"),
        encoding="utf-8",
    )
    hostile = tmp_path / "hostile"
    hostile.mkdir()
    for i, template in enumerate([*HOSTILE.values(), *ERRORS.values()]):
        (hostile / f"evil-{i:02d}.yaml").write_text(template_profile(template), encoding="utf-8")

    code, baseline, output = peak_of(tmp_path, benign, "validate", "--no-lint")
    assert code == 0, output
    code, peak, output = peak_of(tmp_path, hostile, "validate", "--no-lint")
    assert code == 1, output
    assert "internal error" not in output and "Traceback" not in output
    for i in range(len(HOSTILE) + len(ERRORS)):
        assert f"evil-{i:02d}.yaml:8:1: error: template" in output, (i, output)
    assert peak - baseline < BOUND, (peak, baseline)
