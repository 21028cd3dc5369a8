"""Estimates of what a template operation would build, checked before it runs.

Most operations build a value no larger than a small multiple of their inputs, and the budget
(runner/templates/budget.py) measures it once built. These cannot wait that long: their result
can be far larger than their inputs (``'x' * n``, ``join``, ``format`` repeating a field, padding
widths, ``expandtabs``, ``translate``, ``tojson`` indents, ``groupby`` defaults, ``sum`` of
lists), so each is estimated from its arguments and refused before anything is built.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from runner.templates.budget import (
    MAX_INT_DIGITS,
    MAX_VALUE,
    BudgetExceeded,
    expect,
    int_digits,
    measure,
    shape,
    spend,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any


def _refuse_number(what: str = "a number larger than") -> BudgetExceeded:
    error = BudgetExceeded("size", MAX_VALUE)
    error.args = (f"{what} {MAX_VALUE} as an argument is refused",)
    return error


def check_ints(values: Iterable[Any]) -> None:
    """Refuse integer arguments past the cap: widths, counts and sizes (``ljust(10**9)``)."""
    for value in values:
        if isinstance(value, (tuple, list)):
            check_ints(value)
        elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_VALUE:
            raise _refuse_number()


# Widths and precisions: "%-99999999.5s" and "{0:>99999999}" ("{:{w}}" gets w from the
# arguments, which are checked as integers).
# Pattern strings: `re` compiles and caches each on first use, so importing costs nothing.
_PERCENT_SPEC = r"%[-+ #0]*([0-9]*)(?:\.([0-9]*))?"
_BRACE_SPEC = r"\{[^{}]*?:([^{}]*)\}"
_DIGITS = r"[0-9]+"
_NESTED_SPEC = r"\{[^{}]*:[^{}]*\{"


def format_widths(text: str) -> int:
    """The largest width or precision written in a format string; refuses ones past the cap."""
    numbers = [n for m in re.finditer(_PERCENT_SPEC, text) for n in m.groups() if n]
    numbers += [n for m in re.finditer(_BRACE_SPEC, text) for n in re.findall(_DIGITS, m.group(1))]
    if any(len(n) > 6 or int(n) > MAX_VALUE for n in numbers):
        error = BudgetExceeded("size", MAX_VALUE)
        error.args = (f"a format width larger than {MAX_VALUE} is refused",)
        raise error
    return max((int(n) for n in numbers), default=0)


def _widths_from_arguments(text: Any) -> bool:
    """True when a format string takes a width or precision from its arguments: ``%*s``,
    ``{:{w}}``."""
    return isinstance(text, str) and ("*" in text or re.search(_NESTED_SPEC, text) is not None)


def _largest(values: Iterable[Any]) -> int:
    return max((measure(v) for v in values), default=0)


def format_estimate(text: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """``text.format(...)``, ``text % args``, ``|format``: every field can repeat the largest
    argument (``'{0}{0}{0}...'``), at its width, and ``!r`` can quadruple it."""
    if not isinstance(text, str):
        return
    widest = format_widths(text)
    values: list[Any] = [*args, *kwargs.values()]
    for value in list(values):
        if isinstance(value, dict):
            values.extend(value.values())
        elif isinstance(value, (tuple, list)):
            values.extend(value)
    if _widths_from_arguments(text):
        check_ints(values)
        widest = max([widest, *(abs(v) for v in values if is_int(v))])
    fields = text.count("{") + text.count("%")
    expect(len(text) + fields * (4 * _largest(values) + widest))


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def text_size(value: Any) -> int:
    return len(value) if isinstance(value, (str, bytes, bytearray)) else measure(value)


def _replace_estimate(text: Any, old: Any, new: Any, count: Any = None) -> None:
    if not (isinstance(text, (str, bytes)) and type(old) is type(text)):
        return
    if not isinstance(new, (str, bytes)):
        return
    found: Any = text  # str or bytes, with ``old`` of the same type (checked above)
    hits = found.count(old) if old else len(text) + 1
    if is_int(count) and count >= 0:
        hits = min(hits, count)
    expect(len(text) + hits * max(len(new) - len(old), 0))


def _join_estimate(separator: Any, items: Iterable[Any]) -> list[Any]:
    """Materialise and measure what a join would join; returns the items as a list."""
    listed = []
    total = 0
    for item in items:
        listed.append(item)
        total += text_size(item) + (len(separator) if isinstance(separator, (str, bytes)) else 0)
        if total > MAX_VALUE:
            expect(total)
        spend(1)
    expect(total)
    return listed


# --- str and bytes methods: the ones whose result can be much larger than their inputs --------


def method_estimate(owner: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Check a method call on a str/bytes before it runs; returns the (possibly materialised)
    arguments to call it with."""
    size = len(owner)
    if name in ("format", "format_map"):
        mapping = args[0] if name == "format_map" and args else {}
        format_estimate(owner, args if name == "format" else (), {**kwargs, **dict(mapping)})
        return args
    check_ints([*args, *kwargs.values()])
    if name in ("center", "ljust", "rjust", "zfill"):
        width = args[0] if args else kwargs.get("width", 0)
        expect(max(size, width if is_int(width) else 0))
    elif name == "expandtabs":
        tabsize = args[0] if args else kwargs.get("tabsize", 8)
        tabs = owner.count("\t" if isinstance(owner, str) else b"\t")
        expect(size + tabs * max(tabsize if is_int(tabsize) else 8, 0))
    elif name == "replace":
        _replace_estimate(owner, *args[:3])
    elif name == "join" and args:
        return (_join_estimate(owner, args[0]), *args[1:])
    elif name == "translate" and args and isinstance(args[0], dict):
        longest = max((text_size(v) for v in args[0].values() if v is not None), default=1)
        expect(size * max(longest, 1))
    return args


