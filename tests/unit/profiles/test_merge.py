"""Merge rules and layer precedence (issue 2, "Composition and overrides").

The rules are checked twice: table-driven on ``runner.profiles.merge.merge`` (the library surface,
where inputs can be shown to stay unmodified), and end to end through ``render -o json``.
"""

from __future__ import annotations

import copy
import json

import pytest

from runner.profiles.merge import Layer, merge
from tests.helpers.core import BASE, failed, make_profiles, rendered, write_file

# (rule, lower layer, upper layer, expected result)
MERGE_RULES = [
    (
        "mappings merge recursively",
        {"m": {"a": 1, "n": {"x": 1}}},
        {"m": {"b": 2, "n": {"y": 2}}},
        {"m": {"a": 1, "b": 2, "n": {"x": 1, "y": 2}}},
    ),
    ("lists replace, never concatenate", {"l": [1, 2, 3]}, {"l": [9]}, {"l": [9]}),
    ("an empty list replaces too", {"l": [1, 2]}, {"l": []}, {"l": []}),
    ("scalars replace", {"s": "old", "k": 1}, {"s": "new"}, {"s": "new", "k": 1}),
    ("explicit null removes the key", {"a": 1, "b": 2}, {"a": None}, {"b": 2}),
    (
        "nested null removes a nested key",
        {"m": {"a": 1, "b": 2}},
        {"m": {"a": None}},
        {"m": {"b": 2}},
    ),
    ("null for a key that is absent is a no-op", {"a": 1}, {"zz": None}, {"a": 1}),
    (
        "a nested null inside a new mapping is dropped",
        {},
        {"m": {"a": 1, "b": None}},
        {"m": {"a": 1}},
    ),
    (
        "nulls inside a new mapping are dropped at any depth",
        {"x": 1},
        {"m": {"n": {"a": None, "b": 2}}},
        {"x": 1, "m": {"n": {"b": 2}}},
    ),
    (
        "mapping replaced by scalar: nothing of the mapping stays",
        {"m": {"a": 1}},
        {"m": 5},
        {"m": 5},
    ),
    (
        "scalar replaced by mapping: the mapping stands alone",
        {"m": 5},
        {"m": {"a": 1, "b": None}},
        {"m": {"a": 1}},
    ),
    ("mapping replaced by list", {"m": {"a": 1}}, {"m": [1]}, {"m": [1]}),
    ("list replaced by mapping", {"m": [1]}, {"m": {"a": 1}}, {"m": {"a": 1}}),
    ("empty mapping merges as no change", {"m": {"a": 1}}, {"m": {}}, {"m": {"a": 1}}),
]


@pytest.mark.parametrize(
    ("lower", "upper", "expected"),
    [case[1:] for case in MERGE_RULES],
    ids=[case[0] for case in MERGE_RULES],
)
def test_merge_rule(lower, upper, expected):
    lower_before, upper_before = copy.deepcopy(lower), copy.deepcopy(upper)
    prov: dict = {}
    first = merge({}, Layer("lower", lower), prov)
    result = merge(first, Layer("upper", upper), prov)
    assert result == expected
    # Inputs are never mutated: not the layers' data, not the document merged onto.
    assert lower == lower_before
    assert upper == upper_before
    assert first == {k: v for k, v in _strip(lower_before).items()}


def _strip(value):
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if v is not None}
    return value


def test_provenance_names_the_layer_that_won_and_forgets_removed_keys():
    prov: dict = {}
    low, high = Layer("low", {"m": {"a": 1, "b": 1}}), Layer("high", {"m": {"a": 2, "b": None}})
    merge(merge({}, low, prov), high, prov)
    assert [layer.label for layer in prov[("m", "a")]] == ["low", "high"]
    assert ("m", "b") not in prov


# ---- the same rules end to end, through render ----------------------------------------------

