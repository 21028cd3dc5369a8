"""The request body's text (runner/send/prepared.py) is exactly what
``json.dumps(body, indent=2, ensure_ascii=False)`` writes, whatever the body holds: the encoder
that spares a batch json's pure-Python path is checked against json itself."""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from runner.send.prepared import encode_body

leaves = st.none() | st.booleans() | st.integers() | st.text() | st.floats(allow_nan=True)
values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def reference(body: Any) -> bytes:
    return (json.dumps(body, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(), values, max_size=6))
def test_any_body_is_encoded_as_json_dumps_encodes_it(body):
    assert encode_body(body) == reference(body)


def test_awkward_values_fall_back_to_json_and_still_match():
    class Number(int):
        pass

    body = {
        "tuple": (1, 2),
        "subclass": Number(3),
        "ordered": OrderedDict(a=1),
        "nested": {1: "int key", None: "none key", 2.5: "float key"},
        "float": 1e300,
        "separators": '\u2028\u2029\x00"\\/',
        "surrogate-free": "caf\u00e9 \U0001f600",
        "empty": [{}, [], ""],
    }
    assert encode_body(body) == reference(body)
