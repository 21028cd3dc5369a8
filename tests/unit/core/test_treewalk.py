"""The one tree walker (runner/treewalk.py) and the walks built on it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from runner.profiles.merge import strip_nulls
from runner.treewalk import DESCEND, DROP, leaves, rebuild

TREE = {"a": {"b": 1, "c": [2, {"d": None}], "e": {}}, "f": []}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner),
    max_leaves=12,
)


def test_leaves_enter_mappings_and_lists_in_order():
    assert list(leaves(TREE)) == [
        (("a", "b"), 1),
        (("a", "c", 0), 2),
        (("a", "c", 1, "d"), None),
        (("a", "e"), {}),
        (("f",), []),
    ]


def test_leaves_can_treat_a_list_as_one_value():
    assert list(leaves(TREE, ("call",), lists=False)) == [
        (("call", "a", "b"), 1),
        (("call", "a", "c"), [2, {"d": None}]),
        (("call", "a", "e"), {}),
        (("call", "f"), []),
    ]


def test_rebuild_replaces_drops_and_never_changes_its_input():
    before = repr(TREE)

    def visit(path, value):
        if path == ("a", "b"):
            return "***"
        if path[-1:] == (0,):
            return DROP
        return DESCEND

    assert rebuild(TREE, visit) == {"a": {"b": "***", "c": [{"d": None}], "e": {}}, "f": []}
    assert repr(TREE) == before


@given(json_values)
def test_rebuild_that_keeps_everything_is_an_equal_copy(value):
    assert rebuild(value, lambda path, node: DESCEND) == value


@given(json_values)
def test_strip_nulls_drops_only_null_mapping_values(value):
    stripped = strip_nulls(value)
    for path, leaf in leaves(stripped):
        if leaf is None:
            assert path == () or isinstance(path[-1], int)
    assert strip_nulls(stripped) == stripped