PARENT = (
    BASE
    + """\
  Timeout: 30
  AIAssistantDynamicVariables:
    keep: parent
    drop: parent
    over: parent
  CustomHeaders:
    - {name: X-One, value: "1"}
    - {name: X-Two, value: "2"}
"""
)


@pytest.fixture
def tree(tmp_path):
    return make_profiles(
        tmp_path / "profiles",
        {
            "parent": PARENT,
            "child": """\
                extends: parent
                call:
                  Timeout: 45
                  AIAssistantDynamicVariables:
                    drop: null
                    over: child
                    added: child
                  CustomHeaders:
                    - {name: X-Three, value: "3"}
                """,
        },
    )


def test_rules_through_render(cli, tree):
    call = rendered(cli, tree, "child")["call"]
    assert call["Timeout"] == 45  # scalar replaced
    assert call["AIAssistantDynamicVariables"] == {  # merged; null removed
        "keep": "parent",
        "over": "child",
        "added": "child",
    }
    assert call["CustomHeaders"] == [{"name": "X-Three", "value": "3"}]  # list replaced
    assert call["From"] == "+13120001234"  # untouched keys inherited


def test_null_in_a_values_file_removes_an_inherited_field(cli, tree, tmp_path):
    values = write_file(tmp_path / "v.yaml", "call:\n  Timeout: null\n  CustomHeaders: null\n")
    call = rendered(cli, tree, "child", "-f", values)["call"]
    assert "Timeout" not in call
    assert "CustomHeaders" not in call


def test_set_json_null_removes_a_nested_key(cli, tree):
    call = rendered(cli, tree, "child", "--set-json", "AIAssistantDynamicVariables.keep=null")[
        "call"
    ]
    assert call["AIAssistantDynamicVariables"] == {"over": "child", "added": "child"}


def test_type_change_mapping_to_scalar_replaces_the_whole_mapping(cli, tree):
    """A scalar over a mapping replaces it whole; a mapping laid over that scalar later starts
    from nothing (no key of the original mapping comes back)."""
    err = failed(cli, tree, "render", "child", "--set-json", 'AIAssistantDynamicVariables="flat"')
    assert "AIAssistantDynamicVariables: expected an object, got string 'flat'" in err
    assert '--set-json AIAssistantDynamicVariables="flat"' in err  # the layer that set it
    call = rendered(
        cli,
        tree,
        "child",
        "--set-json",
        'AIAssistantDynamicVariables="flat"',
        "--set-json",
        'AIAssistantDynamicVariables={"fresh": "1", "gone": null}',
    )["call"]
    assert call["AIAssistantDynamicVariables"] == {"fresh": "1"}


def test_type_change_scalar_to_mapping_is_reported_with_the_flag(cli, tree):
    err = failed(cli, tree, "render", "child", "--set-json", 'Timeout={"a": 1}')
    assert "Timeout: expected an integer, got object" in err
    assert "--set-json Timeout=" in err


# ---- precedence of layers --------------------------------------------------------------------


ROOT_EXTRA = """\
  AIAssistantDynamicVariables:
    who: root
    root_only: root
    left_vs_root: root
"""


@pytest.fixture
def layered(tmp_path):
    """A diamond: top extends [left, right]; both extend root. Each sets who=<its name>."""
    root = make_profiles(
        tmp_path / "profiles",
        {
            "root": BASE + ROOT_EXTRA,
            "left": """\
                extends: root
                call:
                  AIAssistantDynamicVariables:
                    who: left
                    left_vs_root: left
                    left_vs_right: left
                """,
            "right": """\
                extends: [root]
                call:
                  AIAssistantDynamicVariables:
                    who: right
                    left_vs_right: right
                """,
            "top": """\
                extends: [left, right]
                call:
                  AIAssistantDynamicVariables:
                    who: top
                """,
            "top-no-own": "extends: [left, right]\n",
        },
    )
    write_file(tmp_path / "v1.yaml", "call:\n  AIAssistantDynamicVariables: {who: v1, v: v1}\n")
    write_file(tmp_path / "v2.yaml", "call:\n  AIAssistantDynamicVariables: {who: v2}\n")
    return root