# --- filters -----------------------------------------------------------------------------------


def filter_estimate(name: str, values: list[Any], kwargs: dict[str, Any]) -> list[Any]:
    """Check a filter call before it runs; returns the (possibly materialised) positional
    values. ``values[0]`` is what the filter is applied to."""
    if not values:
        return values
    subject = values[0]
    rest = values[1:]
    if name in ("center", "indent", "wordwrap", "truncate", "batch", "slice"):
        check_ints([*rest, *kwargs.values()])
    if name == "center":
        width = rest[0] if rest else kwargs.get("width", 80)
        expect(max(text_size(subject), width if is_int(width) else 0))
    elif name == "indent":
        width = rest[0] if rest else kwargs.get("width", 4)
        lines = str(subject).count("\n") + 2
        per_line = len(width) if isinstance(width, str) else (width if is_int(width) else 4)
        expect(text_size(subject) + lines * max(per_line, 0))
    elif name == "wordwrap":
        width = rest[0] if rest else kwargs.get("width", 79)
        wrap = rest[2] if len(rest) > 2 else kwargs.get("wrapstring") or "\n"
        text = text_size(subject)
        breaks = text // max(width if is_int(width) else 1, 1) + str(subject).count("\n") + 1
        expect(text + breaks * (len(wrap) if isinstance(wrap, str) else 1))
    elif name == "replace" and len(values) >= 3:
        # The filter works on text: it turns the subject, old and new into strings first.
        count = rest[2] if len(rest) > 2 else kwargs.get("count")
        _replace_estimate(str(subject), str(rest[0]), str(rest[1]), count)
    elif name == "join":
        separator = rest[0] if rest else kwargs.get("d", "")
        values = [_join_estimate(separator, subject), *rest]
    elif name == "format":
        format_estimate(subject, tuple(rest), kwargs)
    elif name in ("tojson", "pprint"):
        indent = rest[0] if rest else kwargs.get("indent")
        check_ints([indent])
        size, nodes, depth = shape(subject)
        step: int = indent if isinstance(indent, int) else (1 if name == "pprint" else 0)
        expect(6 * size + nodes * depth * max(step, 0))
    elif name == "urlize":
        extra = sum(text_size(kwargs.get(k) or "") for k in ("target", "rel"))
        extra += sum(text_size(v) for v in rest if isinstance(v, str))
        text = text_size(subject)
        expect(4 * text + (text // 2 + 1) * extra)
    elif name in ("batch", "slice"):
        count = rest[0] if rest else 1
        fill = rest[1] if len(rest) > 1 else kwargs.get("fill_with")
        expect(measure(subject) + (count if is_int(count) else 1) * measure(fill))
    elif name == "sum":
        start = rest[1] if len(rest) > 1 else kwargs.get("start", 0)
        if not isinstance(start, (int, float)):
            # Summing sequences copies the growing result once per item: quadratic.
            items = list(subject)
            total = measure(start) + sum(measure(i) for i in items)
            expect(total)
            spend(total * len(items))
            values = [items, *rest]
    elif name in ("string", "list", "xmlattr", "escape", "e", "forceescape", "urlencode"):
        expect(measure(subject))
    if name in ("groupby", "map") and hasattr(subject, "__len__"):
        # Every item whose attribute is missing gets the default as its key, and groupby
        # lower-cases each key: one copy of the default per item.
        default = rest[1] if name == "groupby" and len(rest) > 1 else kwargs.get("default")
        if default is not None:
            expect(len(subject) * measure(default))
    return values


def binop_estimate(op: str, left: Any, right: Any) -> None:
    if op == "**":
        ints = is_int(left) and is_int(right)
        if ints and (abs(right) > 64 or left.bit_length() * abs(right) > 4096):
            error = BudgetExceeded("size", MAX_INT_DIGITS, "an integer")
            error.args = ("that power is too large for a template",)
            raise error
        return
    if op == "*":
        if is_int(left) and not is_int(right):
            left, right = right, left
        if is_int(right) and isinstance(left, (str, bytes, list, tuple)):
            expect(measure(left) * max(right, 0))
        elif is_int(left) and is_int(right):
            # A product has at most as many digits as its factors together.
            digits = int_digits(left) + int_digits(right) - 1
            if digits > MAX_INT_DIGITS:
                raise BudgetExceeded("size", MAX_INT_DIGITS, "an integer")
        return
    if op == "+" and isinstance(left, (str, bytes, list, tuple)):
        expect(measure(left) + measure(right))
    elif op == "%" and isinstance(left, str):
        args = right if isinstance(right, tuple) else (right,)
        format_estimate(left, args, right if isinstance(right, dict) else {})