def _dv(cli, profiles, name, *args):
    return rendered(cli, profiles, name, *args)["call"]["AIAssistantDynamicVariables"]


def test_extends_depth_first_left_to_right_with_diamond(cli, layered):
    dv = _dv(cli, layered, "top-no-own")
    assert dv["root_only"] == "root"
    # right comes after left, so it wins between siblings...
    assert dv["left_vs_right"] == "right"
    assert dv["who"] == "right"
    # ...and root, reached again through right, is applied once, at its first position: it does
    # not come back over left's value.
    assert dv["left_vs_root"] == "left"


# (extra arguments, expected winner of AIAssistantDynamicVariables.who)
PRECEDENCE = [
    ((), "top"),
    (("-f", "v1.yaml"), "v1"),
    (("-f", "v1.yaml", "-f", "v2.yaml"), "v2"),
    (("-f", "v2.yaml", "-f", "v1.yaml"), "v1"),
    (("--set", "AIAssistantDynamicVariables.who=set", "-f", "v2.yaml"), "set"),
    (
        (
            "--set",
            "AIAssistantDynamicVariables.who=a",
            "--set-json",
            'AIAssistantDynamicVariables={"who": "b"}',
        ),
        "b",
    ),
    (
        (
            "--set-json",
            'AIAssistantDynamicVariables={"who": "b"}',
            "--set",
            "AIAssistantDynamicVariables.who=a",
        ),
        "a",
    ),
    (
        (
            "--set",
            "AIAssistantDynamicVariables.who=1",
            "--set-json",
            'AIAssistantDynamicVariables.who="2"',
            "--set",
            "AIAssistantDynamicVariables.who=3",
        ),
        "3",
    ),
    (
        (
            "--set-json",
            'AIAssistantDynamicVariables.who="1"',
            "--set",
            "AIAssistantDynamicVariables.who=2",
            "--set-json",
            'AIAssistantDynamicVariables.who="3"',
        ),
        "3",
    ),
    (
        (
            "--set=AIAssistantDynamicVariables.who=x",
            '--set-json=AIAssistantDynamicVariables.who="y"',
        ),
        "y",
    ),
]


@pytest.mark.parametrize(("args", "winner"), PRECEDENCE, ids=[" ".join(a) for a, _ in PRECEDENCE])
def test_layer_precedence(cli, layered, args, winner):
    assert _dv(cli, layered, "top", *args)["who"] == winner


def test_values_files_merge_rather_than_replace(cli, layered):
    dv = _dv(cli, layered, "top", "-f", "v1.yaml", "-f", "v2.yaml")
    assert dv == {
        "who": "v2",
        "v": "v1",
        "root_only": "root",
        "left_vs_root": "left",
        "left_vs_right": "right",
    }


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            (
                "--set-json",
                "AIAssistantDynamicVariables.who=null",
                "--set",
                "AIAssistantDynamicVariables.who=back",
            ),
            "back",
        ),
        (
            (
                "--set",
                "AIAssistantDynamicVariables.who=back",
                "--set-json",
                "AIAssistantDynamicVariables.who=null",
            ),
            None,
        ),
    ],
    ids=["null-then-set", "set-then-null"],
)
def test_interleaved_set_and_set_json_apply_in_command_line_order(cli, layered, args, expected):
    assert _dv(cli, layered, "top", *args).get("who") == expected


@pytest.mark.parametrize(
    ("args", "field", "expected"),
    [
        (("--set", "To=+13125550111", "--to", "+13125550199"), "To", "+13125550199"),
        (("--to", "+13125550199", "--set", "To=+13125550111"), "To", "+13125550199"),
        (("--from", "+13125550177", "--set", "From=+13125550111"), "From", "+13125550177"),
        (("--set", "From=+13125550111"), "From", "+13125550111"),
    ],
)
def test_to_and_from_flags_beat_set_wherever_they_stand(cli, layered, args, field, expected):
    assert rendered(cli, layered, "top", *args)["call"][field] == expected


def test_connection_id_precedence(cli, layered, tmp_path, monkeypatch):
    values = write_file(tmp_path / "c.yaml", 'connection_id: "from-values"\n')
    assert rendered(cli, layered, "top")["connection_id"] == "conn-1"
    assert rendered(cli, layered, "top", "-f", values)["connection_id"] == "from-values"
    out = rendered(cli, layered, "top", "--connection-id", "from-flag", "-f", values)
    assert out["connection_id"] == "from-flag"
    # TELNYX_CONNECTION_ID is only the fallback when no layer sets one.
    monkeypatch.setenv("TELNYX_CONNECTION_ID", "from-env")
    assert rendered(cli, layered, "top")["connection_id"] == "conn-1"


def test_connection_id_from_env_when_no_layer_sets_one(cli, tmp_path, monkeypatch):
    tree = make_profiles(tmp_path / "p", {"x": BASE.replace('connection_id: "conn-1"\n', "")})
    err = failed(cli, tree, "render", "x")
    assert "no connection id" in err and "[CP303]" in err
    monkeypatch.setenv("TELNYX_CONNECTION_ID", "env-conn")
    assert rendered(cli, tree, "x")["connection_id"] == "env-conn"


# ---- variables: default < --vars-file < --var -----------------------------------------------

VARS_PROFILE = (
    """\
variables:
  a: {default: default}
  b: {default: default}
  c: {default: default}
  d: {default: default}
"""
    + BASE
    + """\
  AIAssistantDynamicVariables:
    a: "{{ a }}"
    b: "{{ b }}"
    c: "{{ c }}"
    d: "{{ d }}"
"""
)


def test_variable_precedence(cli, tmp_path):
    tree = make_profiles(tmp_path / "profiles", {"v": VARS_PROFILE})
    write_file(tmp_path / "one.yaml", "b: one\nc: one\nd: one\n")
    write_file(tmp_path / "two.yaml", "c: two\nd: two\n")
    dv = rendered(
        cli,
        tree,
        "v",
        "--var",
        "d=flag-early",
        "--vars-file",
        "one.yaml",
        "--var",
        "d=flag-late",
        "--vars-file",
        "two.yaml",
    )["call"]["AIAssistantDynamicVariables"]
    assert dv == {"a": "default", "b": "one", "c": "two", "d": "flag-late"}


def test_vars_file_keeps_numbers_as_written(cli, tmp_path):
    tree = make_profiles(tmp_path / "profiles", {"v": VARS_PROFILE})
    write_file(tmp_path / "n.yaml", "a: 12.50\nb: 007\n")
    dv = rendered(cli, tree, "v", "--vars-file", "n.yaml")["call"]["AIAssistantDynamicVariables"]
    assert dv["a"] == "12.50"
    assert dv["b"] == "007"


def test_unknown_variable_on_the_command_line_is_an_error(cli, tmp_path):
    tree = make_profiles(tmp_path / "profiles", {"v": VARS_PROFILE})
    err = failed(cli, tree, "render", "v", "--var", "aa=1")
    assert "--var aa=...: error: the profile declares no variable 'aa'" in err
    assert "[CP206]" in err


def test_render_output_is_a_values_file(cli, tmp_path):
    """render's YAML output laid back over the profile changes nothing (documented promise)."""
    tree = make_profiles(tmp_path / "profiles", {"v": VARS_PROFILE})
    first = cli("render", "v", "--var", "a=x", profiles_dir=tree)
    assert first.exit_code == 0
    (tmp_path / "out.yaml").write_text(first.stdout, encoding="utf-8")
    again = rendered(cli, tree, "v", "-f", "out.yaml")
    assert again == json.loads(
        cli("render", "v", "--var", "a=x", "-o", "json", profiles_dir=tree).stdout
    )
